"""Resumable uploads reserve their room: a clinician (or a lab answering her file
request) cannot promise the same free space to several uploads. Each creation holds
its declared length in the space until it completes, is terminated or expires."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone

from accounts import tokens
from accounts.models import Team, User
from audit.actions import Action
from audit.models import AuditEvent
from files import selectors, services, tus
from files.models import File, UploadSession
from sharing.services import file_requests
from tests.files_helpers import Backend, content_of, root_of
from tests.helpers import client_signed_in, threads_join
from tests.test_tus import TUS, URL, create, location, metadata, patch, token_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("small_segments")]


def api_for(user: User, name: str, *scopes: str) -> Client:
    _token, plaintext = tokens.token_create(
        actor=user, name=name, scopes=scopes or ["write"], expires_in_days=30
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


def space_of(user: User) -> Any:
    return services.space_personal_get_or_create(user=user)


@override_settings(FILES_PERSONAL_QUOTA_BYTES=1000)
def test_creations_cannot_promise_the_same_free_room_twice(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    api = token_client(owner)
    first = create(api, 600, name="irm-1.dcm")
    assert first.status_code == 201
    # The whole room again, then just over what is left: refused before a byte is sent.
    for length in (1000, 401):
        refused = create(api, length, name="irm-2.dcm")
        assert refused.status_code == 413
        assert "held by uploads in progress" in refused.json()["detail"]
    assert create(api, 400, name="irm-3.dcm").status_code == 201
    assert create(api, 1, name="irm-4.dcm").status_code == 413
    assert selectors.space_reserved_bytes(space_of(owner)) == 1000
    rejections = AuditEvent.objects.filter(action=Action.FILES_UPLOAD_REJECT)
    assert rejections.count() == 3
    assert all(event.details["quota"] is True for event in rejections)

    # Completion: the version's real size is counted, the reservation released, at once.
    content = content_of(600, seed="irm-1")
    with django_capture_on_commit_callbacks(execute=True):
        assert patch(api, location(first), 0, content).status_code == 204
    assert selectors.space_used_bytes(space_of(owner)) == 600
    assert selectors.space_reserved_bytes(space_of(owner)) == 400
    assert create(api, 1, name="irm-5.dcm").status_code == 413


@override_settings(FILES_PERSONAL_QUOTA_BYTES=1000)
def test_staged_bytes_stay_reserved_and_termination_or_expiry_gives_the_room_back(
    owner: User, folder_backend: Backend
) -> None:
    api = token_client(owner)
    abandoned = location(create(api, 700, name="abandoned.dcm"))
    assert patch(api, abandoned, 0, content_of(300, seed="staged")).status_code == 204
    # 300 bytes staged, 400 to come: the whole 700 is held, not just what arrived.
    assert create(api, 301, name="other.dcm").status_code == 413
    assert api.delete(abandoned, headers=TUS).status_code == 204
    assert selectors.space_reserved_bytes(space_of(owner)) == 0

    location(create(api, 1000, name="forgotten.dcm"))
    assert create(api, 1, name="other.dcm").status_code == 413
    # Expired uploads hold nothing, even before the hourly beat deletes them.
    with time_machine.travel(timezone.now() + timedelta(days=2), tick=False):
        assert selectors.space_reserved_bytes(space_of(owner)) == 0
        assert create(api, 1000, name="other.dcm").status_code == 201


@override_settings(FILES_PERSONAL_QUOTA_BYTES=1000)
def test_creation_with_upload_past_the_reserved_room_is_refused_and_stores_nothing(
    owner: User, folder_backend: Backend
) -> None:
    api = token_client(owner)
    assert create(api, 900).status_code == 201
    content = content_of(200, seed="with-upload")
    response = api.post(
        URL,
        content,
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={
            **TUS,
            "Upload-Length": str(len(content)),
            "Upload-Metadata": metadata(filename="letter.pdf"),
        },
    )
    assert response.status_code == 413
    assert UploadSession.objects.count() == 1
    assert not File.objects.filter(name="letter.pdf").exists()


@override_settings(FILES_PERSONAL_QUOTA_BYTES=1000)
def test_a_creation_whose_body_is_refused_gives_its_room_back(
    owner: User, folder_backend: Backend
) -> None:
    """creation-with-upload past its own Upload-Length: refused (413) without a Location,
    so nobody could resume or terminate it; the room it reserved is free at once."""
    api = token_client(owner)
    response = api.post(
        URL,
        content_of(901, seed="too-long"),
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={**TUS, "Upload-Length": "900", "Upload-Metadata": metadata(filename="a.pdf")},
    )
    assert response.status_code == 413
    assert "Location" not in response
    assert not UploadSession.objects.exists()
    assert create(api, 900).status_code == 201


@override_settings(FILES_PERSONAL_QUOTA_BYTES=1000)
def test_other_uploads_and_the_usage_figure_count_the_reserved_room(
    owner: User, folder_backend: Backend
) -> None:
    api = token_client(owner)
    assert create(api, 800).status_code == 201
    direct = api.post(
        f"/api/v1/files/folders/{root_of(owner).pk}/upload/?name=note.txt",
        b"x" * 300,
        content_type="application/octet-stream",
    )
    assert direct.status_code == 413
    assert api.post(
        f"/api/v1/files/folders/{root_of(owner).pk}/upload/?name=note.txt",
        b"x" * 200,
        content_type="application/octet-stream",
    ).status_code in {200, 201}
    spaces = api_for(owner, "Usage", "read").get("/api/v1/files/spaces/").json()
    personal = next(space for space in spaces if space["kind"] == "personal")
    assert (personal["used_bytes"], personal["reserved_bytes"]) == (200, 800)
    page = client_signed_in(owner).get("/files/", follow=True)
    assert "held by uploads in progress" in page.content.decode()


@override_settings(FILES_TEAM_QUOTA_BYTES=1000)
def test_a_team_space_reserves_for_every_member(
    owner: User, teammate: User, team: Team, folder_backend: Backend
) -> None:
    team_root = services.space_root(services.space_team_get_or_create(team=team))
    assert create(token_client(owner), 700, folder=team_root.pk).status_code == 201
    his = token_client(teammate)
    refused = create(his, 700, folder=team_root.pk)
    assert refused.status_code == 413
    assert "held by uploads in progress" in refused.json()["detail"]
    # His personal space is another quota.
    assert create(his, 700).status_code == 201


@override_settings(FILES_PERSONAL_QUOTA_BYTES=1000)
def test_a_file_request_reserves_in_the_owners_space(owner: User, folder_backend: Backend) -> None:
    _request, token = file_requests.file_request_create(
        actor=owner,
        folder=root_of(owner),
        title="Bilan",
        expires_at=timezone.now() + timedelta(days=3),
    )
    lab = Client()

    def lab_create(length: int, name: str) -> Any:
        return lab.post(
            f"/r/{token}/uploads/",
            b"",
            content_type=tus.OFFSET_CONTENT_TYPE,
            headers={
                **TUS,
                "Upload-Length": str(length),
                "Upload-Metadata": metadata(filename=name),
            },
        )

    assert lab_create(600, "bilan-1.pdf").status_code == 201
    refused = lab_create(600, "bilan-2.pdf")
    assert refused.status_code == 413
    assert refused.json()["detail"]
    assert AuditEvent.objects.filter(action=Action.SHARING_REQUEST_REFUSE).count() == 1
    # The owner's own uploads see the lab's reservation too.
    assert create(token_client(owner), 401).status_code == 413


@pytest.mark.django_db(transaction=True)
@override_settings(FILES_PERSONAL_QUOTA_BYTES=1000)
def test_simultaneous_creations_never_promise_more_than_the_quota(
    owner: User, folder_backend: Backend, on_postgres: None
) -> None:
    """Eight clients create 300-byte uploads at the same moment: three fit."""
    space_of(owner)
    clients = [api_for(owner, f"Scanner {index}") for index in range(8)]
    statuses: list[int] = []
    start = threading.Barrier(8)

    def one(index: int, api: Client) -> None:
        try:
            start.wait(timeout=30)
            statuses.append(create(api, 300, name=f"serie-{index}.dcm").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=pair) for pair in enumerate(clients)]
    try:
        for thread in threads:
            thread.start()
    finally:
        threads_join(*threads)
    assert sorted(statuses) == [201] * 3 + [413] * 5
    assert selectors.space_reserved_bytes(space_of(owner)) == 900


@override_settings(FILES_PERSONAL_QUOTA_BYTES=1000, TUS_MAX_SIZE_BYTES=5000)
def test_a_refused_dropped_folder_leaves_no_empty_folders_behind(
    owner: User, folder_backend: Backend
) -> None:
    """A clinician drops a folder of studies too big for her room (or past the size
    ceiling): the upload is refused before a byte is sent, and the folders its path
    named are not left behind empty in her drive."""
    api = token_client(owner)

    def dropped(length: int, path: str) -> Any:
        return api.post(
            URL,
            b"",
            content_type=tus.OFFSET_CONTENT_TYPE,
            headers={
                **TUS,
                "Upload-Length": str(length),
                "Upload-Metadata": metadata(filename="image.dcm", relativePath=path),
            },
        )

    top = root_of(owner)
    assert dropped(1001, "Scanner 2026/Série 1/image.dcm").status_code == 413  # quota
    assert dropped(5001, "Scanner 2027/Série 1/image.dcm").status_code == 413  # ceiling
    assert not top.children.filter(deleted_at__isnull=True).exists()
    assert not AuditEvent.objects.filter(action=Action.FILES_FOLDER_CREATE).exists()
    assert AuditEvent.objects.filter(action=Action.FILES_UPLOAD_REJECT).count() == 2
    # Accepted: the folders are made, and on record as usual.
    assert dropped(10, "Scanner 2026/Série 1/image.dcm").status_code == 201
    made = top.children.get(name="Scanner 2026")
    assert made.children.filter(name="Série 1").exists()
    assert AuditEvent.objects.filter(action=Action.FILES_FOLDER_CREATE).count() == 2
