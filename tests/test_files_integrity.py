"""A damaged blob never yields a byte that was not authenticated.

Each story tampers with what storage (or the database) holds, the way an attacker or a
failing disk would, then downloads through the real view: the response stops after the
last good segment (or never starts), the version is flagged, and an audit event with the
client's address is raised, even though a streaming body runs after the middleware.
"""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from files import lifecycle
from files.crypto import HEADER_SIZE, TAG_SIZE, BlobIntegrityError, segment_offset
from files.models import FileVersion
from files.storage import BlobMissingError
from tests.files_helpers import (
    SEGMENT,
    Backend,
    blob_files_open,
    chunks_of,
    content_of,
    root_of,
    version_store,
)
from tests.helpers import client_signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("small_segments")]

SIZE = 4 * SEGMENT + 10  # five segments, the last one short
SEALED = SEGMENT + TAG_SIZE
BROWSER = "Firefox/140 (ward 7)"


def stored(owner: User, name: str = "echo.dcm", seed: str = "") -> tuple[FileVersion, bytes]:
    content = content_of(SIZE, seed=seed or name)
    return version_store(actor=owner, folder=root_of(owner), name=name, content=content), content


def download(
    client: Client, version: FileVersion, **headers: Any
) -> tuple[Any, bytes, Exception | None]:
    """(response, bytes received before it stopped, what stopped it)."""
    response = client.get(f"/files/{version.file_id}/versions/{version.pk}/download/", **headers)
    received = bytearray()
    if not getattr(response, "streaming", False):
        return response, bytes(response.content), None
    try:
        for chunk in chunks_of(response):
            received += chunk
    except Exception as error:  # what the WSGI server sees: it drops the connection
        return response, bytes(received), error
    return response, bytes(received), None


def swap_columns(first: FileVersion, second: FileVersion, column: str) -> None:
    """What someone with write access to the database could do."""
    one, two = getattr(first, column), getattr(second, column)
    FileVersion.objects.filter(pk=first.pk).update(**{column: "swapping"})
    FileVersion.objects.filter(pk=second.pk).update(**{column: one})
    FileVersion.objects.filter(pk=first.pk).update(**{column: two})


def flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1 :]


def assert_flagged_and_audited(version: FileVersion, *, segment: int | None) -> None:
    version.refresh_from_db()
    assert version.integrity_failed
    event = AuditEvent.objects.get(action=Action.FILES_VERSION_INTEGRITY_FAILURE)
    assert event.outcome == "error"
    assert event.target_id == str(version.pk)
    assert event.details["during"] == "download"
    assert event.details["segment"] == segment
    # Passed explicitly: the middleware's context is gone while a body streams.
    assert event.ip_address == "127.0.0.1"
    assert event.user_agent == BROWSER


@pytest.mark.parametrize(
    ("segment", "where"),
    [(2, "a middle segment"), (4, "the last segment")],
)
def test_a_flipped_bit_stops_the_download_after_the_good_segments(
    owner: User, backend: Backend, segment: int, where: str
) -> None:
    version, content = stored(owner)
    blob = backend.raw(version.blob_key)
    backend.replace(version.blob_key, flip(blob, segment_offset(segment, SEGMENT) + 3))

    response, received, stopped = download(client_signed_in(owner, user_agent=BROWSER), version)

    assert response.status_code == 200  # already sent when segment 2 is reached
    assert isinstance(stopped, BlobIntegrityError), where
    assert stopped.segment_index == segment
    assert received == content[: segment * SEGMENT]  # every byte sent was authenticated
    assert int(response["Content-Length"]) > len(received)  # the client sees it cut
    assert_flagged_and_audited(version, segment=segment)


def test_a_tampered_header_is_refused_before_any_byte(owner: User, backend: Backend) -> None:
    version, _content = stored(owner)
    blob = backend.raw(version.blob_key)
    backend.replace(version.blob_key, flip(blob, 20))  # inside the salt

    response, received, stopped = download(client_signed_in(owner, user_agent=BROWSER), version)

    assert response.status_code == 500
    assert stopped is None
    assert b"integrity" in received  # the explanation, not file content
    assert_flagged_and_audited(version, segment=0)


def test_a_header_that_is_not_a_blob_is_refused(owner: User, folder_backend: Backend) -> None:
    version, _content = stored(owner)
    blob = folder_backend.raw(version.blob_key)
    folder_backend.replace(version.blob_key, b"NOTABLOB" + blob[8:])
    response, _received, _stopped = download(client_signed_in(owner, user_agent=BROWSER), version)
    assert response.status_code == 500
    assert_flagged_and_audited(version, segment=None)


