"""tus 1.0 details real clients and operators run into: the method override of clients
behind proxies that block PATCH, staging folders left on disk, and a HEAD right after a
client went away that must give the offset the next PATCH will be accepted at."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.
# ruff: noqa: F811

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from accounts.models import User
from files import tus
from files.models import File
from tests.files_helpers import (
    Backend,
    content_of,
    folder_backend,  # noqa: F401
    small_segments,  # noqa: F401
)
from tests.test_tus import TUS, create, location, patch, stored_plaintext, token_client

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
