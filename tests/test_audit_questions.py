"""The auditor's questions (issue #14): who accessed this file, what did this person do,
what left the organisation, what was refused; each answered in words, in the site's
time zone, with an export whose rows are the page's rows.

People: Alice Martin (a cardiologist whose echo is read), Tom Teammate (a colleague who
left), dr.radio@clinique.example (outside, by link), Audrey (the auditor), Sam (a site
administrator without the auditor role), Oscar (an outsider with an account).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit import services as audit
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from files import services
from files.models import File
from sharing.services.links import share_link_create
from tests.files_helpers import Backend, content_of, root_of, version_store
from tests.helpers import client_signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rate_limit_cache")]

# A winter morning: Paris is UTC+1 (CET).
MORNING = dt.datetime(2026, 1, 15, 8, 30, tzinfo=dt.UTC)
RECIPIENT = "dr.radio@clinique.example"


@pytest.fixture(autouse=True)
def audit_folders(settings: Any, tmp_path: Path) -> None:
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.AUDIT_SIGNING_KEY_FILE = tmp_path / "secrets" / "audit_signing_key.pem"
    settings.AUDIT_CHECKPOINT_S3_BUCKET = ""


def echo_in_cardiology(owner: User) -> File:
    cardiology = services.folder_create(actor=owner, parent=root_of(owner), name="Cardiologie")
    version = version_store(
        actor=owner, folder=cardiology, name="Echo Dupont.pdf", content=content_of(5000)
    )
    return version.file


def downloads_of_the_echo(owner: User, echo: File) -> None:
    """Alice downloads her echo; she sends it by link to a radiologist, who downloads it."""
    client_signed_in(owner).get(reverse("files:download", args=[echo.pk])).getvalue()
    _link, token = share_link_create(
        actor=owner, target=echo, recipient_email=RECIPIENT, label="Echo pour avis"
    )
    recipient = Client(HTTP_USER_AGENT="Mozilla/5.0 (Windows NT 10.0) Firefox/140.0")
    recipient.get(reverse("share_link:open", args=[token]))
    recipient.get(reverse("share_link:file", args=[token, echo.pk])).getvalue()


def page_sequences(response: Any) -> list[int]:
    return [int(value) for value in re.findall(r'data-sequence="(\d+)"', response.content.decode())]


def exported_sequences(client: Client, response: Any) -> list[int]:
    export = client.get(f"/audit/export.csv?{response.context['export_query']}")
    rows = csv.DictReader(io.StringIO(export.getvalue().decode("utf-8-sig")))
    return [int(row["sequence"]) for row in rows]


# --- Who accessed this file? ---------------------------------------------------------------


def test_auditor_types_part_of_a_name_and_sees_every_download_in_words(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    with time_machine.travel(MORNING, tick=False):
        echo = echo_in_cardiology(owner)
        downloads_of_the_echo(owner, echo)
    client = client_signed_in(auditor)

    found = client.get("/audit/file/", {"q": "dupont"})
    page = found.content.decode()
    assert "Echo Dupont.pdf" in page
    assert "Files of Alice Martin / Cardiologie" in page
    assert f"item=file:{echo.pk}" in page.replace("%3A", ":")

    history = client.get("/audit/file/", {"item": f"file:{echo.pk}", "q": "dupont"})
    assert history.status_code == 200
    page = history.content.decode()
    assert "Alice Martin" in page
    assert owner.email in page
    assert RECIPIENT in page
    assert "by link “Echo pour avis”" in page
    assert "link:" not in page  # never the log's label for an outside person
    assert "2026-01-15 09:30:00 CET" in page  # 08:30 UTC in Paris, with the zone
    assert "When (Europe/Paris)" in page
    assert "Firefox on Windows" in page
    assert "5.0\u00a0kB" in page  # decimal units, as every size on the site (core/sizes.py)
    assert "complete" in page
    actions = {row.event.action for row in history.context["rows"]}
    assert Action.AUDIT_CONSOLE_VIEW not in actions
    # One row per download (its end, with the bytes really sent, is on that row): Alice's
    # and the radiologist's, not the link's end event as a second row.
    downloads = [row for row in history.context["rows"] if row.event.action.endswith("download")]
    assert [(row.who, row.bytes_sent, row.completed) for row in downloads] == [
        (RECIPIENT, 5000, True),
        ("Alice Martin", 5000, True),
    ]
    assert AuditEvent.objects.filter(action=Action.SHARING_LINK_DOWNLOAD).count() == 1
    assert AuditEvent.objects.filter(action=Action.FILES_VERSION_SENT).count() == 1

    shown = page_sequences(history)
    assert shown == sorted(shown, reverse=True)
    assert exported_sequences(client, history) == sorted(shown)


def test_the_auditor_finds_a_file_without_its_accents_or_capitals(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    """Typed as an auditor types: "echo" for "Échographie", "cardio/echo" for its path."""
    cardiology = services.folder_create(actor=owner, parent=root_of(owner), name="Cardiologie")
    version_store(
        actor=owner, folder=cardiology, name="Échographie Dupont.pdf", content=content_of(100)
    )
    client = client_signed_in(auditor)

    for typed in ("echo", "ECHOGRAPHIE", "cardio/echo"):
        page = client.get("/audit/file/", {"q": typed}).content.decode()
        assert "Échographie Dupont.pdf" in page, typed
    assert "Échographie" not in client.get("/audit/file/", {"q": "radio/echo"}).content.decode()


def test_the_french_page_speaks_french_without_codes(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    echo = echo_in_cardiology(owner)
    downloads_of_the_echo(owner, echo)
    page = (
        client_signed_in(auditor)
        .get("/audit/file/", {"item": f"file:{echo.pk}"}, HTTP_ACCEPT_LANGUAGE="fr")
        .content.decode()
    )
    assert "a téléchargé" in page
    assert "par lien «\u00a0Echo pour avis\u00a0»" in page
    assert "Fichiers de Alice Martin / Cardiologie" in page
    table = re.sub(r"<[^>]+>", " ", page[page.index('id="audit-rows"') :])  # what is read
    for code in (Action.FILES_VERSION_DOWNLOAD, Action.SHARING_LINK_DOWNLOAD, "link:"):
        assert code not in table
    for english in ("downloaded", "by link", "complete", "When (", "Who", "success", "now:"):
        assert english not in table, english


def test_a_folder_question_covers_everything_under_it_even_in_the_trash(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    echo = echo_in_cardiology(owner)
    downloads_of_the_echo(owner, echo)
    services.file_delete(actor=owner, file=echo)
    client = client_signed_in(auditor)
    found = client.get("/audit/file/", {"q": "cardio/echo"}).content.decode()
    assert "Echo Dupont.pdf" in found
    assert "in the trash" in found
    folder = echo.folder
    history = client.get("/audit/file/", {"item": f"folder:{folder.pk}"})
    actions = [row.event.action for row in history.context["rows"]]
    assert Action.FILES_FILE_DELETE in actions
    assert RECIPIENT in [row.who for row in history.context["rows"]]  # the link's download
    assert Action.FILES_FOLDER_CREATE in actions
    assert exported_sequences(client, history) == sorted(page_sequences(history))


def test_who_can_access_a_file_right_now_and_why(
    auditor: User, owner: User, teammate: User, folder_backend: Backend
) -> None:
    from sharing.services.links import share_link_revoke
    from sharing.services.shares import share_create

    echo = echo_in_cardiology(owner)
    share_create(actor=owner, item=echo.folder, recipient=teammate, role="viewer")
    share_link_create(actor=owner, target=echo, recipient_email=RECIPIENT, label="Echo pour avis")
    revoked, _token = share_link_create(
        actor=owner, target=echo, recipient_email="dr.former@clinique.example"
    )
    share_link_revoke(actor=owner, link=revoked)
    client = client_signed_in(auditor)
    history = client.get("/audit/file/", {"item": f"file:{echo.pk}"}).content.decode()
    assert 'id="audit-access-now"' in history
    response = client.get("/audit/file/access/", {"item": f"file:{echo.pk}"})
    page = response.content.decode()
    assert "owner of the space" in page
    assert owner.email in page
    assert "Tom Teammate" in page
    assert "shared as viewer on “Cardiologie”" in page
    assert RECIPIENT in page
    assert "live link “Echo pour avis”" in page
    assert "dr.former@clinique.example" not in page
    assert client.get("/audit/file/access/", {"item": "file:x"}).status_code == 400
    assert client.get("/audit/file/access/", {"item": "file:999999"}).status_code == 404
    viewed = AuditEvent.objects.filter(action=Action.AUDIT_CONSOLE_VIEW)
    assert viewed.filter(details__page="question_access").count() == 3


def test_an_unknown_item_is_a_404_not_a_500(auditor: User) -> None:
    client = client_signed_in(auditor)
    assert client.get("/audit/file/", {"item": "file:999999"}).status_code == 404
    assert client.get("/audit/file/", {"item": "file:'; DROP"}).status_code == 400


# --- What did this person do? --------------------------------------------------------------


def test_a_person_is_found_by_name_and_their_days_read_even_after_they_left(
    auditor: User, owner: User, teammate: User
) -> None:
    with time_machine.travel(MORNING, tick=False):
        audit.record(action=Action.ACCOUNTS_LOGIN, actor=teammate)
    teammate.is_active = False
    teammate.save(update_fields=["is_active"])
    with time_machine.travel(MORNING + dt.timedelta(days=3), tick=False):
        audit.record(
            action=Action.ACCOUNTS_LOGIN,
            outcome=Outcome.DENIED,
            actor_label=teammate.email,
            details={"reason": "invalid credentials"},
        )
    audit.record(action=Action.ACCOUNTS_LOGIN, actor=owner)
    client = client_signed_in(auditor)

    found = client.get("/audit/person/", {"q": "tom"}).content.decode()
    assert "Tom Teammate" in found
    assert "account closed" in found

    days = client.get(
        "/audit/person/",
        {"actor": teammate.email, "since": "2026-01-15T00:00", "until": "2026-01-31T00:00"},
    )
    page = days.content.decode()
    assert "Tom Teammate" in page
    assert "signed in" in page
    assert "wrong e-mail address or password" in page  # after they left
    assert len(days.context["rows"]) == 2
    assert exported_sequences(client, days) == sorted(page_sequences(days))


def test_the_auditors_own_browsing_is_hidden_unless_asked_for(auditor: User) -> None:
    client = client_signed_in(auditor)
    client.get("/audit/")
    client.get("/audit/integrity/")
    quiet = client.get("/audit/person/", {"actor": auditor.email}).context["rows"]
    assert Action.AUDIT_CONSOLE_VIEW not in {row.event.action for row in quiet}
    shown = client.get("/audit/person/", {"actor": auditor.email, "console": "on"})
    assert Action.AUDIT_CONSOLE_VIEW in {row.event.action for row in shown.context["rows"]}
    assert "read the audit log" in shown.content.decode()


def test_an_outside_recipient_is_asked_about_by_address(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    echo = echo_in_cardiology(owner)
    downloads_of_the_echo(owner, echo)
    client = client_signed_in(auditor)
    found = client.get("/audit/person/", {"q": RECIPIENT}).content.decode()
    assert 'id="audit-address"' in found
    days = client.get("/audit/person/", {"actor": RECIPIENT})
    rows = days.context["rows"]
    assert rows
    assert {row.who for row in rows} == {RECIPIENT}
    assert all(row.outside for row in rows)
    assert exported_sequences(client, days) == sorted(page_sequences(days))


# --- What left the organisation? ----------------------------------------------------------


def test_what_left_lists_every_outside_recipient_and_whether_they_opened_it(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    echo = echo_in_cardiology(owner)
    downloads_of_the_echo(owner, echo)
    share_link_create(actor=owner, target=echo, recipient_email="dr.never@clinique.example")
    client = client_signed_in(auditor)
    response = client.get("/audit/outside/")
    assert response.status_code == 200
    page = response.content.decode()
    rows = page[page.index('id="audit-rows"') :]
    assert rows.index("dr.never@clinique.example") < rows.index(RECIPIENT)  # newest first
    assert "not opened" in rows
    assert "yes, first on" in rows
    assert "1 download" in rows
    assert rows.count("Echo Dupont.pdf") == 2
    assert rows.count(owner.email) == 2
    assert exported_sequences(client, response) == sorted(page_sequences(response))


# --- Failed and refused attempts ----------------------------------------------------------


def test_failures_show_refusals_in_words(auditor: User, owner: User) -> None:
    audit.record(
        action=Action.SHARING_LINK_ACCESS,
        outcome=Outcome.DENIED,
        actor_label="link:4",
        details={"outcome": "wrong password", "recipient": RECIPIENT},
    )
    audit.record(
        action=Action.FILES_VERSION_DOWNLOAD,
        outcome=Outcome.DENIED,
        actor=owner,
        details={"reason": "quarantined", "name": "virus.exe"},
    )
    audit.record(action=Action.ACCOUNTS_LOGIN, actor=owner)
    client = client_signed_in(auditor)
    response = client.get("/audit/failures/")
    page = response.content.decode()
    assert "wrong password" in page
    assert RECIPIENT in page
    assert "quarantined by the virus scanner" in page
    assert len(response.context["rows"]) == 2
    assert exported_sequences(client, response) == sorted(page_sequences(response))


# --- Who may ask ---------------------------------------------------------------------------

QUESTION_PATHS = [
    "/audit/",
    "/audit/file/access/?item=file:1",
    "/audit/file/?q=echo",
    "/audit/person/?q=tom",
    "/audit/outside/",
    "/audit/failures/",
]


@pytest.mark.parametrize("path", QUESTION_PATHS)
def test_only_auditors_ask_questions(site_admin: User, outsider: User, path: str) -> None:
    assert client_signed_in(site_admin).get(path).status_code == 403
    assert client_signed_in(outsider).get(path).status_code == 403
    refusals = AuditEvent.objects.filter(action=Action.AUDIT_CONSOLE_ACCESS, outcome="denied")
    assert refusals.count() == 2


@pytest.mark.parametrize("path", QUESTION_PATHS)
def test_question_pages_have_headings_labels_and_captions(auditor: User, path: str) -> None:
    page = client_signed_in(auditor).get(path).content.decode()
    assert page.count("<h1") == 1
    for field_id in re.findall(
        r'<input[^>]+type="(?:search|datetime-local)"[^>]+id="([^"]+)"', page
    ):
        assert f'for="{field_id}"' in page
    for table in re.findall(r"<table.*?</table>", page, flags=re.S):
        assert "<caption" in table
        assert '<th scope="col">' in table


def test_a_questions_dates_are_folded_naming_the_period_and_unfold_when_refused(
    auditor: User,
) -> None:
    """On a phone the dates of a question took 290 px above its answer: they are folded,
    their summary saying which period is asked about; a refused date unfolds them."""
    client = client_signed_in(auditor)
    folded = client.get("/audit/failures/").content.decode()
    [details] = re.findall(r"<details [^>]*id=\"audit-dates\"[^>]*>", folded)
    assert " open" not in details
    assert 'id="audit-dates-active">Any date.</span>' in folded
    asked = client.get("/audit/outside/", {"since": "2026-12-01T08:30", "console": "on"})
    summary = asked.content.decode().split('id="audit-dates-active">', 1)[1].split("</span>")[0]
    assert summary == "From: 1 December 2026, 08:30 · Show the auditors&#x27; own browsing"
    refused = client.get("/audit/failures/", {"since": "yesterday-ish"})
    assert refused.status_code == 400
    [details] = re.findall(r"<details [^>]*id=\"audit-dates\"[^>]*>", refused.content.decode())
    assert " open" in details


def test_a_download_of_a_copy_is_in_the_originals_history_naming_it(
    auditor: User, owner: User, outsider: User, folder_backend: Backend
) -> None:
    """Alice copies her echo into "Staff meeting" and downloads the copy: the auditor
    asking about the original echo sees that download, which says it was a copy of it."""
    echo = echo_in_cardiology(owner)
    meeting = services.folder_create(actor=owner, parent=root_of(owner), name="Staff meeting")
    copy = services.file_copy(actor=owner, file=echo, destination=meeting)
    alice = client_signed_in(owner)
    assert alice.get(reverse("files:download", args=[copy.pk])).getvalue()
    # Another file with no lineage to the echo stays out of its history.
    other = version_store(actor=owner, folder=meeting, name="Agenda.pdf", content=b"%PDF")
    alice.get(reverse("files:download", args=[other.file_id])).getvalue()

    history = client_signed_in(auditor).get("/audit/file/", {"item": f"file:{echo.pk}"})
    downloads = [row for row in history.context["rows"] if row.event.action.endswith("download")]
    assert [(row.who, row.what, row.original, row.bytes_sent) for row in downloads] == [
        ("Alice Martin", "Echo Dupont.pdf", "/Cardiologie/Echo Dupont.pdf", 5000)
    ]
    assert downloads[0].path_then == "/Staff meeting/Echo Dupont.pdf"
    assert "a copy of /Cardiologie/Echo Dupont.pdf" in history.content.decode()


def test_a_file_sent_inside_a_folder_link_shows_that_link_in_its_history(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    """Alice sends the whole "Cardiologie" folder by link; the radiologist opens it and
    downloads the echo in it. Asked "who got this echo?", the auditor sees the
    link that gave it (made on the folder above it: who made it, for whom) and the
    download through it, as for a link made on the file itself."""
    echo = echo_in_cardiology(owner)
    cardiology = echo.folder
    assert cardiology is not None
    link, token = share_link_create(
        actor=owner, target=cardiology, recipient_email=RECIPIENT, label="Dossier cardio"
    )
    recipient = Client(HTTP_USER_AGENT="Mozilla/5.0 (Windows NT 10.0) Firefox/140.0")
    recipient.get(reverse("share_link:open", args=[token]))
    recipient.get(reverse("share_link:file", args=[token, echo.pk])).getvalue()

    history = client_signed_in(auditor).get("/audit/file/", {"item": f"file:{echo.pk}"})
    rows = history.context["rows"]
    link_events = {row.event.action for row in rows if row.event.target_type == "sharing.link"}
    assert {Action.SHARING_LINK_CREATE, Action.SHARING_LINK_ACCESS} <= link_events
    assert all(
        row.event.target_id == str(link.pk)
        for row in rows
        if row.event.target_type == "sharing.link"
    )
    downloads = [row for row in rows if row.event.action.endswith("download")]
    assert [row.who for row in downloads] == [RECIPIENT]
    page = history.content.decode()
    assert "Dossier cardio" in page
