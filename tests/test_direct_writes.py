"""An upload's staging file written past the page cache (files/direct_writes.py): what
the file holds must be exactly what was written, whichever way the bytes went, across
PATCHes that start and end anywhere in a block, and a request that fails leaves what
earlier requests committed as it was."""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path
from typing import Any

import pytest

from files import direct_writes
from files.direct_writes import ALIGN, RUN_BUFFER
from files.storage import _FolderStagingWriter

HEADER = b"SDHEADER" * 5  # 40 bytes, as unaligned as the real header


def _patches(seed: int) -> list[list[bytes]]:
    """Runs of contiguous "segments" of awkward sizes: a PATCH each."""
    rng = random.Random(seed)  # noqa: S311 - test data, reproducible
    sizes = [1, ALIGN - 1, ALIGN, ALIGN + 17, 1_048_592, RUN_BUFFER - 5, RUN_BUFFER + 3]
    return [[rng.randbytes(rng.choice(sizes)) for _ in range(rng.randint(1, 4))] for _ in range(6)]


def _write_patches(path: Path, patches: list[list[bytes]], fail_at: int | None = None) -> bytes:
    """Each PATCH through its own writer, as tus does; returns what the file must hold.
    The PATCH numbered ``fail_at`` writes its segments, then aborts instead of committing."""
    expected = bytearray(HEADER)
    for number, segments in enumerate(patches):
        writer = _FolderStagingWriter(path, HEADER)
        offset = len(expected)
        for number_in_patch, segment in enumerate(segments):
            # Every other segment in place where the writer lends its buffer, as tus
            # seals into it; the others copied in by write_at.
            room = writer.room(offset, len(segment)) if number_in_patch % 2 else None
            if room is not None:
                room[:] = segment
                writer.wrote(len(segment))
            else:
                writer.write_at(offset, segment)
            offset += len(segment)
        if number == fail_at:
            writer.abort()
            continue
        assert writer.commit() == sum(map(len, segments))
        expected += b"".join(segments)
    return bytes(expected)


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "page-cache"])
def test_the_staging_file_holds_exactly_what_each_patch_wrote(
    tmp_path: Path, settings: Any, direct: bool
) -> None:
    settings.STAGING_DIRECT_IO = direct
    path = tmp_path / "uploads" / "staging"
    expected = _write_patches(path, _patches(seed=18))
    assert path.read_bytes() == expected
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_the_filesystem_here_takes_direct_writes(tmp_path: Path, settings: Any) -> None:
    """The test machine's disk accepts O_DIRECT, so the test above exercised it (on a
    filesystem that refuses it, the fallback below is what runs)."""
    settings.STAGING_DIRECT_IO = True
    path = tmp_path / "probe"
    path.write_bytes(b"")
    fd = direct_writes.direct_open(path)
    assert fd is not None
    os.close(fd)


def test_a_failed_patch_leaves_the_committed_bytes_as_they_were(
    tmp_path: Path, settings: Any
) -> None:
    settings.STAGING_DIRECT_IO = True
    path = tmp_path / "staging"
    patches = _patches(seed=5)
    expected = _write_patches(path, patches, fail_at=3)
    # What the failed PATCH gathered may or may not have reached the file past the
    # committed end (a disk error can come after some of it): what is before is intact,
    # and the next PATCH, written where the committed bytes end, overwrites the rest.
    assert path.read_bytes()[: len(expected)] == expected


def test_a_filesystem_refusing_direct_writes_at_the_first_write_gets_the_same_bytes(
    tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some filesystems accept the O_DIRECT open and refuse the write (EINVAL): the
    bytes then go through the page cache, the same bytes, and nothing is lost."""
    settings.STAGING_DIRECT_IO = True
    direct_fds: set[int] = set()
    real_open, real_pwrite = direct_writes.direct_open, os.pwrite
    refused = {"count": 0}

    def direct_open(path: Path) -> int | None:
        fd = real_open(path)
        if fd is not None:
            direct_fds.add(fd)
        return fd

    def pwrite(fd: int, data: Any, offset: int) -> int:
        if fd in direct_fds:
            refused["count"] += 1
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr("files.storage.direct_open", direct_open)
    monkeypatch.setattr(os, "pwrite", pwrite)
    path = tmp_path / "staging"
    expected = _write_patches(path, _patches(seed=7))
    assert refused["count"] >= 1
    assert path.read_bytes() == expected


def test_another_disk_error_is_not_hidden(
    tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EIO or a full disk on a direct write fails the request (the client is told and
    sends the PATCH again); only EINVAL means "not this way"."""
    settings.STAGING_DIRECT_IO = True
    real_pwrite = os.pwrite

    def pwrite(fd: int, data: Any, offset: int) -> int:
        if len(data) >= ALIGN and offset % ALIGN == 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    writer = _FolderStagingWriter(tmp_path / "staging", HEADER)
    writer.write_at(len(HEADER), os.urandom(RUN_BUFFER))
    with pytest.raises(OSError, match="No space left") as raised:
        writer.commit()
    assert raised.value.errno == errno.ENOSPC
    writer.abort()