@pytest.mark.parametrize(
    ("cut", "good_segments"),
    [
        (HEADER_SIZE + 4 * SEALED, 4),  # at a segment boundary: the final segment is gone
        (HEADER_SIZE + 2 * SEALED + 30, 2),  # inside a segment
    ],
)
def test_a_truncated_blob_stops_where_it_was_cut(
    owner: User, backend: Backend, cut: int, good_segments: int
) -> None:
    version, content = stored(owner)
    backend.replace(version.blob_key, backend.raw(version.blob_key)[:cut])

    response, received, stopped = download(client_signed_in(owner, user_agent=BROWSER), version)

    assert response.status_code == 200
    assert isinstance(stopped, BlobIntegrityError)
    assert received == content[: good_segments * SEGMENT]
    assert_flagged_and_audited(version, segment=good_segments)


def test_swapped_segments_are_refused(owner: User, backend: Backend) -> None:
    version, content = stored(owner)
    blob = backend.raw(version.blob_key)
    first, second = segment_offset(1, SEGMENT), segment_offset(2, SEGMENT)
    swapped = (
        blob[:first] + blob[second : second + SEALED] + blob[first:second] + blob[second + SEALED :]
    )
    backend.replace(version.blob_key, swapped)

    _response, received, stopped = download(client_signed_in(owner, user_agent=BROWSER), version)

    assert isinstance(stopped, BlobIntegrityError)
    assert received == content[:SEGMENT]
    assert_flagged_and_audited(version, segment=1)


def test_a_blob_swapped_in_from_another_version_is_refused(owner: User, backend: Backend) -> None:
    older, _ = stored(owner, name="letter.pdf", seed="older")
    newer, _ = stored(owner, name="letter.pdf", seed="newer")
    assert older.file_id == newer.file_id
    assert older.pk != newer.pk
    # Storage access: the older version's object now holds the newer version's blob.
    backend.replace(older.blob_key, backend.raw(newer.blob_key))

    response, received, _stopped = download(client_signed_in(owner, user_agent=BROWSER), older)

    assert response.status_code == 500
    assert content_of(SIZE, seed="newer")[:16] not in received
    assert_flagged_and_audited(older, segment=0)


def test_a_blob_key_swapped_in_the_database_is_refused(
    owner: User, folder_backend: Backend
) -> None:
    mine, _ = stored(owner, name="mine.pdf")
    other, _ = stored(owner, name="other.pdf")
    # Database access: swap two versions' blob keys.
    swap_columns(mine, other, "blob_key")
    mine.refresh_from_db()

    response, _received, _stopped = download(client_signed_in(owner, user_agent=BROWSER), mine)

    assert response.status_code == 500
    assert_flagged_and_audited(mine, segment=0)


def test_a_tampered_range_fails_before_the_response_starts(owner: User, backend: Backend) -> None:
    version, _content = stored(owner)
    blob = backend.raw(version.blob_key)
    backend.replace(version.blob_key, flip(blob, segment_offset(3, SEGMENT) + 1))
    client = client_signed_in(owner, user_agent=BROWSER)

    response, _received, _stopped = download(client, version, HTTP_RANGE=f"bytes={3 * SEGMENT}-")

    assert response.status_code == 500
    assert_flagged_and_audited(version, segment=3)


def test_a_range_that_avoids_the_damage_is_served_until_flagged(
    owner: User, backend: Backend
) -> None:
    version, content = stored(owner)
    blob = backend.raw(version.blob_key)
    backend.replace(version.blob_key, flip(blob, segment_offset(4, SEGMENT) + 1))
    client = client_signed_in(owner, user_agent=BROWSER)

    response, received, stopped = download(client, version, HTTP_RANGE="bytes=0-99")
    assert (response.status_code, received, stopped) == (206, content[:100], None)


def test_a_flagged_version_is_never_served_again(owner: User, folder_backend: Backend) -> None:
    version, _content = stored(owner)
    blob = folder_backend.raw(version.blob_key)
    folder_backend.replace(version.blob_key, flip(blob, segment_offset(1, SEGMENT)))
    client = client_signed_in(owner, user_agent=BROWSER)
    download(client, version)
    folder_backend.replace(version.blob_key, blob)  # even once the blob looks fine again

    response, received, _stopped = download(client, version)

    assert response.status_code == 409
    assert b"integrity check" in received
    denied = AuditEvent.objects.filter(action=Action.FILES_VERSION_DOWNLOAD, outcome="denied").get()
    assert denied.details["reason"] == "integrity_failed"


