"""File requests: a clinician asks a lab for results; the lab uploads through a link,
with no account, within limits; files land in the chosen folder, pending the virus
scan, and the clinician is told. Closed or expired requests answer 410."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import base64
import hashlib
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.test import Client, override_settings
from django.utils import timezone

from accounts import tokens as account_tokens
from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from files import services, tus
from files.models import File, Folder, ScanStatus, Space, UploadSession
from sharing import tasks
from sharing.errors import FileRequestNotFound
from sharing.models import FileRequest, FileRequestUpload, SharingPolicy
from sharing.services import file_requests
from tests.files_helpers import content_of, root_of, version_store
from tests.helpers import CONFIRMED, client_signed_in, expiry_fields, threads_join

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "small_segments"),
]

TUS = {"Tus-Resumable": "1.0.0"}
OFFSET = "application/offset+octet-stream"


@pytest.fixture(autouse=True)
def _own_rate_limit_counts() -> Iterator[None]:
    """Rate limits counted in a cache of this process only: the suite's shared cache
    is cleared by other tests running in parallel, and 127.0.0.1 is everyone's."""
    caches = {
        **settings.CACHES,
        "sharing_requests_test": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    with override_settings(CACHES=caches, RATELIMIT_USE_CACHE="sharing_requests_test"):
        yield


def metadata(**values: str) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items()
    )


def results_folder(owner: User) -> Folder:
    return services.folder_create(actor=owner, parent=root_of(owner), name="Résultats labo")


def create_request(
    owner: User, folder: Folder, *, max_files: int = 10, max_megabytes: int = 50, days: int = 7
) -> tuple[FileRequest, str]:
    response = client_signed_in(owner).post(
        "/sharing/requests/new/",
        {
            "title": "Bilan sanguin M. Petit",
            "instructions": "Merci d'envoyer les résultats en PDF.",
            "folder": str(folder.pk),
            **expiry_fields(days),
            "max_files": str(max_files),
            "max_megabytes": str(max_megabytes),
            "notify_owner": "on",
        },
    )
    assert response.status_code == 201, response.content.decode()[:3000]
    found = re.search(r"/r/([A-Za-z0-9_-]{43})/", response.content.decode())
    assert found
    return FileRequest.objects.latest("pk"), found.group(1)


def tus_create(
    client: Client,
    token: str,
    length: int,
    name: str = "resultats.pdf",
    *,
    uploader_name: str = "Laboratoire Bio+",
    uploader_email: str = "contact@bioplus.example",
) -> Any:
    return client.post(
        f"/r/{token}/uploads/",
        b"",
        content_type=OFFSET,
        headers={
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": metadata(
                filename=name, uploader_name=uploader_name, uploader_email=uploader_email
            ),
        },
    )


def location(response: Any) -> str:
    value: str = response["Location"]
    return value.replace("http://testserver", "")


def tus_patch(client: Client, url: str, offset: int, data: bytes) -> Any:
    return client.generic(
        "PATCH", url, data, content_type=OFFSET, headers={**TUS, "Upload-Offset": str(offset)}
    )


def upload_whole(client: Client, token: str, content: bytes, name: str = "resultats.pdf") -> Any:
    created = tus_create(client, token, len(content), name)
    assert created.status_code == 201, created.content
    url = location(created)
    middle = len(content) // 2
    first = tus_patch(client, url, 0, content[:middle])
    assert first.status_code == 204, first.content
    return tus_patch(client, url, middle, content[middle:])


def test_owner_creates_a_request_and_sees_its_link_once(owner: User) -> None:
    folder = results_folder(owner)
    file_request, token = create_request(owner, folder)
    assert file_request.folder == folder
    assert file_request.token_hash != token
    assert token not in file_request.token_hash
    detail = client_signed_in(owner).get(f"/sharing/requests/{file_request.pk}/")
    assert detail.status_code == 200
    assert token not in detail.content.decode()
    event = AuditEvent.objects.get(action=Action.SHARING_REQUEST_CREATE)
    assert event.actor_id == str(owner.pk)
    assert event.details["folder"] == folder.pk
    listing = client_signed_in(owner).get("/sharing/requests/")
    assert "Bilan sanguin M. Petit" in listing.content.decode()


