"""External links, the recipient's side: a clinician shares a file or a folder with
someone outside; the recipient opens the link, proves what the link asks (password,
e-mail code), downloads; the link dies on expiry, revocation or its download limit.

Fixtures are imported by name from tests.files_helpers; pytest injects them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zipfile
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from files import services
from files.models import File, FileVersion, Folder, ScanStatus
from sharing.models import ShareLink, ShareLinkCode, ShareLinkDownload, Transfer, TransferItem
from sharing.services.links import share_link_create, share_link_revoke
from tests.files_helpers import (
    Backend,
    body_of,
    content_of,
    root_of,
    stream_close,
    version_store,
)
from tests.helpers import client_signed_in
from tests.test_scanning import EICAR, upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rate_limit_cache")]

PASSWORD = "Radiologie-2026"


def open_url(token: str) -> str:
    return reverse("share_link:open", args=[token])


def file_url(token: str, file: File) -> str:
    return reverse("share_link:file", args=[token, file.pk])


def shared_file(owner: User, name: str = "IRM genou.dcm", size: int = 5000) -> FileVersion:
    return version_store(
        actor=owner, folder=root_of(owner), name=name, content=content_of(size, seed=name)
    )


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


def outcomes(action: str) -> list[str]:
    return [event.details.get("outcome", "") for event in events(action)]


def password_given(client: Client, token: str, password: str = PASSWORD) -> Any:
    return client.post(open_url(token), {"action": "password", "password": password})


# --- The plain story ----------------------------------------------------------------------


def test_recipient_opens_a_link_and_downloads_the_file_and_the_owner_is_told_once(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    version = shared_file(owner)
    link, token = share_link_create(
        actor=owner, target=version.file, recipient_email="dr.radio@clinique.example"
    )
    recipient = Client()

    landing = recipient.get(open_url(token))
    assert landing.status_code == 200
    page = landing.content.decode()
    assert "IRM genou.dcm" in page
    assert "Alice Martin" in page

    with django_capture_on_commit_callbacks(execute=True):
        download = recipient.get(file_url(token, version.file))
    assert download.status_code == 200
    assert body_of(download) == content_of(5000, seed="IRM genou.dcm")
    with django_capture_on_commit_callbacks(execute=True):
        again = recipient.get(file_url(token, version.file))
    assert body_of(again) == content_of(5000, seed="IRM genou.dcm")

    link.refresh_from_db()
    # Two whole downloads: two counted, two receipts, two downloads in the audit trail
    # (issue #14: the owner saw one where the recipient had taken it twice).
    assert link.download_count == 2
    assert link.first_downloaded_at is not None
    receipts = list(ShareLinkDownload.objects.filter(link=link))
    assert [receipt.bytes_sent for receipt in receipts] == [5000, 5000]
    receipt = receipts[0]
    assert receipt.file == version.file
    assert receipt.version == version
    assert receipt.recipient_email == "dr.radio@clinique.example"
    notices = [message for message in mail.outbox if message.to == [owner.email]]
    assert len(notices) == 1
    assert "IRM genou.dcm" in notices[0].body
    assert "dr.radio@clinique.example" in notices[0].body

    download_event = events(Action.SHARING_LINK_DOWNLOAD)[0]
    assert download_event.actor_label == f"link:{link.pk}"
    assert download_event.details["bytes"] == 5000
    assert download_event.details["version"] == str(version.pk)
    assert download_event.details["recipient"] == "dr.radio@clinique.example"
    files_event = AuditEvent.objects.filter(action=Action.FILES_VERSION_DOWNLOAD).first()
    assert files_event is not None
    assert files_event.actor_label == f"link:{link.pk}"
    assert files_event.details["link"] == link.pk
    assert outcomes(Action.SHARING_LINK_ACCESS) == ["ok"]


def test_the_token_is_stored_only_as_a_hash_and_never_logged(
    owner: User, folder_backend: Backend
) -> None:
    version = shared_file(owner)
    link, token = share_link_create(actor=owner, target=version.file, password=PASSWORD)
    assert len(token) >= 43  # 256 random bits, URL-safe base64
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert link.password_hash.startswith("argon2")
    Client().get(open_url(token))
    for event in AuditEvent.objects.all():
        assert token not in str(event.details)
        assert PASSWORD not in str(event.details)
    stored = ShareLink.objects.filter(pk=link.pk).values().get()
    assert token not in str(stored)


def test_a_range_request_resumes_a_download_and_counts_no_second_time(
    owner: User, folder_backend: Backend
) -> None:
    version = shared_file(owner, size=10_000)
    link, token = share_link_create(actor=owner, target=version.file, max_downloads=1)
    recipient = Client()
    recipient.get(open_url(token))
    first = recipient.get(file_url(token, version.file), HTTP_RANGE="bytes=0-999")
    assert first.status_code == 206
    assert body_of(first) == content_of(10_000, seed="IRM genou.dcm")[:1000]
    resumed = recipient.get(file_url(token, version.file), HTTP_RANGE="bytes=1000-")
    assert resumed.status_code == 206
    assert resumed["Content-Range"] == "bytes 1000-9999/10000"
    assert body_of(resumed) == content_of(10_000, seed="IRM genou.dcm")[1000:]
    link.refresh_from_db()
    assert link.download_count == 1
    assert ShareLinkDownload.objects.get(link=link).bytes_sent == 10_000


def test_a_download_cut_off_midway_records_the_bytes_really_sent(
    owner: User, folder_backend: Backend
) -> None:
    """The receipt and the audit event say what left, not what was planned: a
    recipient whose connection drops after the first segment has not got the study."""
    size = 3 * 1024 * 1024
    version = shared_file(owner, size=size)
    link, token = share_link_create(actor=owner, target=version.file)
    recipient = Client()
    recipient.get(open_url(token))
    response = recipient.get(file_url(token, version.file))
    first = next(iter(response.streaming_content))  # type: ignore[attr-defined]
    stream_close(response)  # the client goes away
    assert 0 < len(first) < size
    assert ShareLinkDownload.objects.get(link=link).bytes_sent == len(first)
    event = AuditEvent.objects.get(action=Action.SHARING_LINK_DOWNLOAD, details__outcome="ok")
    assert (event.details["bytes"], event.details["completed"]) == (len(first), False)

    whole = recipient.get(file_url(token, version.file))
    assert body_of(whole) == content_of(size, seed="IRM genou.dcm")
    # Started again from the first byte: a second download, with its own receipt.
    receipts = ShareLinkDownload.objects.filter(link=link).order_by("pk")
    assert [receipt.bytes_sent for receipt in receipts] == [len(first), size]
    last = AuditEvent.objects.filter(action=Action.SHARING_LINK_DOWNLOAD).latest("sequence")
    assert (last.details["bytes"], last.details["completed"]) == (size, True)


# --- Password and e-mail code -------------------------------------------------------------


def test_a_password_protected_link_shows_nothing_before_the_password(
    owner: User, folder_backend: Backend
) -> None:
    version = shared_file(owner)
    _link, token = share_link_create(actor=owner, target=version.file, password=PASSWORD)
    recipient = Client()

    landing = recipient.get(open_url(token)).content.decode()
    assert 'id="link-password-step"' in landing
    assert "IRM genou.dcm" not in landing  # a patient's name may be in a file name
    early = recipient.get(file_url(token, version.file))
    assert early.status_code == 302  # back to the password step, no byte sent

    wrong = password_given(recipient, token, "Radiologie-2025")
    assert wrong.status_code == 200
    assert "Wrong password." in wrong.content.decode()
    right = password_given(recipient, token)
    assert right.status_code == 302
    assert "IRM genou.dcm" in recipient.get(open_url(token)).content.decode()
    assert recipient.get(file_url(token, version.file)).status_code == 200
    assert outcomes(Action.SHARING_LINK_ACCESS) == ["ok", "wrong password", "ok", "ok"]

    # Another browser has proved nothing.
    assert Client().get(file_url(token, version.file)).status_code == 302


def test_password_guesses_are_rate_limited_per_link(owner: User, folder_backend: Backend) -> None:
    version = shared_file(owner)
    _link, token = share_link_create(actor=owner, target=version.file, password=PASSWORD)
    for attempt in range(10):
        # From ten addresses: the per-link limit holds when the guesser spreads out.
        guesser = Client(REMOTE_ADDR=f"198.51.100.{attempt + 1}")
        assert password_given(guesser, token, f"guess-{attempt}").status_code == 200
    late = password_given(Client(REMOTE_ADDR="198.51.100.99"), token)
    assert late.status_code == 429
    assert 'data-outcome="rate limited"' in late.content.decode()
    assert outcomes(Action.SHARING_LINK_ACCESS)[-1] == "rate limited"


def test_the_recipient_confirms_their_address_with_a_code_sent_to_it(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    version = shared_file(owner)
    link, token = share_link_create(
        actor=owner,
        target=version.file,
        recipient_email="dr.radio@clinique.example",
        email_verification=True,
    )
    recipient = Client()
    landing = recipient.get(open_url(token)).content.decode()
    assert 'id="link-email-step"' in landing
    assert "d***@clinique.example" in landing
    assert recipient.get(file_url(token, version.file)).status_code == 302

    with django_capture_on_commit_callbacks(execute=True):
        sent = recipient.post(open_url(token), {"action": "send_code"})
    # Sent, then redirected: reloading the page neither posts again nor sends a second
    # code that would replace the one being typed; the notice shows once.
    assert sent.status_code == 302
    assert sent["Location"] == open_url(token)
    after = recipient.get(open_url(token)).content.decode()
    assert "We sent a code to d***@clinique.example" in after
    reloaded = recipient.get(open_url(token)).content.decode()
    assert "We sent a code" not in reloaded
    assert 'id="link-code"' in reloaded
    (message,) = mail.outbox
    assert message.to == ["dr.radio@clinique.example"]
    code = message.subject.rsplit(" ", 1)[-1]
    assert len(code) == 8
    assert code.isdigit()
    assert code in message.body
    assert ShareLinkCode.objects.get(link=link).code_hash.startswith("argon2")

    # A second code within the minute is refused (the inbox is not a fire hose).
    again = recipient.post(open_url(token), {"action": "send_code"})
    assert "less than a minute ago" in again.content.decode()

    wrong_code = "00000000" if code != "00000000" else "11111111"
    bad = recipient.post(open_url(token), {"action": "code", "code": wrong_code})
    assert bad.status_code == 400
    assert "This code is wrong. You can try 4 more times with it." in bad.content.decode()
    good = recipient.post(open_url(token), {"action": "code", "code": f"{code[:4]} {code[4:]}"})
    assert good.status_code == 302
    assert recipient.get(file_url(token, version.file)).status_code == 200
    verify = events(Action.SHARING_LINK_VERIFY)
    assert [event.details["outcome"] for event in verify] == [
        "ok",
        "rate limited",
        "bad code",
        "ok",
    ]
    assert all(code not in str(event.details) for event in verify)
    # The code worked once: replaying it in another browser fails.
    other = Client()
    replay = other.post(open_url(token), {"action": "code", "code": code})
    assert replay.status_code == 400
    assert "No code is waiting for this link: a code works once" in replay.content.decode()


def test_a_code_dies_after_five_wrong_attempts_and_after_ten_minutes(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    version = shared_file(owner)
    _link, token = share_link_create(
        actor=owner,
        target=version.file,
        recipient_email="dr.radio@clinique.example",
        email_verification=True,
    )
    recipient = Client()
    with django_capture_on_commit_callbacks(execute=True):
        recipient.post(open_url(token), {"action": "send_code"})
    code = mail.outbox[-1].subject.rsplit(" ", 1)[-1]
    wrong = "00000000" if code != "00000000" else "11111111"
    for _attempt in range(5):
        recipient.post(open_url(token), {"action": "code", "code": wrong})
    late = recipient.post(open_url(token), {"action": "code", "code": code})
    assert late.status_code == 400
    assert "Too many wrong codes: this one no longer works." in late.content.decode()

    with time_machine.travel(timezone.now() + dt.timedelta(minutes=2), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            recipient.post(open_url(token), {"action": "send_code"})
        fresh = mail.outbox[-1].subject.rsplit(" ", 1)[-1]
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=13), tick=False):
        stale = recipient.post(open_url(token), {"action": "code", "code": fresh})
        assert stale.status_code == 400
        assert "This code has expired" in stale.content.decode()


# --- The link dies ------------------------------------------------------------------------


def test_revocation_takes_effect_on_the_next_click_of_an_open_session(
    owner: User, folder_backend: Backend
) -> None:
    version = shared_file(owner)
    link, token = share_link_create(actor=owner, target=version.file, password=PASSWORD)
    recipient = Client()
    password_given(recipient, token)
    assert recipient.get(file_url(token, version.file)).status_code == 200

    share_link_revoke(actor=owner, link=link)
    refused = recipient.get(file_url(token, version.file))
    assert refused.status_code == 410
    assert not getattr(refused, "streaming", False)
    assert b"This link was withdrawn" in refused.content
    landing = recipient.get(open_url(token))
    assert landing.status_code == 410
    assert outcomes(Action.SHARING_LINK_ACCESS)[-2:] == ["revoked", "revoked"]
    assert events(Action.SHARING_LINK_REVOKE)[0].actor_id == str(owner.pk)


def test_an_expired_link_answers_410_and_never_the_file(
    owner: User, folder_backend: Backend
) -> None:
    version = shared_file(owner)
    link, token = share_link_create(actor=owner, target=version.file)
    assert link.expires_at == pytest.approx(
        timezone.now() + dt.timedelta(days=7), abs=dt.timedelta(minutes=1)
    )
    recipient = Client()
    recipient.get(open_url(token))
    with time_machine.travel(link.expires_at + dt.timedelta(seconds=1), tick=False):
        landing = recipient.get(open_url(token))
        download = recipient.get(file_url(token, version.file))
    assert landing.status_code == 410
    assert b"This link has expired" in landing.content
    assert download.status_code == 410
    assert outcomes(Action.SHARING_LINK_ACCESS)[-2:] == ["expired", "expired"]


def test_the_download_limit_exhausts_the_link_for_new_sessions(
    owner: User, folder_backend: Backend
) -> None:
    version = shared_file(owner)
    link, token = share_link_create(actor=owner, target=version.file, max_downloads=1)
    first = Client()
    assert first.get(file_url(token, version.file)).status_code == 200
    second = Client()
    refused = second.get(file_url(token, version.file))
    assert refused.status_code == 410
    assert b"limit of views and downloads was reached" in refused.content
    assert second.get(open_url(token)).status_code == 410
    link.refresh_from_db()
    assert link.download_count == 1
    assert ShareLinkDownload.objects.filter(link=link).count() == 1
    assert "limit reached" in outcomes(Action.SHARING_LINK_DOWNLOAD)


def test_unknown_and_malformed_tokens_get_a_404_page_and_malformed_ones_no_lookup(
    owner: User, folder_backend: Backend
) -> None:
    unknown = Client().get(open_url("A" * 43))
    assert unknown.status_code == 404
    assert 'data-outcome="unknown"' in unknown.content.decode()
    with CaptureQueriesContext(connection) as queries:
        malformed = Client().get("/s/x'%20OR%20'1'='1/")
    assert malformed.status_code == 404
    assert not [query for query in queries if "sharing_sharelink" in query["sql"]]
    assert [event.details["malformed"] for event in events(Action.SHARING_LINK_ACCESS)] == [
        False,
        True,
    ]


def test_an_address_making_too_many_requests_is_slowed_down(
    owner: User, folder_backend: Backend
) -> None:
    scanner = Client(REMOTE_ADDR="203.0.113.7")
    statuses: list[int] = []
    while len(statuses) < 250 and 429 not in statuses:
        statuses.append(scanner.get(open_url(f"{len(statuses):043d}")).status_code)
    # 120 a minute; fixed windows, so a window may end during the run: at most 240.
    assert 429 in statuses
    assert 120 <= statuses.index(429) <= 240
    assert set(statuses[:120]) == {404}
    # Someone else is not affected.
    assert Client(REMOTE_ADDR="203.0.113.8").get(open_url("B" * 43)).status_code == 404
    assert outcomes(Action.SHARING_LINK_ACCESS)[-2] == "rate limited"


def test_a_scanner_rotating_through_its_ipv6_network_is_slowed_down_as_one_address(
    owner: User, folder_backend: Backend
) -> None:
    """Anyone on IPv6 gets a /64 (2^64 addresses) from their provider: a scanner that
    takes a new address for every request is still one client, counted and recorded as
    one, not 250 clients each under the limit, each refusal an audit event."""
    statuses: list[int] = []
    while len(statuses) < 250 and 429 not in statuses:
        scanner = Client(REMOTE_ADDR=f"2001:db8:7:7::{len(statuses) + 1:x}")
        statuses.append(scanner.get(open_url(f"{len(statuses):043d}")).status_code)
    assert 429 in statuses
    assert 120 <= statuses.index(429) <= 240
    # Another network is not affected.
    assert Client(REMOTE_ADDR="2001:db8:7:8::1").get(open_url("B" * 43)).status_code == 404


def test_password_guesses_from_one_ipv6_network_count_as_one_address_across_links(
    owner: User, folder_backend: Backend
) -> None:
    """20 guesses per 15 minutes per address, whatever the link: a guesser holding
    three links who takes a new IPv6 address for each guess is refused at the 21st."""
    tokens = [
        share_link_create(
            actor=owner, target=shared_file(owner, f"CR {n}.pdf").file, password=PASSWORD
        )[1]
        for n in range(3)
    ]
    statuses = []
    for attempt in range(21):
        guesser = Client(REMOTE_ADDR=f"2001:db8:5:5:{attempt + 1:x}::1")
        statuses.append(
            password_given(guesser, tokens[attempt % 3], f"guess-{attempt}").status_code
        )
    assert statuses[:20] == [200] * 20
    assert statuses[20] == 429


# --- Scan status: never before clean ------------------------------------------------------


@pytest.mark.parametrize("status", [ScanStatus.PENDING, ScanStatus.QUARANTINED])
def test_a_file_not_scanned_clean_is_refused_through_a_link(
    owner: User, folder_backend: Backend, status: ScanStatus
) -> None:
    version = version_store(
        actor=owner, folder=root_of(owner), name="resultats.txt", content=b"x" * 100, clean=False
    )
    if status == ScanStatus.QUARANTINED:
        services.version_mark_scanned(version=version, status=ScanStatus.QUARANTINED)
    link, token = share_link_create(actor=owner, target=version.file)
    recipient = Client()
    assert "waiting for the virus scan" in recipient.get(open_url(token)).content.decode()
    refused = recipient.get(file_url(token, version.file))
    assert refused.status_code == 409
    assert b"x" * 100 not in refused.content
    link.refresh_from_db()
    assert link.download_count == 0
    assert events(Action.SHARING_LINK_DOWNLOAD)[0].details["outcome"] == str(status)


def test_the_zip_address_of_a_link_to_one_file_is_refused_on_record_not_called_deleted(
    owner: User, folder_backend: Backend
) -> None:
    """A link to one file has no "download everything": someone who tries its ZIP
    address gets a 404, and the log a refusal naming the link's file. It used to say
    "What this link shared was deleted" (410) of a file still there, and record nothing."""
    version = shared_file(owner)
    link, token = share_link_create(actor=owner, target=version.file)
    recipient = Client()
    refused = recipient.get(reverse("share_link:archive", args=[token]))
    assert refused.status_code == 404
    assert 'data-outcome="unknown"' in refused.content.decode()
    [event] = events(Action.SHARING_LINK_DOWNLOAD)
    assert event.outcome == "denied"
    assert event.actor_label == f"link:{link.pk}"
    assert event.details["outcome"] == "unknown"
    assert event.details["archive"] is True
    assert event.details["name"] == "IRM genou.dcm"
    assert recipient.get(file_url(token, version.file)).status_code == 200


# --- Folders and transfers ----------------------------------------------------------------


def folder_with_files(owner: User) -> tuple[Folder, dict[str, FileVersion]]:
    study = services.folder_create(actor=owner, parent=root_of(owner), name="Etude genou")
    series = services.folder_create(actor=owner, parent=study, name="Serie 1")
    stored = {
        "compte-rendu.pdf": version_store(
            actor=owner, folder=study, name="compte-rendu.pdf", content=b"%PDF report"
        ),
        "img1.dcm": version_store(
            actor=owner, folder=series, name="img1.dcm", content=content_of(3000, seed="img1")
        ),
        "pending.dcm": version_store(
            actor=owner, folder=series, name="pending.dcm", content=b"not yet", clean=False
        ),
    }
    return study, stored


def test_a_folder_link_lists_its_tree_and_serves_each_file_and_a_zip(
    owner: User, folder_backend: Backend
) -> None:
    study, stored = folder_with_files(owner)
    outside = shared_file(owner, name="autre patient.pdf")
    link, token = share_link_create(actor=owner, target=study, max_downloads=5)
    recipient = Client()
    page = recipient.get(open_url(token)).content.decode()
    assert "Etude genou/Serie 1/img1.dcm" in page
    assert "pending.dcm" in page  # listed as not available yet
    assert "autre patient.pdf" not in page

    img = stored["img1.dcm"].file
    assert body_of(recipient.get(file_url(token, img))) == content_of(3000, seed="img1")
    assert recipient.get(file_url(token, outside.file)).status_code == 404
    assert recipient.get(file_url(token, stored["pending.dcm"].file)).status_code == 409

    archive = recipient.get(reverse("share_link:archive", args=[token]))
    assert archive.status_code == 200
    data = body_of(archive)
    with zipfile.ZipFile(io.BytesIO(data)) as unzipped:
        assert sorted(unzipped.namelist()) == [
            "Etude genou/Serie 1/img1.dcm",
            "Etude genou/compte-rendu.pdf",
        ]
        assert unzipped.read("Etude genou/compte-rendu.pdf") == b"%PDF report"
    link.refresh_from_db()
    assert link.download_count == 2  # one file, then "download everything"
    receipt = ShareLinkDownload.objects.get(link=link, is_archive=True)
    assert receipt.bytes_sent == len(data)
    zip_event = [e for e in events(Action.SHARING_LINK_DOWNLOAD) if e.details.get("archive")][-1]
    assert zip_event.details["bytes"] == len(data)
    assert zip_event.details["completed"] is True


def test_a_transfer_link_shows_the_subject_the_message_and_the_files(
    owner: User, folder_backend: Backend
) -> None:
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="transfer-1")
    version = version_store(actor=owner, folder=folder, name="scanner.dcm", content=b"DICM data")
    transfer = Transfer.objects.create(
        created_by=owner,
        subject="IRM de M. Dupont",
        message="Bonjour,\nvoici les images.",
        folder=folder,
        expires_at=timezone.now() + dt.timedelta(days=7),
        sent_at=timezone.now(),
    )
    # What sharing.services.transfers.transfer_send records: recipients get these files.
    TransferItem.objects.create(
        transfer=transfer, file=version.file, version=version, path="scanner.dcm"
    )
    _link, token = share_link_create(
        actor=owner, target=transfer, recipient_email="dr.radio@clinique.example"
    )
    recipient = Client()
    page = recipient.get(open_url(token)).content.decode()
    assert "IRM de M. Dupont" in page
    assert "voici les images." in page
    assert "scanner.dcm" in page
    assert "transfer-1" not in page
    archive = recipient.get(reverse("share_link:archive", args=[token]))
    with zipfile.ZipFile(io.BytesIO(body_of(archive))) as unzipped:
        assert unzipped.namelist() == ["scanner.dcm"]

    Transfer.objects.filter(pk=transfer.pk).update(revoked_at=timezone.now())
    assert recipient.get(open_url(token)).status_code == 410


def test_a_link_dies_when_its_creator_loses_access(owner: User, folder_backend: Backend) -> None:
    version = shared_file(owner)
    _link, token = share_link_create(actor=owner, target=version.file)
    User.objects.filter(pk=owner.pk).update(is_active=False)
    assert Client().get(open_url(token)).status_code == 410


def test_an_eicar_upload_quarantined_by_clamd_never_leaves_through_a_folder_link(
    clamd: str, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    study = services.folder_create(actor=owner, parent=root_of(owner), name="Resultats")
    clinician = client_signed_in(owner)
    upload(
        clinician,
        study,
        "rapport.txt",
        b"Compte rendu normal.\n",
        django_capture_on_commit_callbacks,
    )
    infected = upload(clinician, study, "virus.txt", EICAR, django_capture_on_commit_callbacks)
    assert FileVersion.objects.get(pk=infected.pk).scan_status == ScanStatus.QUARANTINED
    _link, token = share_link_create(actor=owner, target=study)
    recipient = Client()

    page = recipient.get(open_url(token)).content.decode()
    assert 'id="link-left-out"' in page
    refused = recipient.get(file_url(token, infected.file))
    assert refused.status_code == 409
    assert EICAR not in refused.content
    archive = body_of(recipient.get(reverse("share_link:archive", args=[token])))
    assert EICAR not in archive
    with zipfile.ZipFile(io.BytesIO(archive)) as unzipped:
        assert unzipped.namelist() == ["Resultats/rapport.txt"]
    refusal = events(Action.SHARING_LINK_DOWNLOAD)[0]
    assert refusal.details["outcome"] == "quarantined"
