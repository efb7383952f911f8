"""tus 1.0 details real clients and operators run into: the method override of clients
behind proxies that block PATCH, staging folders left on disk, and a HEAD right after a
client went away that must give the offset the next PATCH will be accepted at."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts import tokens
from accounts.models import User
from files import services, tus
from files.models import File, UploadSession
from sharing.services import file_requests
from tests.conftest import BrowserPage
from tests.files_helpers import Backend, content_of
from tests.helpers import client_signed_in, threads_join
from tests.test_tus import (
    TUS,
    URL,
    create,
    location,
    metadata,
    patch,
    stored_plaintext,
    token_client,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("small_segments")]


def staging_folders(backend: Backend) -> list[str]:
    assert backend.root is not None
    uploads = backend.root / "uploads"
    return sorted(path.name for path in uploads.iterdir()) if uploads.exists() else []


# --- No staging folder left behind (folder backend) ------------------------------------


def test_completed_terminated_and_expired_uploads_leave_no_staging_folder(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    api = token_client(owner)
    content = content_of(5000, seed="folders")
    # One upload completes, one is abandoned by its client, one just expires.
    completed = location(create(api, len(content), name="complete.dcm"))
    terminated = location(create(api, len(content), name="terminated.dcm"))
    expired = location(create(api, len(content), name="expired.dcm"))
    for url in (completed, terminated, expired):
        assert patch(api, url, 0, content[:2000]).status_code == 204
    assert len(staging_folders(folder_backend)) == 3

    with django_capture_on_commit_callbacks(execute=True):
        assert patch(api, completed, 2000, content[2000:]).status_code == 204
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(terminated, headers=TUS).status_code == 204
    with (
        time_machine.travel(timezone.now() + timedelta(days=2), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert tus.uploads_expired_delete() == 2  # the expired one, and the completed row

    assert staging_folders(folder_backend) == []
    version = File.objects.get(name="complete.dcm").current_version
    assert version is not None
    assert stored_plaintext(version) == content


# --- X-HTTP-Method-Override (tus 1.0 core protocol) ------------------------------------


def overridden(client: Client, url: str, method: str, *, offset: int = 0, data: bytes = b"") -> Any:
    """What a client behind a proxy that only passes POST sends (tus-js-client's
    ``overridePatchMethod``)."""
    return client.post(
        url,
        data,
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={**TUS, "Upload-Offset": str(offset), "X-HTTP-Method-Override": method},
    )


def test_a_client_that_can_only_post_uploads_resumes_and_terminates_by_method_override(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    api = token_client(owner)
    content = content_of(3000, seed="override")
    url = location(create(api, len(content)))

    first = overridden(api, url, "PATCH", data=content[:1000])
    assert first.status_code == 204, first.content
    assert first["Upload-Offset"] == "1000"
    head = overridden(api, url, "head")  # the value is a method name: any case
    assert head.status_code == 200
    assert head["Upload-Offset"] == "1000"
    with django_capture_on_commit_callbacks(execute=True):
        last = overridden(api, url, "PATCH", offset=1000, data=content[1000:])
    assert last.status_code == 204, last.content
    version = File.objects.get(name="scan.dcm").current_version
    assert version is not None
    assert stored_plaintext(version) == content

    other = location(create(api, 100, name="abandoned.dcm"))
    assert overridden(api, other, "DELETE").status_code == 204
    assert api.head(other, headers=TUS).status_code == 404


def test_method_override_keeps_the_checks_of_the_post_and_names_only_tus_methods(
    owner: User, folder_backend: Backend
) -> None:
    api = token_client(owner)
    url = location(create(api, 100))
    # A read-only token may not write through an override either.
    _token, reader = tokens.token_create(
        actor=owner, name="Viewer", scopes=["read"], expires_in_days=30
    )
    read_only = Client(HTTP_AUTHORIZATION=f"Bearer {reader}")
    assert overridden(read_only, url, "PATCH", data=b"x").status_code == 403
    assert overridden(Client(), url, "DELETE").status_code in {401, 403}
    # Only the methods tus lets a client hide behind POST; never GET, never PUT.
    refused = overridden(api, url, "PUT", data=b"x")
    assert refused.status_code == 400
    assert "X-HTTP-Method-Override" in refused.json()["detail"]
    assert overridden(api, url, "GET").status_code == 400
    # A safe method never turns into a write: the header counts on POST only.
    sneaky = api.get(url, headers={**TUS, "X-HTTP-Method-Override": "DELETE"})
    assert sneaky.status_code == 405
    # The collection has no PATCH.
    assert overridden(api, URL, "PATCH", data=b"x").status_code == 405
    assert UploadSession.objects.get().offset == 0


def test_method_override_from_a_browser_session_still_needs_the_csrf_token(
    owner: User, folder_backend: Backend
) -> None:
    browser = client_signed_in(owner)
    browser.handler.enforce_csrf_checks = True
    token = str(browser.get("/files/", follow=True).context["csrf_token"])
    created = browser.post(
        URL,
        b"",
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={
            **TUS,
            "Upload-Length": "10",
            "Upload-Metadata": metadata(filename="note.txt"),
            "X-CSRFToken": token,
        },
    )
    url = location(created)
    assert overridden(browser, url, "PATCH", data=b"0123456789").status_code == 403
    assert overridden(browser, url, "DELETE").status_code == 403
    assert UploadSession.objects.get().offset == 0
    accepted = browser.post(
        url,
        b"0123456789",
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={
            **TUS,
            "Upload-Offset": "0",
            "X-HTTP-Method-Override": "PATCH",
            "X-CSRFToken": token,
        },
    )
    assert accepted.status_code == 204, accepted.content
    assert File.objects.filter(name="note.txt").exists()
    # creation-with-upload from the browser: the CSRF check takes the header's token and
    # leaves the upload data alone (it used to answer 415 to any POST with a body).
    with_data = browser.post(
        URL,
        b"short note",
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={
            **TUS,
            "Upload-Length": "10",
            "Upload-Metadata": metadata(filename="short.txt"),
            "X-CSRFToken": token,
        },
    )
    assert with_data.status_code == 201, with_data.content
    assert with_data["Upload-Offset"] == "10"


def test_a_lab_answering_a_file_request_can_upload_by_method_override(
    owner: User, folder_backend: Backend
) -> None:
    root = services.space_root(services.space_personal_get_or_create(user=owner))
    _request, token = file_requests.file_request_create(
        actor=owner, folder=root, title="Bilan", expires_at=timezone.now() + timedelta(days=3)
    )
    lab = Client()
    endpoint = f"/r/{token}/uploads/"
    created = lab.post(
        endpoint,
        b"",
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={**TUS, "Upload-Length": "2000", "Upload-Metadata": metadata(filename="b.pdf")},
    )
    assert created.status_code == 201, created.content
    url = location(created)
    content = content_of(2000, seed="lab-override")
    assert overridden(lab, url, "PATCH", data=content[:700])["Upload-Offset"] == "700"
    assert overridden(lab, url, "HEAD")["Upload-Offset"] == "700"
    assert overridden(lab, url, "PUT").status_code == 400
    assert overridden(lab, endpoint, "PATCH", data=b"x").status_code == 405
    assert overridden(lab, url, "PATCH", offset=700, data=content[700:]).status_code == 204
    version = File.objects.get(name="b.pdf").current_version
    assert version is not None
    assert stored_plaintext(version) == content

    other = location(
        lab.post(
            endpoint,
            b"",
            content_type=tus.OFFSET_CONTENT_TYPE,
            headers={**TUS, "Upload-Length": "10", "Upload-Metadata": metadata(filename="c.pdf")},
        )
    )
    assert overridden(lab, other, "DELETE").status_code == 204
    assert lab.head(other, headers=TUS).status_code == 404


def test_tus_js_client_with_override_patch_method_uploads_through_a_file_request(
    browser_page: BrowserPage, live_server: Any, owner: User, folder_backend: Backend
) -> None:
    """The real client: tus-js-client (vendored, in Chromium) with ``overridePatchMethod``
    sends every chunk as a POST carrying X-HTTP-Method-Override: PATCH."""
    root = services.space_root(services.space_personal_get_or_create(user=owner))
    _request, token = file_requests.file_request_create(
        actor=owner, folder=root, title="Bilan", expires_at=timezone.now() + timedelta(days=3)
    )
    page = browser_page.page
    sent: list[tuple[str, str]] = []
    page.on(
        "request",
        lambda request: sent.append(
            (request.method, request.headers.get("x-http-method-override", ""))
        ),
    )
    page.goto(f"/r/{token}/")
    page.wait_for_function("typeof window.tus !== 'undefined'")
    content = content_of(5000, seed="tus-js-override")
    url = page.evaluate(
        """([endpoint, bytes]) => new Promise((resolve, reject) => {
            const upload = new tus.Upload(new Blob([new Uint8Array(bytes)]), {
                endpoint,
                chunkSize: 2000,
                overridePatchMethod: true,
                retryDelays: [],
                metadata: {filename: "bilan.pdf"},
                onSuccess: () => resolve(upload.url),
                onError: (error) => reject(String(error)),
            });
            upload.start();
        })""",
        [f"/r/{token}/uploads/", list(content)],
    )
    assert url
    version = File.objects.get(name="bilan.pdf").current_version
    assert version is not None
    assert stored_plaintext(version) == content
    uploads = [entry for entry in sent if entry[0] != "GET"]
    assert uploads == [("POST", "")] + [("POST", "PATCH")] * 3


# --- HEAD and PATCH agree, even right after a client went away --------------------------


class DyingClient:
    """A PATCH body whose first ``sent`` bytes arrive, then the connection drops; the
    server notices only when ``gone`` is set (the request then commits what arrived)."""

    def __init__(self, data: bytes, sent: int) -> None:
        self.data, self.sent, self.position = data, sent, 0
        self.stalled = threading.Event()
        self.gone = threading.Event()

    def read(self, size: int) -> bytes:
        if self.position < self.sent:
            chunk = self.data[self.position : min(self.sent, self.position + size)]
            self.position += len(chunk)
            return chunk
        self.stalled.set()
        self.gone.wait(timeout=30)
        raise OSError("client disconnected")


def patch_in_background(owner: User, url: str, client: DyingClient) -> threading.Thread:
    session = UploadSession.objects.get(pk=url.rstrip("/").split("/")[-1])

    def run() -> None:
        try:
            tus.upload_append(
                actor=owner,
                session=session,
                offset_header=str(session.offset),
                content_length=len(client.data),
                read=client.read,
            )
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True)
def test_head_right_after_a_disconnect_reports_the_offset_the_next_patch_needs(
    owner: User, folder_backend: Backend, on_postgres: None
) -> None:
    api = token_client(owner)
    content = content_of(5000, seed="disconnect")
    url = location(create(api, len(content)))
    client = DyingClient(content, sent=1500)
    request = patch_in_background(owner, url, client)
    # The laptop's Wi-Fi dropped: the client asks where to resume at once, while the
    # server's request is still finishing (it notices the disconnect a moment later).
    notices = threading.Timer(0.5, client.gone.set)
    try:
        assert client.stalled.wait(timeout=30)
        notices.start()
        head = api.head(url, headers=TUS)
    finally:
        notices.cancel()  # the head has its answer: the request may notice now
        client.gone.set()
        threads_join(request, notices)
    assert head.status_code == 200
    assert head["Upload-Offset"] == "1500"
    resumed = patch(api, url, 1500, content[1500:])
    assert resumed.status_code == 204, resumed.content
    version = File.objects.get(name="scan.dcm").current_version
    assert version is not None
    assert stored_plaintext(version) == content


@pytest.mark.django_db(transaction=True)
def test_a_head_that_waits_too_long_for_a_stalled_patch_gets_423_not_a_stale_offset(
    owner: User, folder_backend: Backend, on_postgres: None, settings: Any
) -> None:
    settings.TUS_LOCK_WAIT_SECONDS = 0.2
    api = token_client(owner)
    content = content_of(3000, seed="stalled")
    url = location(create(api, len(content)))
    client = DyingClient(content, sent=1000)
    request = patch_in_background(owner, url, client)
    try:
        assert client.stalled.wait(timeout=30)
        head = api.head(url, headers=TUS)
        assert head.status_code == 423  # tus-js-client and tuspy retry it
        second = patch(api, url, 0, content)
        assert second.status_code == 423
    finally:
        client.gone.set()
        threads_join(request)
    assert api.head(url, headers=TUS)["Upload-Offset"] == "1000"


class FinishingClient(DyingClient):
    """A PATCH body whose first ``sent`` bytes arrive, then the rest once ``gone`` is
    set (the sender was only slow)."""

    def read(self, size: int) -> bytes:
        if self.position >= self.sent:
            self.stalled.set()
            self.gone.wait(timeout=30)
        chunk = self.data[self.position : self.position + size]
        self.position += len(chunk)
        return chunk


@pytest.mark.django_db(transaction=True)
def test_a_delete_while_a_patch_is_writing_waits_for_it_instead_of_pulling_the_rug(
    owner: User, folder_backend: Backend, on_postgres: None, settings: Any
) -> None:
    """A second tab (or a confused client) terminates an upload whose PATCH is still
    receiving: it is told to retry (423) rather than deleting the row and staging file
    under the PATCH, which then failed with a 500 at its commit or left its assembled
    blob behind; once the PATCH is done, the DELETE goes through."""
    settings.TUS_LOCK_WAIT_SECONDS = 0.2
    api = token_client(owner)
    content = content_of(3000, seed="rug")
    url = location(create(api, len(content)))
    client = FinishingClient(content, sent=1000)
    failures: list[BaseException] = []
    session = UploadSession.objects.get(pk=url.rstrip("/").split("/")[-1])

    def run() -> None:
        try:
            tus.upload_append(
                actor=owner,
                session=session,
                offset_header="0",
                content_length=len(content),
                read=client.read,
            )
        except BaseException as error:  # reported below
            failures.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert client.stalled.wait(timeout=30)
        deleted = api.delete(url, headers=TUS)
    finally:
        client.gone.set()
        threads_join(thread)
    assert failures == []
    assert deleted.status_code == 423
    version = File.objects.get(name="scan.dcm").current_version
    assert version is not None
    assert stored_plaintext(version) == content
    assert api.delete(url, headers=TUS).status_code == 409  # complete: nothing to cancel
