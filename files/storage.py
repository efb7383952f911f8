"""Blob storage: immutable ciphertext objects behind django-storages' configured backend.

Two backends, chosen from ``STORAGES["default"]``: a folder (``FileSystemStorage``,
embedded mode) and S3 (``S3Storage``: AWS, MinIO, Ceph RGW; production). Both only ever
receive ciphertext written by files/crypto.py.

* **Keys** are random (``blobs/<2 hex>/<uuid4>``), never derived from a file name, and
  a key is written once: the folder backend links the finished blob into place with
  ``os.link`` (which refuses to replace an existing file) and S3 keys are fresh UUIDs.
* **Writes stream**: ``BlobWriter.write()`` takes ciphertext segments as they are
  sealed. The folder backend writes them to a private partial file that only becomes
  visible, whole and fsync'ed, on ``commit()``; S3 sends a multipart upload, holding at
  most one part of ciphertext (S3's minimum part is 5 MiB) in memory.
* **Reads are ranged**: ``BlobReader.read_at(offset, length)`` is what
  ``files.crypto.BlobDecryptor`` needs. Over S3 the reads of one download come from a
  single ranged GET, since the decryptor reads segments at contiguous offsets.

django-storages' own ``S3File`` is not used: in read mode it downloads the whole object
to a temporary file before the first byte, which breaks constant memory and ranges.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage, storages

from files.direct_writes import AlignedWriter, direct_open, pwrite_all

BLOB_PREFIX = "blobs"
# S3 parts: at least 5 MiB except the last (S3 rule), at most 10,000 per upload.
S3_MIN_PART_SIZE = 8 * 1024 * 1024
S3_MAX_PARTS = 10_000


class BlobMissingError(Exception):
    """The blob is not in storage (deleted or lost): an integrity failure for readers."""


def blob_key_new() -> str:
    """A fresh random storage key. Never reused, never derived from a name."""
    value = uuid.uuid4().hex
    return f"{BLOB_PREFIX}/{value[:2]}/{value}"


class BlobWriter(Protocol):
    def write(self, data: bytes) -> None: ...

    def commit(self) -> int:
        """Make the blob visible under its key; returns its size in bytes."""
        ...

    def abort(self) -> None:
        """Forget everything written; safe to call after a failure, or twice."""
        ...


class BlobReader(Protocol):
    def read_at(self, offset: int, length: int) -> bytes | bytearray | memoryview: ...

    def close(self) -> None: ...


class StagingWriter(Protocol):
    """Sealed segments of a blob being assembled over several requests (resumable
    uploads, files/tus.py), written at their offsets in the final blob."""

    def write_at(self, offset: int, data: bytes | bytearray | memoryview) -> None: ...

    def room(self, offset: int, length: int) -> memoryview | None:
        """Where the ``length`` bytes at ``offset`` will be written from, for the caller to
        fill in place and then report with ``wrote``; None: use ``write_at``."""
        ...

    def wrote(self, length: int) -> None: ...

    def commit(self) -> int:
        """Make what was written durable; returns the bytes this writer wrote."""
        ...

    def abort(self) -> None:
        """Forget what this writer wrote that is not committed; safe to call twice."""
        ...


class BlobStore(Protocol):
    def writer(self, key: str, *, size_hint: int | None = None) -> BlobWriter: ...

    def reader(self, key: str, *, span: tuple[int, int] | None = None) -> BlobReader:
        """A reader; ``span`` (start, end exclusive) is where most reads will fall."""
        ...

    def delete(self, key: str) -> None:
        """Remove the blob; a blob already gone is not an error."""
        ...

    def exists(self, key: str) -> bool: ...

    # Staging: a blob assembled from sealed segments written by several requests.
    # ``stages_in_place``: the folder store keeps one staging file per upload written
    # at final offsets (header included) and links it into place at the end: no copy.
    # S3 stores each request's segments as their own object and composes them.
    stages_in_place: bool

    def staging_writer(self, key: str, *, header: bytes, start: int) -> StagingWriter: ...

    def staging_assemble(
        self, key: str, *, header: bytes, parts: list[tuple[str, int, int]], size: int
    ) -> None:
        """Build blob ``key`` of ``size`` bytes from ``header`` and ``parts``
        (staging key, offset in the blob, length), idempotently."""
        ...


# --- Folder -----------------------------------------------------------------------------


class _FolderBlobWriter:
    def __init__(self, final: Path) -> None:
        self._final = final
        self._made = _folders_missing(final.parent)
        final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._partial = final.with_name(f".{final.name}.{secrets.token_hex(6)}.partial")
        self._fd: int | None = os.open(
            self._partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600
        )
        self._size = 0

    def write(self, data: bytes) -> None:
        if self._fd is None:
            raise RuntimeError("blob writer is closed")
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._size += len(data)

    def commit(self) -> int:
        if self._fd is None:
            raise RuntimeError("blob writer is closed")
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(self._partial, self._final)  # FileExistsError rather than overwrite
        finally:
            self._partial.unlink(missing_ok=True)
        _directory_sync(self._final.parent)
        _folders_made_sync(self._made)
        return self._size

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._partial.unlink(missing_ok=True)


def _writeback_starter() -> Callable[[int, int, int], None]:
    """``start(fd, offset, length)``: ask the kernel to begin writing those dirty pages
    to disk now, without waiting (Linux ``sync_file_range(SYNC_FILE_RANGE_WRITE)``;
    elsewhere nothing). A tus PATCH calls it after each segment, so the disk writes
    while the rest of the body arrives and the fsync before the offset moves only
    waits for the last few segments (issue #18). Durability still comes from that
    fsync alone."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        sync_file_range = libc.sync_file_range
    except (OSError, AttributeError):  # pragma: no cover - not Linux/glibc
        return lambda fd, offset, length: None
    sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    sync_file_range.restype = ctypes.c_int
    write = 2  # SYNC_FILE_RANGE_WRITE

    def start(fd: int, offset: int, length: int) -> None:
        sync_file_range(fd, offset, length, write)  # advisory: a failure changes nothing

    return start


_writeback_start = _writeback_starter()


class _FolderStagingWriter:
    """pwrite into the upload's staging file, fsync on commit. Abort only closes it:
    the file also holds segments earlier requests committed.

    The first commit into a new staging file also syncs the folders that name it
    (``uploads/<id>/`` and, when just made, ``uploads/``): fsync of a new file does not
    make its directory entry durable (POSIX; ext4 leaves it to the next journal commit),
    and the offset moves right after, so a power cut in between left a client told its
    bytes were stored with no staging file to resume from."""

    def __init__(self, path: Path, header: bytes) -> None:
        # Folders this writer makes, deepest first: their entries are synced on commit.
        self._new_folders = _folders_missing(path.parent)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Read-write: the block a PATCH starts in is read back (files/direct_writes.py).
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
        try:
            self._fd: int | None = os.open(path, flags | os.O_EXCL, 0o600)
            self._new_entry: Path | None = path
        except FileExistsError:
            self._fd = os.open(path, flags, 0o600)
            self._new_entry = None
        direct_fd = direct_open(path)
        self._aligned = AlignedWriter(self._fd, direct_fd) if direct_fd is not None else None
        self._written = 0
        self.write_at(0, header)
        self._written = 0

    def write_at(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        if self._fd is None:
            raise RuntimeError("staging writer is closed")
        self._written += len(data)
        if self._aligned is not None:
            self._aligned.write_at(offset, data)
            return
        pwrite_all(self._fd, memoryview(data), offset)
        _writeback_start(self._fd, offset, len(data))

    def room(self, offset: int, length: int) -> memoryview | None:
        return self._aligned.room(offset, length) if self._aligned is not None else None

    def wrote(self, length: int) -> None:
        if self._aligned is None:
            raise RuntimeError("nothing was lent to write in place")
        self._written += length
        self._aligned.wrote(length)

    def commit(self) -> int:
        if self._fd is None:
            raise RuntimeError("staging writer is closed")
        fd, self._fd = self._fd, None
        try:
            if self._aligned is not None:
                self._aligned.flush()
            os.fsync(fd)
        finally:
            if self._aligned is not None:
                self._aligned.close()
            os.close(fd)
        if self._new_entry is not None:
            _directory_sync(self._new_entry.parent)
            _folders_made_sync(self._new_folders)
            self._new_entry, self._new_folders = None, []
        return self._written

    def abort(self) -> None:
        if self._aligned is not None:
            self._aligned.close()  # what it gathered is dropped, never written
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _folders_missing(folder: Path) -> list[Path]:
    """``folder`` and its ancestors that do not exist yet, deepest first: what a
    ``mkdir(parents=True)`` is about to make, whose names must be synced in their own
    parents before anything found through them is recorded as stored."""
    missing = []
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    return missing


def _folders_made_sync(made: list[Path]) -> None:
    for folder in made:
        _directory_sync(folder.parent)


def _directory_sync(path: Path) -> None:
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class _FolderBlobReader:
    def __init__(self, path: Path) -> None:
        from files.crypto import file_read_at

        try:
            self._file = path.open("rb", buffering=0)
        except FileNotFoundError:
            raise BlobMissingError(str(path.name)) from None
        self.read_at = file_read_at(self._file)

    def close(self) -> None:
        self._file.close()


class FolderBlobStore:
    """Blobs as files under the storage folder, owner-only (0700 folders, 0600 files)."""

    def __init__(self, storage: FileSystemStorage) -> None:
        self._storage = storage

    def _path(self, key: str) -> Path:
        return Path(self._storage.path(key))  # safe_join: never outside the folder

    def writer(self, key: str, *, size_hint: int | None = None) -> BlobWriter:
        return _FolderBlobWriter(self._path(key))

    def reader(self, key: str, *, span: tuple[int, int] | None = None) -> BlobReader:
        return _FolderBlobReader(self._path(key))

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    stages_in_place = True

    def staging_writer(self, key: str, *, header: bytes, start: int) -> StagingWriter:
        return _FolderStagingWriter(self._path(key), header)

    def staging_assemble(
        self, key: str, *, header: bytes, parts: list[tuple[str, int, int]], size: int
    ) -> None:
        """Link the staging file into place (it already is the whole blob, fsync'ed)."""
        if len(parts) != 1 or parts[0][1] != 0:
            raise ValueError("a folder upload stages in exactly one file")
        staging, final = self._path(parts[0][0]), self._path(key)
        made = _folders_missing(final.parent)
        final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            if staging.stat().st_size != size:
                raise ValueError(f"staging file {parts[0][0]} is not {size} bytes")
            os.link(staging, final)  # FileExistsError rather than overwrite
        except FileExistsError:
            if not staging.samefile(final):
                raise
        except FileNotFoundError:
            if not final.is_file() or final.stat().st_size != size:
                raise
        _directory_sync(final.parent)
        _folders_made_sync(made)


# --- S3 ---------------------------------------------------------------------------------


def _s3_error_code(error: Exception) -> str:
    response: Any = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class _S3BlobWriter:
    def __init__(self, client: Any, bucket: str, name: str, part_size: int) -> None:
        self._client = client
        self._bucket = bucket
        self._name = name
        self._part_size = part_size
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._size = 0
        self._closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closed:
            raise RuntimeError("blob writer is closed")
        self._buffer += data
        self._size += len(data)
        while len(self._buffer) >= self._part_size:
            part = bytes(self._buffer[: self._part_size])
            del self._buffer[: self._part_size]
            self._part_upload(part)

    def _part_upload(self, body: bytes) -> None:
        if self._upload_id is None:
            created = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._name)
            self._upload_id = str(created["UploadId"])
        number = len(self._parts) + 1
        response = self._client.upload_part(
            Bucket=self._bucket,
            Key=self._name,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=body,
        )
        self._parts.append({"ETag": response["ETag"], "PartNumber": number})

    def commit(self) -> int:
        if self._closed:
            raise RuntimeError("blob writer is closed")
        self._closed = True
        if self._upload_id is None:
            self._client.put_object(Bucket=self._bucket, Key=self._name, Body=bytes(self._buffer))
        else:
            if self._buffer:
                self._part_upload(bytes(self._buffer))
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._name,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._buffer = bytearray()
        return self._size

    def abort(self) -> None:
        self._closed = True
        self._buffer = bytearray()
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=self._name, UploadId=upload_id
            )


