"""Downloads and ZIP archives that decrypt ahead (files/ahead.py), left in every way a
client can leave them: closed by the server mid-stream, dropped without a close, cut
inside a Range, or never read at all. However many times that happens, no helper
thread stays behind and no blob stays open, on the folder store and on S3.
"""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import gc
import threading
from typing import Any

import pytest
from django.db import connection
from django.http import StreamingHttpResponse

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from files.downloads import version_download_response
from files.models import FileVersion
from sharing.services.archives import archive_entries_for_folder, archive_response
from tests.files_helpers import (
    SEGMENT,
    Backend,
    blob_files_open,
    chunks_of,
    content_of,
    root_of,
    version_store,
)
from tests.test_sharing_archives import get_request, response_close

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("small_segments")]

SEGMENTS = 12


def helpers_alive() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "download-ahead"]


def stored(owner: User, name: str, segments: int = SEGMENTS) -> tuple[FileVersion, bytes]:
    content = content_of(segments * SEGMENT, seed=name)
    return version_store(actor=owner, folder=root_of(owner), name=name, content=content), content


def download(owner: User, version: FileVersion, **headers: str) -> StreamingHttpResponse:
    """The response the download view returns, as the WSGI server gets it."""
    request = get_request()
    request.META.update(headers)
    response = version_download_response(request=request, actor=owner, version=version)
    assert isinstance(response, StreamingHttpResponse)
    return response


def test_many_downloads_left_midway_leave_no_helper_thread_and_no_blob_open(
    owner: User, backend: Backend
) -> None:
    version, content = stored(owner, "echo.dcm")
    for attempt in range(30):
        response = download(owner, version)
        chunks = chunks_of(response)
        for index in range(attempt % 6 + 1):
            assert next(chunks) == content[index * SEGMENT : (index + 1) * SEGMENT]
        response_close(response)  # what the WSGI server does when the client goes away
    assert helpers_alive() == []
    if backend.root is not None:
        assert blob_files_open(version.blob_key) == []
    ends = AuditEvent.objects.filter(action=Action.FILES_VERSION_SENT)
    assert ends.count() == 30
    assert not any(event.details["completed"] for event in ends)


def test_downloads_dropped_unclosed_are_released_without_the_collector_touching_the_database(
    owner: User, backend: Backend
) -> None:
    """A body nobody closes is released by the garbage collector, which runs in whatever
    thread allocates at that moment, possibly inside a query on the same connection (a
    write from there deadlocked the thread on psycopg's connection lock) or inside
    another request's transaction. So it must free the thread and the blob, and make
    no query."""
    version, _content = stored(owner, "echo.dcm")
    queries: list[str] = []

    def recorded(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries.append(sql)
        return execute(sql, params, many, context)

    for attempt in range(10):
        response = download(owner, version)
        chunks = chunks_of(response)
        for _ in range(attempt % 4 + 1):
            next(chunks)
        with connection.execute_wrapper(recorded):
            del response, chunks
            gc.collect()
    assert queries == []
    assert helpers_alive() == []
    if backend.root is not None:
        assert blob_files_open(version.blob_key) == []


def test_a_download_never_read_closes_its_blob_and_records_its_end(
    owner: User, backend: Backend
) -> None:
    version, _content = stored(owner, "echo.dcm")
    response = download(owner, version)
    if backend.root is not None:
        assert blob_files_open(version.blob_key) == [version.blob_key]
    response_close(response)  # a server that never iterates the body still closes it
    if backend.root is not None:
        assert blob_files_open(version.blob_key) == []
    end = AuditEvent.objects.get(action=Action.FILES_VERSION_SENT)
    assert (end.details["bytes"], end.details["completed"]) == (0, False)


def test_ranges_left_midway_leave_no_helper_thread(owner: User, backend: Backend) -> None:
    version, content = stored(owner, "echo.dcm")
    for first in range(0, 5 * SEGMENT, SEGMENT // 2 + 3):
        response = download(owner, version, HTTP_RANGE=f"bytes={first}-{first + 8 * SEGMENT}")
        assert response.status_code == 206
        chunks = chunks_of(response)
        taken = next(chunks) + next(chunks)
        assert content[first:].startswith(taken)
        response_close(response)
    assert helpers_alive() == []


def test_a_zip_of_many_files_runs_one_helper_at_a_time_and_none_after(
    owner: User, backend: Backend
) -> None:
    for number in range(20):
        stored(owner, f"slice-{number:02}.dcm", segments=3 + number % 4)
    stored(owner, "tiny.txt", segments=1)
    entries, _left_out = archive_entries_for_folder(root_of(owner))
    most_at_once = 0
    for leave_after in (None, 7, 40):
        response = archive_response(request=get_request(), entries=entries, archive_name="IRM")
        for taken, _chunk in enumerate(chunks_of(response)):
            most_at_once = max(most_at_once, len(helpers_alive()))
            if taken == leave_after:
                break
        response_close(response)
        assert helpers_alive() == []
    assert most_at_once == 1
    if backend.root is not None:
        assert blob_files_open(*[entry.version.blob_key for entry in entries]) == []
