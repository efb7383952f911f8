"""tus uploads sealed at PATCH time in the final blob format: a clinician's client sends
a study in pieces of any size (even one byte at a time), some requests die half-way,
and what reaches storage and the database is only ciphertext, decryptable as the
version's blob without re-encryption."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import io
import itertools
from typing import Any

import pytest
from django.test import Client, override_settings

from accounts.models import User
from files import tus
from files.crypto import HEADER_SIZE
from files.models import File, FileVersion, UploadSession
from tests.files_helpers import SEGMENT, Backend, content_of
from tests.test_tus import (
    TUS,
    create,
    location,
    patch,
    sha256_header,
    stored_plaintext,
    token_client,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("small_segments")]


def session_of(url: str) -> UploadSession:
    return UploadSession.objects.get(pk=url.rstrip("/").rsplit("/", 1)[1])


def uploaded(name: str = "scan.dcm") -> FileVersion:
    version = File.objects.get(name=name).current_version
    assert version is not None
    return version


def assert_only_ciphertext(backend: Backend, content: bytes) -> None:
    """Nothing stored, nor the carry in the database, holds a run of the plaintext."""
    probes = [content[i : i + 24] for i in range(0, max(1, len(content) - 24), 40)]
    for key, stored in backend.everything():
        for probe in probes:
            assert probe not in stored, key
    for session in UploadSession.objects.all():
        for probe in probes:
            assert probe not in bytes(session.carry)


def test_a_patch_ending_mid_segment_leaves_an_encrypted_carry_the_next_one_completes(
    owner: User, backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    api = token_client(owner)
    content = content_of(5 * SEGMENT + 17, seed="carry")
    url = location(create(api, len(content)))
    cut = 2 * SEGMENT + 30  # inside the third segment

    assert patch(api, url, 0, content[:cut]).status_code == 204

    session = session_of(url)
    assert session.offset == cut
    assert session.segments_sealed == 2  # whole segments sealed, the rest carried
    assert len(bytes(session.carry)) > 30  # the 30 bytes, encrypted with nonce and tag
    assert_only_ciphertext(backend, content)
    assert api.head(url, headers=TUS)["Upload-Offset"] == str(cut)

    with django_capture_on_commit_callbacks(execute=True):
        response = patch(api, url, cut, content[cut:], checksum=sha256_header(content[cut:]))
    assert response.status_code == 204, response.content
    version = uploaded()
    assert version.size == len(content)
    assert stored_plaintext(version) == content
    assert_only_ciphertext(backend, content)
    # Completion assembled the ciphertext; the staging objects are gone.
    assert not [key for key, _stored in backend.everything() if key.startswith("uploads/")]


def test_one_byte_patches_build_the_same_file(owner: User, folder_backend: Backend) -> None:
    api = token_client(owner)
    content = content_of(2 * SEGMENT + 5, seed="bytes")
    url = location(create(api, len(content)))
    for offset in range(len(content)):
        response = patch(api, url, offset, content[offset : offset + 1])
        assert response.status_code == 204, (offset, response.content)
        assert response["Upload-Offset"] == str(offset + 1)
    assert stored_plaintext(uploaded()) == content
    # Every request committed what it sealed: no request left nonces behind to re-key.
    assert session_of(url).generation == 0


def test_an_empty_file_and_a_file_of_whole_segments_complete(owner: User, backend: Backend) -> None:
    api = token_client(owner)
    empty = create(api, 0, name="empty.txt")
    assert empty.status_code == 201
    assert stored_plaintext(uploaded("empty.txt")) == b""

    content = content_of(3 * SEGMENT, seed="whole")
    url = location(create(api, len(content), name="whole.bin"))
    assert patch(api, url, 0, content[: 2 * SEGMENT]).status_code == 204
    assert patch(api, url, 2 * SEGMENT, content[2 * SEGMENT :]).status_code == 204
    assert stored_plaintext(uploaded("whole.bin")) == content


def test_a_request_that_died_while_sealing_is_resumed_under_a_fresh_header(
    owner: User, backend: Backend
) -> None:
    api = token_client(owner)
    content = content_of(6 * SEGMENT + 9, seed="died")
    url = location(create(api, len(content)))
    assert patch(api, url, 0, content[: SEGMENT + 10]).status_code == 204
    before = session_of(url)

    # A web process that dies after sealing three more segments (the exception stands for
    # the kill: nothing after it runs, the row is not updated).
    body = io.BytesIO(content[SEGMENT + 10 : 5 * SEGMENT])

    def dying_read(size: int) -> bytes:
        if body.tell() >= 2 * SEGMENT:
            raise KeyboardInterrupt
        return body.read(size)

    with pytest.raises(KeyboardInterrupt):
        tus.upload_append(
            actor=owner,
            session=before,
            offset_header=str(SEGMENT + 10),
            content_length=4 * SEGMENT - 10,
            read=dying_read,
        )
    assert api.head(url, headers=TUS)["Upload-Offset"] == str(SEGMENT + 10)

    # The client resumes from the committed offset, with different piece sizes.
    response = patch(api, url, SEGMENT + 10, content[SEGMENT + 10 :])
    assert response.status_code == 204, response.content
    after = session_of(url)
    assert after.generation == before.generation + 1
    assert bytes(after.blob_header) != bytes(before.blob_header)
    assert stored_plaintext(uploaded()) == content
    assert_only_ciphertext(backend, content)


def test_a_checksum_mismatch_discards_the_chunk_and_the_retry_is_resealed(
    owner: User, folder_backend: Backend
) -> None:
    api = token_client(owner)
    content = content_of(4 * SEGMENT + 3, seed="checksum")
    url = location(create(api, len(content)))
    assert patch(api, url, 0, content[:50]).status_code == 204
    corrupted = content[50:200] + b"!"
    bad = patch(api, url, 50, corrupted, checksum=sha256_header(content[50:201]))
    assert bad.status_code == 460
    assert api.head(url, headers=TUS)["Upload-Offset"] == "50"
    good = patch(api, url, 50, content[50:], checksum=sha256_header(content[50:]))
    assert good.status_code == 204
    assert session_of(url).generation == 1
    assert stored_plaintext(uploaded()) == content


def test_a_second_request_racing_at_the_same_offset_gets_409_or_its_own_header(
    owner: User, folder_backend: Backend
) -> None:
    api = token_client(owner)
    content = content_of(4 * SEGMENT, seed="race")
    url = location(create(api, len(content)))
    # The first request has reserved segments and is still sealing them.
    UploadSession.objects.filter(pk=session_of(url).pk).update(segments_sealed=3)
    second = Client(HTTP_AUTHORIZATION=api.defaults["HTTP_AUTHORIZATION"])
    assert patch(second, url, 0, content[: 2 * SEGMENT]).status_code == 204
    session = session_of(url)
    assert session.generation == 1
    assert patch(api, url, 2 * SEGMENT, content[2 * SEGMENT :]).status_code == 204
    assert stored_plaintext(uploaded()) == content


@pytest.mark.usefixtures("backend")
def test_large_patches_on_s3_are_composed_inside_the_bucket(
    owner: User, backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    """1 MiB segments, PATCHes over S3's 5 MiB part minimum: the blob is assembled with
    server-side copies of the staging objects plus small buffered stretches."""
    mib = 1024 * 1024
    content = content_of(13 * mib + 5, seed="s3-compose")
    with override_settings(FILES_SEGMENT_SIZE=mib):
        api = token_client(owner)
        url = location(create(api, len(content)))
        cuts = [0, 6 * mib + 3, 12 * mib + 1, len(content)]
        with django_capture_on_commit_callbacks(execute=True):
            for start, end in itertools.pairwise(cuts):
                response = patch(api, url, start, content[start:end])
                assert response.status_code == 204, response.content
    version = uploaded()
    assert version.ciphertext_size == HEADER_SIZE + len(content) + 14 * 16
    assert stored_plaintext(version) == content
    assert not [key for key, _stored in backend.everything() if key.startswith("uploads/")]