def test_a_tampered_wrapped_key_is_refused(owner: User, folder_backend: Backend) -> None:
    version, _content = stored(owner)
    wrapped = bytes(version.wrapped_data_key or b"")
    FileVersion.objects.filter(pk=version.pk).update(wrapped_data_key=flip(wrapped, 30))
    version.refresh_from_db()

    response, _received, _stopped = download(client_signed_in(owner, user_agent=BROWSER), version)

    assert response.status_code == 500
    assert_flagged_and_audited(version, segment=None)


def test_a_wrapped_key_moved_from_another_version_is_refused(
    owner: User, folder_backend: Backend
) -> None:
    mine, _ = stored(owner, name="mine.pdf")
    other, _ = stored(owner, name="other.pdf")
    swap_columns(mine, other, "blob_key")
    FileVersion.objects.filter(pk=mine.pk).update(wrapped_data_key=other.wrapped_data_key)
    mine.refresh_from_db()
    response, _received, _stopped = download(client_signed_in(owner, user_agent=BROWSER), mine)
    assert response.status_code == 500
    assert_flagged_and_audited(mine, segment=None)


def test_a_lost_blob_is_an_integrity_failure(owner: User, backend: Backend) -> None:
    version, _content = stored(owner)
    if backend.root is not None:
        (backend.root / version.blob_key).unlink()
    else:
        backend.s3.delete_object(Bucket=backend.bucket, Key=version.blob_key)
    response, _received, _stopped = download(client_signed_in(owner, user_agent=BROWSER), version)
    assert response.status_code == 500
    version.refresh_from_db()
    assert version.integrity_failed


# --- Scrub -----------------------------------------------------------------------------


def test_scrub_finds_damage_nobody_downloaded(owner: User, backend: Backend) -> None:
    healthy, _ = stored(owner, name="healthy.pdf")
    damaged, _ = stored(owner, name="damaged.pdf")
    blob = backend.raw(damaged.blob_key)
    backend.replace(damaged.blob_key, flip(blob, segment_offset(4, SEGMENT) + 2))

    report = lifecycle.blobs_scrub(batch=10)

    assert report.checked == 2
    assert report.failed == [str(damaged.pk)]
    healthy.refresh_from_db()
    damaged.refresh_from_db()
    assert healthy.integrity_checked_at is not None
    assert not healthy.integrity_failed
    assert damaged.integrity_failed
    failure = AuditEvent.objects.get(action=Action.FILES_VERSION_INTEGRITY_FAILURE)
    assert (failure.target_id, failure.details["during"]) == (str(damaged.pk), "scrub")
    summary = AuditEvent.objects.get(action=Action.FILES_SCRUB)
    assert summary.outcome == "error"
    assert summary.details == {"checked": 2, "failed": [str(damaged.pk)]}


def test_scrub_checks_the_least_recently_verified_first(
    owner: User, folder_backend: Backend
) -> None:
    first, _ = stored(owner, name="a.pdf")
    second, _ = stored(owner, name="b.pdf")
    third, _ = stored(owner, name="c.pdf")
    assert lifecycle.blobs_scrub(batch=2).checked == 2
    lifecycle.blobs_scrub(batch=1)
    checked = {
        version.pk: version.integrity_checked_at
        for version in FileVersion.objects.filter(pk__in=[first.pk, second.pk, third.pk])
    }
    assert all(checked.values())  # the third run took the one never checked


def test_scrub_flags_a_missing_blob(owner: User, folder_backend: Backend) -> None:
    version, _ = stored(owner)
    assert folder_backend.root is not None
    (folder_backend.root / version.blob_key).unlink()
    report = lifecycle.blobs_scrub(batch=5)
    assert report.failed == [str(version.pk)]
    assert (
        BlobMissingError.__name__
        in AuditEvent.objects.get(action=Action.FILES_VERSION_INTEGRITY_FAILURE).details["error"]
    )


def test_a_client_that_goes_away_stops_the_reading(owner: User, folder_backend: Backend) -> None:
    version, content = stored(owner)
    response = client_signed_in(owner).get(f"/files/{version.file_id}/download/")
    chunks = chunks_of(response)
    assert next(chunks) == content[:SEGMENT]
    assert next(chunks) == content[SEGMENT : 2 * SEGMENT]
    assert blob_files_open(version.blob_key) == [version.blob_key]  # still reading
    # What the WSGI server does when the connection drops: close the body iterator
    # (the test client's wrapper, which also keeps the test's database connection).
    streaming: Any = response
    streaming._iterator.close()
    assert blob_files_open(version.blob_key) == []
    version.refresh_from_db()
    assert not version.integrity_failed