class _S3BlobReader:
    """Reads inside ``span`` come from one ranged GET, read in order; others (the
    header, when the span starts later) from a GET of exactly what is asked."""

    def __init__(self, client: Any, bucket: str, name: str, span: tuple[int, int] | None):
        self._client = client
        self._bucket = bucket
        self._name = name
        self._span = span
        self._body: Any = None
        self._position = -1

    def _get(self, first: int, last: int | None) -> Any:
        byte_range = f"bytes={first}-{'' if last is None else last}"
        try:
            return self._client.get_object(Bucket=self._bucket, Key=self._name, Range=byte_range)[
                "Body"
            ]
        except Exception as error:
            code = _s3_error_code(error)
            if code in {"NoSuchKey", "404"}:
                raise BlobMissingError(self._name) from None
            if code == "InvalidRange":
                return None  # nothing at that offset: the blob is shorter (truncated)
            raise

    def read_at(self, offset: int, length: int) -> bytes:
        span = self._span
        inside = span is not None and span[0] <= offset and offset + length <= span[1]
        if not inside:
            body = self._get(offset, offset + length - 1)
            if body is None:
                return b""
            try:
                return bytes(body.read())
            finally:
                body.close()
        if self._body is None or offset != self._position:
            self.close()
            assert span is not None  # noqa: S101  (inside implies a span)
            self._body = self._get(offset, span[1] - 1)
            self._position = offset
            if self._body is None:
                return b""
        data = bytes(self._body.read(length))
        self._position += len(data)
        return data

    def close(self) -> None:
        if self._body is not None:
            body, self._body = self._body, None
            body.close()


