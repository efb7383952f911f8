"""An outside review of the tus uploads (December 2026): what a hostile or unlucky client
can do to an upload in flight, each story checked against the real services."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import http.client
import os
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from django.utils.crypto import get_random_string

from accounts import services as account_services
from accounts import sessions as user_sessions
from accounts import tokens
from accounts.models import PersonalAccessToken, Team, TeamMembership, User, UserSession
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from audit.readable import readable_events
from files import keys, services, tus
from files.models import File, UploadSession
from sharing.services import file_requests
from tests.conftest import missing_service
from tests.files_helpers import Backend, content_of
from tests.helpers import client_signed_in, process_stop
from tests.test_tus import create, location, metadata, token_client
from tests.test_tus_interop import Server, _start

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("small_segments")]


def _reader_that_runs(
    body: bytes, *, after: int, action: Callable[[], None]
) -> Callable[[int], bytes]:
    """A request body that runs ``action`` once ``after`` bytes were read: something that
    happens elsewhere while the bytes are still arriving."""
    sent = 0
    done = False

    def read(size: int) -> bytes:
        nonlocal sent, done
        if sent >= after and not done:
            done = True
            action()
        piece = body[sent : sent + min(size, after - sent if sent < after else size)]
        sent += len(piece)
        return piece

    return read


def test_removed_from_the_team_while_the_last_chunk_arrives_keeps_no_file_and_no_blob(
    owner: User,
    teammate: User,
    team: Team,
    backend: Backend,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Tom sends an echocardiogram into the cardiology space; his last chunk is on its
    # way when the manager moves him to another department.
    team_root = services.space_root(services.space_team_get_or_create(team=team))
    api = token_client(teammate)
    content = content_of(1000, seed="last-chunk")
    url = location(create(api, len(content), folder=team_root.pk, name="echo-dupont.dcm"))
    session = UploadSession.objects.get()

    def removed() -> None:
        account_services.team_member_remove(
            actor=owner,
            membership=TeamMembership.objects.get(team=team, user=teammate),
            reason=account_services.MembershipEndReason.TEAM_MANAGEMENT,
        )

    with pytest.raises(tus.TusError) as refused, django_capture_on_commit_callbacks(execute=True):
        tus.upload_append(
            actor=teammate,
            session=session,
            offset_header="0",
            content_length=len(content),
            read=_reader_that_runs(content, after=500, action=removed),
        )

    # Refused like the next PATCH of a leaver is: no file in the team's space, no upload
    # holding its room, no ciphertext left in storage with nothing pointing at it.
    assert refused.value.status == 403
    assert not File.objects.filter(name="echo-dupont.dcm").exists()
    assert not UploadSession.objects.exists()
    assert not backend.exists(session.blob_key)
    assert not [key for key, _data in backend.everything()]
    refusal = AuditEvent.objects.get(action=Action.FILES_UPLOAD_REJECT)
    assert refusal.outcome == Outcome.DENIED
    assert refusal.details["name"] == "echo-dupont.dcm"
    assert api.head(url, headers={"Tus-Resumable": "1.0.0"}).status_code == 404


@pytest.fixture(scope="module")
def server(django_db_setup: None, django_db_blocker: Any) -> Iterator[Server]:
    """One gunicorn server on the test database and storage folder: what a client on the
    network talks to, its request bodies arriving over a real socket."""
    with django_db_blocker.unblock():
        database = connection.settings_dict
        if connection.vendor != "postgresql":
            missing_service("gunicorn shares the test database only on PostgreSQL")
        url = (
            f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:"
            f"{database['PORT']}/{database['NAME']}"
        )
        keys.keyring()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "SECUREDRIVE_DATA_DIR": str(settings.DATA_DIR),
        "SECUREDRIVE_TEST_DATABASE_URL": url,
        "SECUREDRIVE_KEYRING_FILE": str(settings.KEYRING_FILE),
        "SECUREDRIVE_WEB_WORKERS": "1",
    }
    log = (Path(str(settings.DATA_DIR)) / "gunicorn-tus-review.log").open("wb")
    started: Server | None = None
    try:
        started = _start(env, log)
        yield started
    finally:
        try:
            if started is not None:
                started.master.terminate()
                process_stop(started.master)
        finally:
            log.close()


def _wait_for_reserved_segments() -> None:
    """Until the PATCH under way has claimed the segments it seals: its body is being
    received. Waited for, not slept: a loaded machine can take seconds to get there."""
    deadline = time.monotonic() + 60
    while UploadSession.objects.get().segments_sealed == 0:
        assert time.monotonic() < deadline, "the PATCH did not reach the server within 60 s"
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_a_token_revoked_while_its_holder_sends_a_file_keeps_none_of_it(
    server: Server, owner: User
) -> None:
    # Someone got hold of Alice's PACS token and sends a file into her space with it,
    # in one PATCH as tus-js-client does by default. She sees the use and revokes the
    # token while the body is still arriving.
    _token, plaintext = tokens.token_create(
        actor=owner, name="PACS export", scopes=["write"], expires_in_days=30
    )
    bearer = {"Authorization": f"Bearer {plaintext}", "Tus-Resumable": "1.0.0"}
    content = content_of(3 * 1024 * 1024 + 11, seed="stolen")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request(
        "POST",
        "/api/v1/uploads/",
        headers={
            **bearer,
            "Upload-Length": str(len(content)),
            "Upload-Metadata": metadata(filename="facture.pdf"),
        },
    )
    created = conn.getresponse()
    created.read()
    assert created.status == 201
    path = created.getheader("Location", "").split(f":{server.port}", 1)[1]

    conn.putrequest("PATCH", path)
    for name, value in {
        **bearer,
        "Upload-Offset": "0",
        "Content-Type": tus.OFFSET_CONTENT_TYPE,
        "Content-Length": str(len(content)),
    }.items():
        conn.putheader(name, value)
    conn.endheaders()
    conn.send(content[: 2 * 1024 * 1024])
    _wait_for_reserved_segments()
    tokens.token_revoke(actor=owner, token=PersonalAccessToken.objects.get())
    conn.send(content[2 * 1024 * 1024 :])
    answer = conn.getresponse()
    detail = answer.read().decode()
    conn.close()

    # Nothing of it was kept, the sender is told why, and the auditors see the refusal
    # with the file's name.
    assert answer.status == 403
    assert "revoked" in detail
    assert not File.objects.filter(name="facture.pdf").exists()
    assert UploadSession.objects.get().offset == 0
    refusal = AuditEvent.objects.get(action=Action.FILES_UPLOAD_REJECT)
    assert refusal.outcome == Outcome.DENIED
    assert refusal.details["name"] == "facture.pdf"
    assert refusal.details["reason"] == "token revoked during upload"
    [readable] = readable_events([refusal])
    assert readable.note == "token revoked while the file was arriving"


def test_a_name_given_twice_in_upload_metadata_is_refused_not_read_as_the_last(
    owner: User, folder_backend: Backend
) -> None:
    # A proxy, a log or a gateway's own check reads the first "filename" ("lettre.pdf");
    # the upload must not quietly land under the second ("facture.exe").
    api = token_client(owner)
    twice = metadata(filename="lettre.pdf") + "," + metadata(filename="facture.exe")

    answer = api.post(
        "/api/v1/uploads/",
        b"",
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10", "Upload-Metadata": twice},
    )

    assert answer.status_code == 400
    assert "filename" in answer.json()["detail"]
    assert not UploadSession.objects.exists()
    refusal = AuditEvent.objects.get(action=Action.REQUEST_INPUT_REFUSE)
    assert "filename" in refusal.details["message"]


@pytest.mark.django_db(transaction=True)
def test_a_chunked_patch_is_refused_instead_of_answered_as_if_stored(
    server: Server, owner: User
) -> None:
    # curl -T - and other streaming clients send a body of unknown length in chunks;
    # tus needs Content-Length. The client must not be told 204 with nothing stored.
    _token, plaintext = tokens.token_create(
        actor=owner, name="Script", scopes=["write"], expires_in_days=30
    )
    bearer = {"Authorization": f"Bearer {plaintext}", "Tus-Resumable": "1.0.0"}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request(
        "POST",
        "/api/v1/uploads/",
        headers={**bearer, "Upload-Length": "5", "Upload-Metadata": metadata(filename="a.txt")},
    )
    created = conn.getresponse()
    created.read()
    path = created.getheader("Location", "").split(f":{server.port}", 1)[1]

    conn.request(
        "PATCH",
        path,
        body=iter([b"hel", b"lo"]),  # an iterable body goes out chunked
        headers={**bearer, "Upload-Offset": "0", "Content-Type": tus.OFFSET_CONTENT_TYPE},
        encode_chunked=True,
    )
    answer = conn.getresponse()
    detail = answer.read().decode()
    conn.close()

    assert answer.status == 411
    assert "Content-Length" in detail
    assert UploadSession.objects.get().offset == 0
    refusal = AuditEvent.objects.get(action=Action.REQUEST_INPUT_REFUSE)
    assert refusal.details["status"] == 411


@pytest.mark.django_db(transaction=True)
def test_a_labs_file_arriving_as_its_requester_leaves_the_team_is_refused_not_a_500(
    server: Server, owner: User, teammate: User, team: Team
) -> None:
    # Tom asked a lab for an echocardiogram report through a file request into the
    # cardiology space; the lab's file is arriving when he is moved to another
    # department.
    team_root = services.space_root(services.space_team_get_or_create(team=team))
    _request, token = file_requests.file_request_create(
        actor=teammate,
        folder=team_root,
        title="Écho M. Dupont",
        expires_at=timezone.now() + timedelta(days=7),
    )
    lab = {"Tus-Resumable": "1.0.0"}
    content = content_of(3 * 1024 * 1024 + 11, seed="lab")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request(
        "POST",
        f"/r/{token}/uploads/",
        headers={
            **lab,
            "Upload-Length": str(len(content)),
            "Upload-Metadata": metadata(filename="echo-dupont.pdf", uploader_name="Labo"),
        },
    )
    created = conn.getresponse()
    created.read()
    assert created.status == 201
    path = created.getheader("Location", "").split(f":{server.port}", 1)[1]

    conn.putrequest("PATCH", path)
    for name, value in {
        **lab,
        "Upload-Offset": "0",
        "Content-Type": tus.OFFSET_CONTENT_TYPE,
        "Content-Length": str(len(content)),
    }.items():
        conn.putheader(name, value)
    conn.endheaders()
    conn.send(content[: 2 * 1024 * 1024])
    _wait_for_reserved_segments()
    account_services.team_member_remove(
        actor=owner,
        membership=TeamMembership.objects.get(team=team, user=teammate),
        reason=account_services.MembershipEndReason.TEAM_MANAGEMENT,
    )
    conn.send(content[2 * 1024 * 1024 :])
    answer = conn.getresponse()
    answer.read()
    conn.close()

    # A clear refusal (it was a 500; then a 403): the request closed with his leaving
    # the team (sharing.services.team_leave), nothing in the team's space, nothing held.
    assert answer.status == 410
    assert not File.objects.filter(name="echo-dupont.pdf").exists()
    assert not UploadSession.objects.exists()
    assert AuditEvent.objects.filter(action=Action.FILES_UPLOAD_REJECT).exists()
    refused = AuditEvent.objects.get(action=Action.SHARING_REQUEST_REFUSE)
    assert refused.details["reason"] == "closed during upload"


@override_settings(TUS_OPEN_UPLOADS_MAX=3)
def test_a_script_cannot_open_uploads_without_end(owner: User, folder_backend: Backend) -> None:
    # A token in a script (or a stolen one) opens one-byte uploads in a loop and never
    # sends them: each is a row, an audit event and a wrapped key, and the tus endpoint
    # is not held back by the API's rate limit (a gateway sends a study as many files).
    api = token_client(owner)
    answers = [create(api, 1, name=f"vide-{number}.txt").status_code for number in range(5)]

    assert answers == [201, 201, 201, 403, 403]
    assert UploadSession.objects.count() == 3
    # On record once (the loop goes on writing nothing more to the audit log).
    refusal = AuditEvent.objects.get(action=Action.FILES_UPLOAD_REJECT)
    assert refusal.details["reason"] == "too many uploads in progress"
    assert refusal.details["name"] == "vide-3.txt"
    assert refusal.details["next_not_recorded"] is True
    assert readable_events([refusal])[0].note == (
        "too many uploads in progress (the next ones from the same source in the following "
        "10 minutes are counted, and recorded as one event when the window ends)"
    )
    # Finishing, cancelling or letting one expire makes room again.
    first = UploadSession.objects.order_by("created_at").first()
    assert first is not None
    assert (
        api.delete(f"/api/v1/uploads/{first.pk}/", headers={"Tus-Resumable": "1.0.0"}).status_code
        == 204
    )
    assert create(api, 1, name="lettre.txt").status_code == 201


@pytest.mark.django_db(transaction=True)
def test_a_browser_session_revoked_while_it_sends_a_file_keeps_none_of_it(
    server: Server, owner: User
) -> None:
    # Alice left a session open on a ward PC and revokes it from her session list while
    # someone there is sending a file through it.
    browser = client_signed_in(owner)
    session_key = browser.session.session_key
    csrf = get_random_string(32)
    cookies = {
        "Cookie": f"{settings.SESSION_COOKIE_NAME}={session_key}; "
        f"{settings.CSRF_COOKIE_NAME}={csrf}",
        "X-CSRFToken": csrf,
        "Tus-Resumable": "1.0.0",
    }
    content = content_of(3 * 1024 * 1024 + 11, seed="ward")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request(
        "POST",
        "/api/v1/uploads/",
        headers={
            **cookies,
            "Upload-Length": str(len(content)),
            "Upload-Metadata": metadata(filename="photo.jpg"),
        },
    )
    created = conn.getresponse()
    created.read()
    assert created.status == 201
    path = created.getheader("Location", "").split(f":{server.port}", 1)[1]

    conn.putrequest("PATCH", path)
    for name, value in {
        **cookies,
        "Upload-Offset": "0",
        "Content-Type": tus.OFFSET_CONTENT_TYPE,
        "Content-Length": str(len(content)),
    }.items():
        conn.putheader(name, value)
    conn.endheaders()
    conn.send(content[: 2 * 1024 * 1024])
    _wait_for_reserved_segments()
    user_sessions.user_session_revoke(
        actor=owner, user_session=UserSession.objects.get(session_key=session_key)
    )
    conn.send(content[2 * 1024 * 1024 :])
    answer = conn.getresponse()
    answer.read()
    conn.close()

    # Refused (Django's session middleware turns the answer into a 400 when the session
    # it would save was deleted meanwhile), and nothing of the file was kept: before,
    # the same 400 came after the file had landed in Alice's space.
    assert answer.status in {400, 403}
    assert not File.objects.filter(name="photo.jpg").exists()
    assert UploadSession.objects.get().offset == 0
    refusal = AuditEvent.objects.get(action=Action.FILES_UPLOAD_REJECT)
    assert refusal.details["reason"] == "session ended during upload"


def test_the_first_staged_bytes_are_durable_with_their_folder_entries_before_the_offset_moves(
    owner: User, folder_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PATCH moves the offset only once its segments are durable. For the first PATCH
    that includes the new staging file's name in uploads/<id>/ and that folder's name in
    uploads/: fsync on the file alone leaves them to the file system's next journal
    commit, and a power cut in between loses a file whose bytes the client was told are
    stored (its resume then finds no staging file). Every fsync is seen as it is made."""
    synced: list[Path] = []
    real_fsync = os.fsync

    def fsync_seen(fd: int) -> None:
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_seen)
    api = token_client(owner)
    url = location(create(api, 1000, name="ecg.pdf"))
    session = UploadSession.objects.get()

    answer = api.generic(
        "PATCH",
        url,
        content_of(300, seed="ecg"),
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={"Tus-Resumable": "1.0.0", "Upload-Offset": "0"},
    )

    assert answer.status_code == 204
    assert folder_backend.root is not None
    uploads = (folder_backend.root / tus.UPLOADS_PREFIX).resolve()
    [staging] = list((uploads / str(session.pk)).iterdir())
    assert staging in synced
    assert uploads / str(session.pk) in synced  # the staging file's name
    assert uploads in synced  # the upload's folder's name


def test_a_completed_uploads_blob_is_durable_with_the_folders_made_for_it(
    owner: User, folder_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Completion links the staging file into blobs/<xx>/<key>; the version row that
    points to it commits right after. A blobs/<xx>/ folder made for it must be named
    durably too, or a power cut leaves a version whose blob is missing."""
    synced: list[Path] = []
    real_fsync = os.fsync

    def fsync_seen(fd: int) -> None:
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_seen)
    api = token_client(owner)
    content = content_of(300, seed="ecg")
    url = location(create(api, len(content), name="ecg.pdf"))

    answer = api.generic(
        "PATCH",
        url,
        content,
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={"Tus-Resumable": "1.0.0", "Upload-Offset": "0"},
    )

    assert answer.status_code == 204
    version = File.objects.get(name="ecg.pdf").current_version
    assert version is not None
    assert folder_backend.root is not None
    blob = (folder_backend.root / version.blob_key).resolve()
    assert blob.parent in synced  # the blob's name
    assert blob.parent.parent in synced  # its new blobs/<xx>/ folder's name
    assert blob.parent.parent.parent in synced  # the new blobs/ folder's name
