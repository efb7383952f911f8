"""A hospital auditor's second review, and an outside reviewer's of the trail: the
questions "who accessed patient Dupont's folder", "everything about this file, its links
included" and "what is this one event" answered in words, whatever happened to the file
since (moved out of the folder, renamed), and a part of a file never read as the whole.

People: Alice Martin (cardiologist, owner), Tom (teammate), Audrey (auditor), Sam (site
administrator), Dr Radio outside.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from django.http import StreamingHttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.models import User
from accounts.offboarding import user_deactivate
from audit.actions import Action
from audit.models import AuditEvent
from files import services
from files.models import File, Folder
from files.thumbnails import version_thumbnail_make
from sharing.services.links import share_link_create, share_link_revoke
from sharing.views.selection import selection_download
from tests.files_helpers import Backend, body_of, content_of, root_of, version_store
from tests.helpers import client_signed_in
from tests.media_samples import jpeg_bytes
from tests.test_sharing_archives import response_close

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rate_limit_cache")]

RECIPIENT = "dr.radio@clinique.example"


@pytest.fixture(autouse=True)
def audit_folders(settings: Any, tmp_path: Path) -> None:
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.AUDIT_SIGNING_KEY_FILE = tmp_path / "secrets" / "audit_signing_key.pem"
    settings.AUDIT_CHECKPOINT_S3_BUCKET = ""


def patient_folder(owner: User) -> tuple[Folder, File]:
    dupont = services.folder_create(actor=owner, parent=root_of(owner), name="Patient Dupont")
    echo = version_store(
        actor=owner, folder=dupont, name="Échographie.pdf", content=content_of(5000)
    ).file
    return dupont, echo


def question(auditor: User, item: str) -> tuple[str, list[Any]]:
    response = client_signed_in(auditor).get("/audit/file/", {"item": item})
    assert response.status_code == 200
    return text_of(response), response.context["rows"]


def text_of(response: Any) -> str:
    """The page as read on screen: tags out, blanks folded."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


# --- "Who accessed patient Dupont's folder?" after a file left it ----------------------


def test_a_file_moved_out_of_the_patients_folder_keeps_its_accesses_in_the_folders_history(
    auditor: User, owner: User, teammate: User, folder_backend: Backend
) -> None:
    """Tom downloads the echo from Mr Dupont's folder; then the echo (and a subfolder of
    the folder) is moved elsewhere. Asked about the folder, the auditor must still see
    Tom's download: before, the folder's history only held what is in it today, so
    moving a file out hid every access made while it was there."""
    dupont, echo = patient_folder(owner)
    scans = services.folder_create(actor=owner, parent=dupont, name="Scanner")
    scan = version_store(actor=owner, folder=scans, name="scan.dcm", content=content_of(300)).file
    from sharing.services.shares import share_create

    share_create(actor=owner, item=dupont, recipient=teammate, role="viewer")
    tom = client_signed_in(teammate)
    body_of(tom.get(reverse("files:download", args=[echo.pk])))
    body_of(tom.get(reverse("files:download", args=[scan.pk])))
    elsewhere = services.folder_create(actor=owner, parent=root_of(owner), name="Divers")
    services.file_move(actor=owner, file=echo, destination=elsewhere)
    services.folder_move(actor=owner, folder=scans, destination=elsewhere)

    page, rows = question(auditor, f"folder:{dupont.pk}")
    downloads = [row for row in rows if row.event.action == Action.FILES_VERSION_DOWNLOAD]
    assert sorted((row.who, row.what, row.path_then) for row in downloads) == [
        ("Tom Teammate", "scan.dcm", "/Patient Dupont/Scanner/scan.dcm"),
        ("Tom Teammate", "Échographie.pdf", "/Patient Dupont/Échographie.pdf"),
    ]
    assert "moved a file" in page


# --- "Everything about this file": its links too ---------------------------------------