class _S3StagingWriter:
    """One request's sealed segments as one object (a multipart upload while it is
    written: at most one part in memory)."""

    def __init__(self, writer: _S3BlobWriter, start: int) -> None:
        self._writer = writer
        self._next = start

    def write_at(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        if offset != self._next:
            raise ValueError("an S3 staging object is written in order")
        self._writer.write(data)
        self._next += len(data)

    def room(self, offset: int, length: int) -> memoryview | None:
        return None  # its parts are assembled by the S3 writer, from write_at's bytes

    def wrote(self, length: int) -> None:
        raise RuntimeError("nothing was lent to write in place")

    def commit(self) -> int:
        return self._writer.commit()

    def abort(self) -> None:
        self._writer.abort()


class S3BlobStore:
    def __init__(self, storage: Any) -> None:
        self._storage = storage
        self._client = storage.connection.meta.client
        self._bucket = str(storage.bucket_name)

    def _name(self, key: str) -> str:
        # The storage's location prefix, if any, with its own path safety checks.
        return str(self._storage._normalize_name(key))

    def writer(self, key: str, *, size_hint: int | None = None) -> BlobWriter:
        part_size = S3_MIN_PART_SIZE
        if size_hint is not None:
            part_size = max(part_size, -(-size_hint // (S3_MAX_PARTS - 1)))
        return _S3BlobWriter(self._client, self._bucket, self._name(key), part_size)

    def reader(self, key: str, *, span: tuple[int, int] | None = None) -> BlobReader:
        return _S3BlobReader(self._client, self._bucket, self._name(key), span)

    def delete(self, key: str) -> None:
        self._client.delete_object(Bucket=self._bucket, Key=self._name(key))

    stages_in_place = False

    def staging_writer(self, key: str, *, header: bytes, start: int) -> StagingWriter:
        return _S3StagingWriter(
            _S3BlobWriter(self._client, self._bucket, self._name(key), S3_MIN_PART_SIZE), start
        )

    def staging_assemble(
        self, key: str, *, header: bytes, parts: list[tuple[str, int, int]], size: int
    ) -> None:
        """A multipart upload of the header and the staging objects: large stretches
        copied inside S3 (UploadPartCopy), small ones through one bounded buffer (every
        part but the last must be at least 5 MiB)."""
        expected = len(header)
        for _key, offset, length in parts:
            if offset != expected:
                raise ValueError("staging objects do not cover the blob contiguously")
            expected += length
        if expected != size:
            raise ValueError(f"staging objects hold {expected} bytes, not {size}")
        name = self._name(key)
        created = self._client.create_multipart_upload(Bucket=self._bucket, Key=name)
        upload_id = str(created["UploadId"])
        done: list[dict[str, Any]] = []
        buffer = bytearray(header)
        # Parts copied inside S3 may hold at most 5 GiB each.
        copy_max = 5 * 1024**3

        def flush() -> None:
            number = len(done) + 1
            response = self._client.upload_part(
                Bucket=self._bucket,
                Key=name,
                UploadId=upload_id,
                PartNumber=number,
                Body=bytes(buffer),
            )
            done.append({"ETag": response["ETag"], "PartNumber": number})
            buffer.clear()

        try:
            for part_key, _offset, length in parts:
                source = self._name(part_key)
                position = 0
                if buffer:
                    take = min(length, S3_MIN_PART_SIZE - len(buffer))
                    if take > 0:
                        body = self._client.get_object(
                            Bucket=self._bucket, Key=source, Range=f"bytes=0-{take - 1}"
                        )["Body"]
                        try:
                            buffer += body.read()
                        finally:
                            body.close()
                        position = take
                    if len(buffer) >= S3_MIN_PART_SIZE:
                        flush()
                while length - position >= S3_MIN_PART_SIZE:
                    # Leave at least a minimum part for the next copy, never a runt.
                    span = min(copy_max, length - position)
                    if 0 < length - position - span < S3_MIN_PART_SIZE:
                        span -= S3_MIN_PART_SIZE
                    number = len(done) + 1
                    response = self._client.upload_part_copy(
                        Bucket=self._bucket,
                        Key=name,
                        UploadId=upload_id,
                        PartNumber=number,
                        CopySource={"Bucket": self._bucket, "Key": source},
                        CopySourceRange=f"bytes={position}-{position + span - 1}",
                    )
                    done.append({"ETag": response["CopyPartResult"]["ETag"], "PartNumber": number})
                    position += span
                if position < length:
                    body = self._client.get_object(
                        Bucket=self._bucket, Key=source, Range=f"bytes={position}-{length - 1}"
                    )["Body"]
                    try:
                        buffer += body.read()
                    finally:
                        body.close()
            if buffer or not done:
                flush()
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=name,
                UploadId=upload_id,
                MultipartUpload={"Parts": done},
            )
        except BaseException:
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=name, UploadId=upload_id)
            raise

    def exists(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self._bucket, Key=self._name(key))
        except Exception as error:
            if _s3_error_code(error) in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True


def blob_store() -> BlobStore:
    """The blob store over ``STORAGES["default"]``."""
    storage = storages["default"]
    if isinstance(storage, FileSystemStorage):
        return FolderBlobStore(storage)
    from storages.backends.s3 import S3Storage

    if isinstance(storage, S3Storage):
        return S3BlobStore(storage)
    raise ImproperlyConfigured(
        f"files need FileSystemStorage or S3Storage as the default storage, not "
        f"{type(storage).__name__}"
    )