def test_someone_outside_uploads_and_the_file_lands_pending_scan_and_owner_is_told(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    folder = results_folder(owner)
    file_request, token = create_request(owner, folder)
    lab = Client(REMOTE_ADDR="203.0.113.7")

    page = lab.get(f"/r/{token}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Bilan sanguin M. Petit" in text
    assert "résultats en PDF" in text
    assert "<script>" not in text
    assert page["Cache-Control"] == "no-store"
    assert page["Referrer-Policy"] == "no-referrer"

    content = content_of(7000, seed="labo")
    with django_capture_on_commit_callbacks(execute=True):
        done = upload_whole(lab, token, content)
    assert done.status_code == 204, done.content

    file = File.objects.get(folder=folder, name="resultats.pdf")
    assert file.current_version is not None
    assert file.current_version.size == len(content)
    assert file.current_version.scan_status in {ScanStatus.PENDING, ScanStatus.SCANNING}
    record = FileRequestUpload.objects.get(request=file_request)
    assert record.completed_at is not None
    assert record.version == file.current_version
    assert record.uploader_email == "contact@bioplus.example"
    file_request.refresh_from_db()
    assert (file_request.files_reserved, file_request.bytes_reserved) == (1, len(content))

    event = AuditEvent.objects.get(action=Action.SHARING_REQUEST_UPLOAD)
    assert event.actor_label == f"request:{file_request.pk}"
    assert event.details["uploader_name"] == "Laboratoire Bio+"
    assert event.details["uploader_email"] == "contact@bioplus.example"
    assert event.ip_address == "203.0.113.7"

    assert [message.to for message in mail.outbox] == [[owner.email]]
    notice = mail.outbox[0]
    # The request's title names a patient: not in the subject (what lock screens, mail
    # logs and shared mailboxes show), only in the body.
    assert "Petit" not in notice.subject
    assert notice.subject == "Files arrived through your file request"
    assert "Bilan sanguin M. Petit" in notice.body
    assert "resultats.pdf" in notice.body
    assert "contact@bioplus.example" in notice.body
    assert token not in notice.body

    owner_page = client_signed_in(owner).get(f"/sharing/requests/{file_request.pk}/")
    assert "resultats.pdf" in owner_page.content.decode()


def test_the_files_events_of_an_outsiders_upload_say_it_came_through_the_request(
    owner: User,
) -> None:
    """The upload is made as the clinician (their folder, rights and quota), but the
    clinician did not upload it: every files event of it names the request it came
    through, so the auditor asking "who put this file here" is not told "Dr X" alone."""
    folder = results_folder(owner)
    file_request, token = create_request(owner, folder)
    assert upload_whole(Client(), token, content_of(3000, seed="via")).status_code == 204
    version = File.objects.get(folder=folder).current_version
    assert version is not None
    events = AuditEvent.objects.filter(
        action__in=[
            Action.FILES_UPLOAD_START,
            Action.FILES_UPLOAD_COMPLETE,
            Action.FILES_FILE_UPLOAD,
        ]
    )
    assert sorted(event.action for event in events) == sorted(
        [Action.FILES_UPLOAD_START, Action.FILES_UPLOAD_COMPLETE, Action.FILES_FILE_UPLOAD]
    )
    assert {event.details.get("via") for event in events} == {f"request:{file_request.pk}"}
    # The clinician's own upload, next, says nothing of the kind.
    version_store(actor=owner, folder=folder, name="mine.pdf", content=content_of(10))
    mine = AuditEvent.objects.filter(action=Action.FILES_FILE_UPLOAD).latest("sequence")
    assert "via" not in mine.details


def test_an_upload_never_replaces_a_file_already_in_the_folder(owner: User) -> None:
    folder = results_folder(owner)
    existing = version_store(
        actor=owner, folder=folder, name="resultats.pdf", content=content_of(500, seed="mine")
    ).file
    _file_request, token = create_request(owner, folder)
    assert upload_whole(Client(), token, content_of(900, seed="theirs")).status_code == 204
    assert existing.versions.count() == 1
    assert File.objects.filter(folder=folder, name="resultats (2).pdf").exists()


def test_a_file_given_the_same_name_during_the_upload_is_not_replaced_either(
    owner: User,
) -> None:
    """The name was free when the lab started; the clinician saved a file of that name
    while the lab's bytes were arriving. The lab's upload lands beside it under a free
    name: it never becomes a new version of the clinician's file."""
    folder = results_folder(owner)
    file_request, token = create_request(owner, folder)
    lab = Client()
    created = tus_create(lab, token, 900)
    assert created.status_code == 201
    mine = version_store(
        actor=owner, folder=folder, name="resultats.pdf", content=content_of(500, seed="mine")
    ).file
    assert tus_patch(lab, location(created), 0, content_of(900, seed="theirs")).status_code == 204
    assert mine.versions.count() == 1
    theirs = File.objects.get(folder=folder, name="resultats (2).pdf")
    assert theirs.current_version is not None
    assert theirs.current_version.size == 900
    upload = FileRequestUpload.objects.get(request=file_request)
    assert upload.name == "resultats (2).pdf"
    event = AuditEvent.objects.get(action=Action.SHARING_REQUEST_UPLOAD)
    assert event.details["name"] == "resultats (2).pdf"


def test_a_folder_given_the_same_name_during_the_upload_does_not_lose_the_file(
    owner: User,
) -> None:
    folder = results_folder(owner)
    _file_request, token = create_request(owner, folder)
    lab = Client()
    created = tus_create(lab, token, 900)
    services.folder_create(actor=owner, parent=folder, name="resultats.pdf")
    assert tus_patch(lab, location(created), 0, content_of(900, seed="theirs")).status_code == 204
    assert File.objects.filter(folder=folder, name="resultats (2).pdf").exists()


def test_limits_on_file_count_and_total_size_are_enforced(owner: User) -> None:
    folder = results_folder(owner)
    file_request, token = create_request(owner, folder, max_files=2, max_megabytes=1)
    lab = Client()
    too_big = tus_create(lab, token, 1_000_001)
    assert too_big.status_code == 413
    assert tus_create(lab, token, 600_000, "a.pdf").status_code == 201
    over_bytes = tus_create(lab, token, 400_001, "b.pdf")
    assert over_bytes.status_code == 413
    assert tus_create(lab, token, 400_000, "b.pdf").status_code == 201
    over_count = tus_create(lab, token, 10, "c.pdf")
    assert over_count.status_code == 413
    assert "no more files" in over_count.json()["detail"]
    file_request.refresh_from_db()
    assert (file_request.files_reserved, file_request.bytes_reserved) == (2, 1_000_000)
    refusals = AuditEvent.objects.filter(
        action=Action.SHARING_REQUEST_REFUSE, outcome=Outcome.DENIED
    )
    assert {event.details["reason"] for event in refusals} >= {"size limit", "file count limit"}
    assert all(event.actor_label == f"request:{file_request.pk}" for event in refusals)


def test_an_uploaders_refusal_reads_in_the_auditors_language_not_the_uploaders(
    owner: User, auditor: User
) -> None:
    """The laboratory's secretary uploads from a French browser, one file too many; the
    auditor reads the console in English."""
    _request, token = create_request(owner, results_folder(owner), max_files=1)
    lab = Client()
    lab.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    assert tus_create(lab, token, 10, "a.pdf").status_code == 201
    refused = tus_create(lab, token, 10, "b.pdf")
    assert refused.status_code == 413
    assert "n’accepte plus de fichiers" in refused.json()["detail"]  # noqa: RUF001
    event = AuditEvent.objects.get(
        action=Action.SHARING_REQUEST_REFUSE, details__reason="file count limit"
    )
    english = "This request accepts no more files (at most 1)."
    assert event.details["detail"] == english

    audrey = client_signed_in(auditor)
    audrey.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = audrey.get(f"/audit/events/{event.sequence}/").content.decode()
    assert english in page
    assert "accepte plus" not in page


def _space_quota_set(folder: Folder, quota_bytes: int) -> None:
    Space.objects.filter(pk=folder.space_id).update(quota_bytes=quota_bytes)


@pytest.mark.parametrize("when", ["announced", "arriving"])
def test_an_uploader_is_not_told_the_clinicians_quota(owner: User, when: str) -> None:
    """The clinician's space is nearly full: the lab learns that the file cannot be
    received and whom to tell, not how much room her space has left nor to "delete files
    or empty the trash" (her space is hers). The audit keeps the real reason."""
    folder = results_folder(owner)
    _request, token = create_request(owner, folder)
    content = content_of(5000, seed="bilan")
    lab = Client()
    lab.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    if when == "announced":
        _space_quota_set(folder, 1000)
        refused = tus_create(lab, token, len(content))
    else:
        created = tus_create(lab, token, len(content))
        assert created.status_code == 201
        _space_quota_set(folder, 1000)  # an administrator lowered it meanwhile
        refused = tus_patch(lab, location(created), 0, content)
    assert refused.status_code == 413
    detail = refused.json()["detail"]
    assert detail == (
        "Ce fichier ne peut pas être reçu\u00a0: la personne qui vous l’a demandé n’a plus "  # noqa: RUF001
        "assez de place pour lui. Prévenez-la\u00a0; rien n’a été conservé."  # noqa: RUF001
    )
    assert not File.objects.filter(folder=folder).exists()
    (refusal,) = AuditEvent.objects.filter(action=Action.SHARING_REQUEST_REFUSE)
    assert refusal.details["detail"].startswith("This file does not fit in the space: 1")
    assert "left of its quota" in refusal.details["detail"]


def test_limits_cannot_exceed_the_policy(owner: User) -> None:
    policy = SharingPolicy.current()
    policy.file_request_max_files = 5
    policy.save()
    response = client_signed_in(owner).post(
        "/sharing/requests/new/",
        {
            "title": "Trop",
            "folder": str(results_folder(owner).pk),
            **expiry_fields(7),
            "max_files": "6",
            "max_megabytes": "10",
        },
    )
    assert response.status_code == 400
    assert not FileRequest.objects.exists()


def test_terminated_upload_gives_its_room_back(owner: User) -> None:
    folder = results_folder(owner)
    file_request, token = create_request(owner, folder, max_files=1)
    lab = Client()
    created = tus_create(lab, token, 5000)
    url = location(created)
    assert tus_create(lab, token, 10, "second.pdf").status_code == 413
    deleted = lab.delete(url, headers=TUS)
    assert deleted.status_code == 204
    file_request.refresh_from_db()
    assert (file_request.files_reserved, file_request.bytes_reserved) == (0, 0)
    assert tus_create(lab, token, 10, "second.pdf").status_code == 201


def test_a_refused_first_chunk_does_not_keep_the_requests_only_place(owner: User) -> None:
    """The lab's client sends the file with its creation (creation-with-upload) and the
    chunk arrives corrupted: refused (460) with no upload address to resume or cancel,
    so the request's only place is given back and the client's retry is accepted."""
    file_request, token = create_request(owner, results_folder(owner), max_files=1)
    lab = Client()
    content = content_of(800, seed="first-try")

    def send(checksum: bytes) -> Any:
        return lab.post(
            f"/r/{token}/uploads/",
            content,
            content_type=OFFSET,
            headers={
                **TUS,
                "Upload-Length": str(len(content)),
                "Upload-Metadata": metadata(filename="bilan.pdf"),
                "Upload-Checksum": "sha256 " + base64.b64encode(checksum).decode(),
            },
        )

    refused = send(hashlib.sha256(b"something else").digest())
    assert refused.status_code == 460
    assert "Location" not in refused
    file_request.refresh_from_db()
    assert (file_request.files_reserved, file_request.bytes_reserved) == (0, 0)
    assert not UploadSession.objects.exists()
    assert AuditEvent.objects.filter(
        action=Action.FILES_UPLOAD_REJECT, details__status=460
    ).exists()
    retry = send(hashlib.sha256(content).digest())
    assert retry.status_code == 201, retry.content
    assert File.objects.filter(name="bilan.pdf").exists()


def test_abandoned_uploads_give_their_room_back_after_expiry(owner: User) -> None:
    file_request, token = create_request(owner, results_folder(owner), max_files=1)
    assert tus_create(Client(), token, 5000).status_code == 201
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        tus.uploads_expired_delete()
        assert tasks.file_request_reservations_release() == 1
    file_request.refresh_from_db()
    assert file_request.files_reserved == 0


def test_uploads_of_another_request_or_of_the_owner_are_out_of_reach(owner: User) -> None:
    folder = results_folder(owner)
    _first, token_a = create_request(owner, folder)
    _second, token_b = create_request(owner, folder)
    lab = Client()
    created = tus_create(lab, token_a, 3000)
    upload_id = location(created).rstrip("/").rsplit("/", 1)[-1]
    other = f"/r/{token_b}/uploads/{upload_id}/"
    assert lab.head(other, headers=TUS).status_code == 404
    assert tus_patch(lab, other, 0, b"x" * 10).status_code == 404
    assert lab.delete(other, headers=TUS).status_code == 404
    # The owner's own upload through the signed-in tus endpoint is not reachable either.
    own = tus.upload_create(
        actor=owner,
        length_header="10",
        metadata_header=metadata(filename="own.dcm", folder=str(folder.pk)),
    )
    assert lab.head(f"/r/{token_a}/uploads/{own.pk}/", headers=TUS).status_code == 404
    assert lab.head(f"/r/{token_a}/uploads/not-a-uuid/", headers=TUS).status_code == 404


def test_what_the_protocol_refuses_from_outside_is_on_record(owner: User) -> None:
    """A wrong offset, an upload id that is not of this request, a corrupted chunk: each
    answered with its tus status and recorded once, as from the request."""
    file_request, token = create_request(owner, results_folder(owner))
    lab = Client()
    url = location(tus_create(lab, token, 3000))
    before = AuditEvent.objects.filter(action=Action.SHARING_REQUEST_REFUSE).count()
    assert tus_patch(lab, url, 5, b"x" * 10).status_code == 409
    assert lab.head(f"/r/{token}/uploads/{uuid.uuid4()}/", headers=TUS).status_code == 404
    corrupted = lab.generic(
        "PATCH",
        url,
        b"x" * 10,
        content_type=OFFSET,
        headers={**TUS, "Upload-Offset": "0", "Upload-Checksum": "sha256 AAAA"},
    )
    assert corrupted.status_code == 460
    refusals = AuditEvent.objects.filter(action=Action.SHARING_REQUEST_REFUSE).order_by("sequence")[
        before:
    ]
    assert [event.details["reason"] for event in refusals] == [
        "upload refused (409)",
        "upload refused (404)",
        "upload refused (460)",
    ]
    assert {event.actor_label for event in refusals} == {f"request:{file_request.pk}"}
    # A refusal the request's rules made (its limits) is recorded once, by name.
    assert tus_create(lab, token, 10**12).status_code == 413
    last = AuditEvent.objects.filter(action=Action.SHARING_REQUEST_REFUSE).latest("sequence")
    assert last.details["reason"] == "size limit"
    assert AuditEvent.objects.filter(action=Action.SHARING_REQUEST_REFUSE).count() == before + 4


def test_closed_request_answers_410_on_page_and_upload_endpoint(owner: User) -> None:
    folder = results_folder(owner)
    file_request, token = create_request(owner, folder)
    lab = Client()
    created = tus_create(lab, token, 3000)
    url = location(created)
    closed = client_signed_in(owner).post(f"/sharing/requests/{file_request.pk}/close/", CONFIRMED)
    assert closed.status_code == 302
    assert lab.get(f"/r/{token}/").status_code == 410
    assert tus_create(lab, token, 10).status_code == 410
    assert tus_patch(lab, url, 0, b"x" * 3000).status_code == 410
    assert AuditEvent.objects.filter(action=Action.SHARING_REQUEST_CLOSE).count() == 1
    assert AuditEvent.objects.filter(
        action=Action.SHARING_REQUEST_REFUSE, details__reason="closed"
    ).exists()
    assert not File.objects.filter(folder=folder).exists()


def _patch_half_sent(live_server: Any, url: str, content: bytes) -> socket.socket:
    """A lab's PATCH whose first half has reached the server, which is now waiting for
    the rest (the PATCH holds the upload's lock from its first byte to its commit)."""
    address = urlsplit(live_server.url)
    connection = socket.create_connection((address.hostname, address.port), timeout=30)
    head = (
        f"PATCH {url} HTTP/1.1\r\nHost: {address.netloc}\r\nTus-Resumable: 1.0.0\r\n"
        f"Upload-Offset: 0\r\nContent-Type: {OFFSET}\r\n"
        f"Content-Length: {len(content)}\r\nConnection: close\r\n\r\n"
    )
    connection.sendall(head.encode() + content[: len(content) // 2])
    session = UploadSession.objects.get(pk=url.rstrip("/").rsplit("/", 1)[-1])
    for _attempt in range(600):
        try:
            # A short wait of the probe's own (the PATCH keeps the configured one).
            with tus._upload_lock(session.pk, wait=0.05):
                pass
        except tus.TusError:  # 423: the PATCH holds it, its body half read
            return connection
        threading.Event().wait(0.05)
    raise AssertionError("the PATCH never started")


def _answer(connection: socket.socket, rest: bytes) -> int:
    connection.sendall(rest)
    reply = b""
    while chunk := connection.recv(65536):
        reply += chunk
    connection.close()
    return int(reply.split(b" ", 2)[1])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("how", ["closed", "expired"])
def test_a_file_still_arriving_when_the_request_ends_is_not_kept(
    owner: User, live_server: Any, on_postgres: None, how: str
) -> None:
    """The clinician closes the request (or it expires) while a lab's file is arriving:
    nothing more lands in the folder from then on, that file included."""
    folder = results_folder(owner)
    file_request, token = file_requests.file_request_create(
        actor=owner,
        folder=folder,
        title="Bilan",
        expires_at=timezone.now() + timedelta(hours=1),
        max_files=3,
    )
    content = content_of(6000, seed="late")
    created = tus_create(Client(), token, len(content))
    url = location(created)
    connection = _patch_half_sent(live_server, url, content)
    if how == "closed":
        file_requests.file_request_close(actor=owner, file_request=file_request)
        status = _answer(connection, content[len(content) // 2 :])
    else:
        with time_machine.travel(timezone.now() + timedelta(hours=2)):
            status = _answer(connection, content[len(content) // 2 :])
    assert status == 410
    assert not File.objects.filter(folder=folder).exists()
    assert not UploadSession.objects.exists()
    file_request.refresh_from_db()
    assert (file_request.files_reserved, file_request.bytes_reserved) == (0, 0)
    assert AuditEvent.objects.filter(
        action=Action.SHARING_REQUEST_REFUSE,
        details__reason=f"{how} during upload",
        actor_label=f"request:{file_request.pk}",
    ).exists()
    assert not AuditEvent.objects.filter(action=Action.SHARING_REQUEST_UPLOAD).exists()


def test_expired_request_answers_410(owner: User) -> None:
    _file_request, token = create_request(owner, results_folder(owner), days=1)
    with time_machine.travel(timezone.now() + timedelta(days=1, minutes=1)):
        assert Client().get(f"/r/{token}/").status_code == 410
        assert tus_create(Client(), token, 10).status_code == 410


def test_unknown_or_malformed_tokens_are_404_and_audited(db: None) -> None:
    assert Client().get("/r/" + "A" * 43 + "/").status_code == 404
    assert Client().get("/r/short/").status_code == 404
    assert tus_create(Client(), "B" * 43, 10).status_code == 404
    reasons = set(
        AuditEvent.objects.filter(action=Action.SHARING_REQUEST_REFUSE).values_list(
            "details__reason", flat=True
        )
    )
    assert {"unknown token", "malformed token"} <= reasons


def test_public_page_is_rate_limited(owner: User) -> None:
    _file_request, token = create_request(owner, results_folder(owner))
    guesser = Client(REMOTE_ADDR="198.51.100.9")
    # Frozen clock: the limit counts per clock minute, the loop must not straddle two.
    with time_machine.travel(timezone.now().replace(second=1), tick=False):
        statuses = [guesser.get(f"/r/{'C' * 43}/").status_code for _ in range(61)]
    assert statuses[0] == 404
    assert statuses[-1] == 429
    # Someone else, from another address, is not affected.
    assert Client(REMOTE_ADDR="198.51.100.10").get(f"/r/{token}/").status_code == 200


def test_the_public_page_counts_an_ipv6_network_as_one_address() -> None:
    """60 a minute per address: a client taking a new address of its /64 for every
    request is one client."""
    with time_machine.travel(timezone.now().replace(second=1), tick=False):
        statuses = [
            Client(REMOTE_ADDR=f"2001:db8:9:9::{n + 1:x}").get(f"/r/{n:043d}/").status_code
            for n in range(61)
        ]
    assert statuses[:60] == [404] * 60
    assert statuses[60] == 429


def test_a_folder_one_may_not_edit_cannot_receive_a_request(owner: User, outsider: User) -> None:
    folder = results_folder(owner)
    response = client_signed_in(outsider).post(
        "/sharing/requests/new/",
        {
            "title": "Intrusion",
            "folder": str(folder.pk),
            **expiry_fields(7),
            "max_files": "1",
            "max_megabytes": "1",
        },
    )
    assert response.status_code in {400, 404}
    assert not FileRequest.objects.exists()
    with pytest.raises(FileRequestNotFound):
        file_requests.file_request_create(
            actor=outsider,
            folder=folder,
            title="x",
            expires_at=timezone.now() + timedelta(days=1),
        )


def test_a_team_folder_can_receive_a_request(owner: User, team: Any) -> None:
    space = services.space_team_get_or_create(team=team)
    folder = services.space_root(space)
    _file_request, token = create_request(owner, folder)
    assert upload_whole(Client(), token, content_of(300)).status_code == 204
    assert File.objects.filter(space=space, name="resultats.pdf").exists()


def test_others_cannot_see_or_close_my_request(owner: User, outsider: User) -> None:
    file_request, token = create_request(owner, results_folder(owner))
    assert (
        client_signed_in(outsider).get(f"/sharing/requests/{file_request.pk}/").status_code == 404
    )
    assert (
        client_signed_in(outsider).post(f"/sharing/requests/{file_request.pk}/close/").status_code
        == 404
    )
    assert Client().get(f"/r/{token}/").status_code == 200


def test_file_request_through_the_api(owner: User) -> None:
    folder = results_folder(owner)
    _token, upload_only = account_tokens.token_create(
        actor=owner, name="uploader", scopes=["read", "write"], expires_in_days=30
    )
    refused = Client(HTTP_AUTHORIZATION=f"Bearer {upload_only}").post(
        "/api/v1/sharing/requests/",
        {"folder": folder.pk, "title": "Radios", "max_files": 3},
        content_type="application/json",
    )
    assert refused.status_code == 403  # opening the drive to outsiders takes "share"
    _token, plaintext = account_tokens.token_create(
        actor=owner, name="script", scopes=["read", "share"], expires_in_days=30
    )
    api = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    created = api.post(
        "/api/v1/sharing/requests/",
        {"folder": folder.pk, "title": "Radios", "max_files": 3},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["url"].startswith("http")
    assert "/r/" in body["url"]
    assert body["max_files"] == 3
    assert body["status"] == "open"
    token = body["url"].rstrip("/").rsplit("/", 1)[-1]
    assert Client().get(f"/r/{token}/").status_code == 200
    detail = api.get(f"/api/v1/sharing/requests/{body['id']}/")
    assert "url" not in detail.json()
    closed = api.post(f"/api/v1/sharing/requests/{body['id']}/close/")
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed"
    assert Client().get(f"/r/{token}/").status_code == 410


def test_bad_uploader_email_is_refused(owner: User) -> None:
    _file_request, token = create_request(owner, results_folder(owner))
    response = tus_create(Client(), token, 10, uploader_email="not-an-email")
    assert response.status_code == 400
    assert not FileRequestUpload.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_cannot_overrun_the_limits(owner: User, on_postgres: None) -> None:
    """Eight uploads start at the same instant against a request that takes three:
    exactly three are accepted (the reservation is taken under a row lock)."""
    import threading

    from django.db import connections

    file_request, token = file_requests.file_request_create(
        actor=owner,
        folder=results_folder(owner),
        title="Course",
        expires_at=timezone.now() + timedelta(days=1),
        max_files=3,
    )
    barrier = threading.Barrier(8)
    statuses: list[int] = []

    def attempt(number: int) -> None:
        try:
            barrier.wait(timeout=30)
            client = Client(REMOTE_ADDR=f"192.0.2.{number + 1}")
            statuses.append(tus_create(client, token, 1000, f"part-{number}.pdf").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(number,)) for number in range(8)]
    try:
        for thread in threads:
            thread.start()
    finally:
        threads_join(*threads)
    assert sorted(statuses) == [201, 201, 201, 413, 413, 413, 413, 413]
    file_request.refresh_from_db()
    assert file_request.files_reserved == 3
    assert FileRequestUpload.objects.filter(request=file_request).count() == 3


def test_a_request_whose_folder_was_deleted_answers_410(owner: User) -> None:
    folder = results_folder(owner)
    _file_request, token = create_request(owner, folder)
    services.folder_delete(actor=owner, folder=folder)
    assert Client().get(f"/r/{token}/").status_code == 410
    assert tus_create(Client(), token, 10).status_code == 410


def test_a_request_sent_to_several_people_tells_none_what_the_others_sent(owner: User) -> None:
    """One request link mailed to several patients: each sees the request's own limits
    and whether it is open, never how many files and bytes the others left room for
    (which told one patient that another had sent something, and how much)."""
    folder = results_folder(owner)
    _file_request, token = create_request(owner, folder, max_files=5, max_megabytes=10)
    first_patient = Client()
    assert upload_whole(first_patient, token, content_of(600_000)).status_code == 204
    second_patient = Client()
    page = second_patient.get(f"/r/{token}/").content.decode()
    assert "still send" not in page
    assert "4 files" not in page
    assert "Up to 5 files, " in page  # the request's own limits
    too_big = tus_create(second_patient, token, 9_500_000, "scanner.pdf")
    assert too_big.status_code == 413
    assert "left" not in too_big.json()["detail"]
    assert "too large" in too_big.json()["detail"]