def test_a_files_history_shows_its_links_made_opened_and_withdrawn(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    """The auditor asks about the echo: she must read that Alice made a link for Dr Radio,
    that he opened it (from where) and that it was withdrawn, not only his download.
    Before, the link's own events (made, opened, withdrawn) targeted the link and the
    file's history left them out; the same for a link to the patient's folder."""
    dupont, echo = patient_folder(owner)
    link, token = share_link_create(actor=owner, target=echo, recipient_email=RECIPIENT)
    _folder_link, folder_token = share_link_create(
        actor=owner, target=dupont, recipient_email="secretariat@clinique.example"
    )
    Client(REMOTE_ADDR="198.51.100.9").get(reverse("share_link:open", args=[token]))
    Client(REMOTE_ADDR="198.51.100.10").get(reverse("share_link:open", args=[folder_token]))
    share_link_revoke(actor=owner, link=link)

    _page, rows = question(auditor, f"file:{echo.pk}")
    seen = {(row.event.action, row.who, row.ip_address) for row in rows}
    assert (Action.SHARING_LINK_CREATE, "Alice Martin", "") in seen
    assert (Action.SHARING_LINK_ACCESS, RECIPIENT, "198.51.100.9") in seen
    assert (Action.SHARING_LINK_REVOKE, "Alice Martin", "") in seen
    opens = {row.who: row for row in rows if row.event.action == Action.SHARING_LINK_ACCESS}
    assert opens[RECIPIENT].what == "Échographie.pdf"  # which file the link opens, in words
    # The link on the patient's folder gave the echo too: it is in the echo's story.
    assert opens["secretariat@clinique.example"].what == "Patient Dupont"

    _page, rows = question(auditor, f"folder:{dupont.pk}")
    opened_by = {row.who for row in rows if row.event.action == Action.SHARING_LINK_ACCESS}
    assert opened_by == {RECIPIENT, "secretariat@clinique.example"}


# --- One event, in words ---------------------------------------------------------------


def test_one_event_reads_in_words_not_codes(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    """The auditor clicks the time of Dr Radio's download to see that one event: it must
    say who (his address, by which link), which file and version, where it was, what
    was sent. Before, the page showed "link:1", "sharing.link 1" and the raw details."""
    _dupont, echo = patient_folder(owner)
    link, token = share_link_create(
        actor=owner, target=echo, recipient_email=RECIPIENT, label="Écho pour Dr Radio"
    )
    recipient = Client(REMOTE_ADDR="198.51.100.9")
    recipient.get(reverse("share_link:open", args=[token]))
    body_of(recipient.get(f"/s/{token}/files/{echo.pk}/"))
    event = AuditEvent.objects.filter(action=Action.SHARING_LINK_DOWNLOAD).get()
    client = client_signed_in(auditor)

    page = text_of(client.get(f"/audit/events/{event.sequence}/"))
    # In words first; the stored codes stay below, in "As recorded" (what the hash covers).
    page = page.split("As recorded")[0]
    assert RECIPIENT in page
    assert "by link “Écho pour Dr Radio”" in page
    assert "Échographie.pdf" in page
    assert "version 1" in page
    assert "/Patient Dupont/Échographie.pdf" in page
    assert "complete" in page
    assert f"link:{link.pk}" not in page
    assert f"sharing.link {link.pk}" not in page

    assert echo.current_version_id is not None
    history = text_of(client.get(f"/audit/target/files.version/{echo.current_version_id}/"))
    heading = history.split("Questions")[0]
    assert "Échographie.pdf" in heading
    assert str(echo.current_version_id) not in heading

    actor = text_of(client.get(f"/audit/actor/{owner.pk}/"))
    assert "Alice Martin" in actor.split("Questions")[0]


# --- A part is not the whole -----------------------------------------------------------


def test_a_part_of_a_file_does_not_read_as_the_whole_download(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    """A client asks for bytes 100-199 of the 5,000-byte echo (a resumed download, a
    viewer's seek). The row must say it was a part: before, it read "downloaded
    Échographie.pdf, 100 bytes, complete" like a whole file."""
    _dupont, echo = patient_folder(owner)
    body_of(
        client_signed_in(owner).get(
            reverse("files:download", args=[echo.pk]), HTTP_RANGE="bytes=100-199"
        )
    )
    page, rows = question(auditor, f"file:{echo.pk}")
    downloaded = next(row for row in rows if row.event.action == Action.FILES_VERSION_DOWNLOAD)
    assert downloaded.part == "bytes 100 to 199 of 5.0\u00a0kB"
    assert "bytes 100 to 199 of 5.0 kB" in page  # blanks folded (text_of)


# --- Done to someone: both named -------------------------------------------------------


def test_an_administrators_action_on_a_person_names_the_person(
    auditor: User, site_admin: User, teammate: User
) -> None:
    """Sam deactivates Tom and downloads his data: the rows must name Tom, not only Sam."""
    user_deactivate(actor=site_admin, user=teammate, successor=None)
    body_of(client_signed_in(site_admin).get(f"/privacy/people/{teammate.pk}/export.zip"))
    response = client_signed_in(auditor).get(
        "/audit/person/", {"actor": site_admin.email, "console": "on"}
    )
    rows = {row.event.action: row for row in response.context["rows"]}
    for action in (Action.ACCOUNTS_USER_DEACTIVATE, Action.PRIVACY_EXPORT):
        assert rows[action].who == "Sam Admin", action
        assert rows[action].what == f"Tom Teammate ({teammate.email})", action


# --- A refused preview says why ---------------------------------------------------------


def test_a_preview_that_cannot_be_shown_says_why(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    _dupont, echo = patient_folder(owner)
    response = client_signed_in(owner).get(f"/files/{echo.pk}/preview/image/")
    assert response.status_code == 422
    _page, rows = question(auditor, f"file:{echo.pk}")
    refused = next(row for row in rows if row.event.action == Action.FILES_VERSION_VIEW)
    assert refused.note == "this file cannot be shown as an image"


# --- A download cut short reads as cut in the explorer too --------------------------------


def test_the_explorer_says_a_download_was_cut_short(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    """Alice's ZIP of the patient's folder stops after the first bytes (her connection
    dropped). The explorer, a person's and an object's pages must say so: before, they
    showed "downloaded" and "success" with nothing about what was sent, and only the
    question pages said "interrupted"."""
    dupont, _echo = patient_folder(owner)
    request = RequestFactory(REMOTE_ADDR="10.1.2.3").post(
        reverse("sharing:selection_download"), {"folder": str(dupont.pk)}
    )
    request.user = owner
    archive = selection_download(request)
    assert isinstance(archive, StreamingHttpResponse)
    assert next(iter(archive))
    response_close(archive)
    client = client_signed_in(auditor)
    for path in (f"/audit/actor/{owner.pk}/", "/audit/explore/"):
        response = client.get(path)
        downloads = [
            row
            for row in response.context["rows"]
            if row.event.action == Action.FILES_VERSION_DOWNLOAD
        ]
        assert [row.completed for row in downloads] == [False], path
        page = text_of(response)
        assert "interrupted" in page, path


# --- A thumbnail shows the picture: who saw it is in the file's history --------------------


def test_who_saw_a_wounds_thumbnail_is_in_the_photos_history(
    auditor: User, owner: User, teammate: User, folder_backend: Backend
) -> None:
    """Tom lists the patient's folder, where the wound photo shows as a 320 px thumbnail:
    the picture reached his screen. Before, no event said so (the thumbnail's docstring
    claimed that opening the folder was audited; it is not): the photo's history read as
    if Tom never saw it. Shown again within the hour, it is not recorded again."""
    from sharing.services.shares import share_create

    dupont, _echo = patient_folder(owner)
    photo = version_store(
        actor=owner, folder=dupont, name="Plaie J3.jpg", content=jpeg_bytes(1200, 900)
    )
    assert version_thumbnail_make(version_id=photo.pk)
    share_create(actor=owner, item=dupont, recipient=teammate, role="viewer")
    tom = client_signed_in(teammate)
    for _listing in range(3):
        assert tom.get(reverse("files:thumbnail", args=[photo.file_id])).status_code == 200
    page, rows = question(auditor, f"file:{photo.file_id}")
    seen = [row for row in rows if row.event.action == Action.FILES_VERSION_VIEW]
    assert [(row.who, row.what, row.part) for row in seen] == [
        ("Tom Teammate", "Plaie J3.jpg", "a thumbnail")
    ]
    assert "a thumbnail" in page


# --- A transfer's story in the file's history, its size not read as sent -----------------


def test_a_transfer_sent_is_in_the_files_history_and_its_size_is_not_bytes_sent(
    auditor: User, owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    """Alice sends the echo by transfer: the file's history says she sent it, to whom,
    and that the recipient opened it; the transfer's size (recorded as ``bytes`` of the
    send) is not shown or exported as bytes sent, which would read as a download."""
    from django.core import mail

    from tests.test_sharing_transfers import new_transfer, send, token_in

    _dupont, echo = patient_folder(owner)
    alice = client_signed_in(owner)
    transfer = new_transfer(alice)
    alice.post(f"/sharing/transfers/{transfer.pk}/files/", {"file_ids": [str(echo.pk)]})
    with django_capture_on_commit_callbacks(execute=True):
        assert send(alice, transfer, RECIPIENT).status_code == 302
    Client(REMOTE_ADDR="198.51.100.9").get(f"/s/{token_in(mail.outbox[-1])}/")
    _page, rows = question(auditor, f"file:{echo.pk}")
    sent = [row for row in rows if row.event.action == Action.SHARING_TRANSFER_SEND]
    assert [(row.who, row.recipient, row.bytes_sent) for row in sent] == [
        ("Alice Martin", RECIPIENT, None)
    ]
    # "sent a transfer “…”", not "sent a transfer transfer “…”"
    assert [row.what for row in sent] == [f"“{transfer.subject}”"]
    opened = [row for row in rows if row.event.action == Action.SHARING_LINK_ACCESS]
    assert [(row.who, row.ip_address) for row in opened] == [(RECIPIENT, "198.51.100.9")]
    export = client_signed_in(auditor).get("/audit/export.csv", {"item": f"file:{echo.pk}"})
    exported = list(csv.DictReader(io.StringIO(body_of(export).decode("utf-8-sig"))))
    send_row = next(row for row in exported if row["action"] == Action.SHARING_TRANSFER_SEND)
    assert send_row["bytes_sent"] == ""


# --- "What left through links": the count is of files, not of records --------------------


def test_what_left_counts_the_files_a_recipient_downloaded(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    """Dr Radio downloads the echo alone, then the folder's ZIP (the echo and the report):
    three files left. Before, the page said "4 downloads": the ZIP's summary record was
    counted as one more download."""
    dupont, echo = patient_folder(owner)
    version_store(actor=owner, folder=dupont, name="CR.pdf", content=content_of(300))
    _link, token = share_link_create(actor=owner, target=dupont, recipient_email=RECIPIENT)
    recipient = Client(REMOTE_ADDR="198.51.100.9")
    recipient.get(reverse("share_link:open", args=[token]))
    body_of(recipient.get(f"/s/{token}/files/{echo.pk}/"))
    body_of(recipient.get(f"/s/{token}/archive/"))
    page = text_of(client_signed_in(auditor).get("/audit/outside/"))
    assert "3 downloads" in page
    assert "4 downloads" not in page


# --- A link withdrawn by someone else names whose link it was -------------------------


def test_a_link_withdrawn_at_a_departure_names_its_maker_and_recipient(
    auditor: User, owner: User, site_admin: User, folder_backend: Backend
) -> None:
    """Sam deactivates Alice: her link to Dr Radio is withdrawn by the offboarding in
    Sam's name. The row must say it was Alice's link, for Dr Radio: before, it read
    "Sam Admin withdrew a link" and nothing else."""
    _dupont, echo = patient_folder(owner)
    share_link_create(actor=owner, target=echo, recipient_email=RECIPIENT)
    user_deactivate(actor=site_admin, user=owner, successor=None)
    _page, rows = question(auditor, f"file:{echo.pk}")
    withdrawn = [row for row in rows if row.event.action == Action.SHARING_LINK_REVOKE]
    assert [(row.who, row.what, row.recipient) for row in withdrawn] == [
        ("Sam Admin", f"Échographie.pdf (link made by {owner.email})", RECIPIENT)
    ]
