"""Content coming in: plaintext is hashed, sniffed and encrypted as it arrives.

``BlobIngest`` turns a stream of plaintext chunks into a new encrypted blob for a new
version: it never holds more than one segment of plaintext (in ``BlobEncryptor``) plus
the first ``SNIFF_BYTES`` for type detection, and writes nothing but ciphertext.

``EncryptingUploadHandler`` feeds it from Django's multipart parser, chunk by chunk, as
the request body is read. ``settings.FILE_UPLOAD_HANDLERS`` is empty on purpose (Django's
defaults spool uploads to plaintext temporary files); upload views install this handler
with ``request.upload_handlers = [...]`` before anything reads the body.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import magic
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile, StopUpload
from django.http import HttpRequest
from django.utils.translation import gettext as _

from files.crypto import BlobEncryptor, ciphertext_size
from files.errors import QuotaExceededError
from files.keys import associated_data, data_key_new_wrapped
from files.storage import BlobStore, BlobWriter, blob_key_new, blob_store

# libmagic decides from the first bytes; 64 KiB covers every format it knows by a
# header (DICOM's "DICM" sits at offset 128; OOXML's zip entries in the first KiB).
SNIFF_BYTES = 64 * 1024
# Bytes read from the request per call: one blob segment at the default size, which is
# also what measured best for reads through the WSGI stack (FIELD-NOTES).
UPLOAD_CHUNK_SIZE = 1024 * 1024
# Multipart framing around the file (boundaries, part headers, the CSRF field): what a
# Content-Length may exceed the file by before the size check refuses it up front.
MULTIPART_OVERHEAD_ALLOWANCE = 64 * 1024
UPLOAD_FIELD = "file"


def content_type_detect(head: bytes) -> str:
    """The type libmagic sees in the first bytes; never what the client claimed."""
    if not head:
        return "application/octet-stream"
    detected = str(magic.from_buffer(head, mime=True) or "")
    if not detected or detected in {"application/x-empty", "inode/x-empty"}:
        return "application/octet-stream"
    return detected[:255]


def size_refusal(*, limit: int, quota_room: int, reserved: int = 0) -> QuotaExceededError:
    """The 413 message: says which limit applies and how much is left (and, when uploads
    in progress hold part of the quota, how much they hold)."""
    from core.sizes import size_text as filesizeformat  # one unit system (core/sizes.py)

    if quota_room <= limit and reserved:
        return QuotaExceededError(
            _(
                "This file does not fit in the space: %(room)s left of its quota, with "
                "%(reserved)s held by uploads in progress. Finish or cancel those uploads, "
                "delete files or empty the trash, or ask an administrator for more room."
            )
            % {"room": filesizeformat(quota_room), "reserved": filesizeformat(reserved)}
        )
    if quota_room <= limit:
        return QuotaExceededError(
            _(
                "This file does not fit in the space: %(room)s left of its quota. "
                "Delete files or empty the trash, or ask an administrator for more room."
            )
            % {"room": filesizeformat(quota_room)}
        )
    return QuotaExceededError(
        _("This file is larger than the %(limit)s an upload may hold.")
        % {"limit": filesizeformat(limit)}
    )


@dataclass(frozen=True)
class SealedBlob:
    """A finished blob for a version that does not exist yet: what the database needs."""

    version_id: uuid.UUID
    blob_key: str
    size: int
    ciphertext_size: int
    sha256: str
    content_type: str
    kek_id: str
    wrapped_data_key: bytes
    segment_size: int


class BlobIngest:
    """Encrypts a stream of plaintext into a new blob, with a size ceiling.

    ``write()`` chunks, then ``finish()``; on any failure (or when the version is not
    created after all) ``discard()`` removes the blob, whether or not it was finished.
    Exceeding ``max_bytes`` raises ``QuotaExceededError`` (the caller's ``refusal``)
    after discarding what was written.
    """

    def __init__(
        self,
        *,
        max_bytes: int,
        refusal: QuotaExceededError | None = None,
        size_hint: int | None = None,
        store: BlobStore | None = None,
        segment_size: int | None = None,
        version_id: uuid.UUID | None = None,
    ) -> None:
        # A new version's id; an existing one's only to re-encrypt it (new data key).
        self.version_id = version_id or uuid.uuid4()
        self.segment_size = int(segment_size or settings.FILES_SEGMENT_SIZE)
        data_key, self._wrapped = data_key_new_wrapped(self.version_id)
        self._encryptor = BlobEncryptor(
            data_key, associated_data(self.version_id), self.segment_size
        )
        del data_key  # only the encryptor's derived key remains
        self._store = store or blob_store()
        self.blob_key = blob_key_new()
        expected = None if size_hint is None else ciphertext_size(size_hint, self.segment_size)
        self._writer: BlobWriter | None = self._store.writer(self.blob_key, size_hint=expected)
        self._max_bytes = max_bytes
        self._refusal = refusal
        self._sha256 = hashlib.sha256()
        self._head = bytearray()
        self.size = 0
        self._finished = False
        self._discarded = False
        self._writer.write(self._encryptor.header())

    def write(self, chunk: bytes) -> None:
        writer = self._writer
        if writer is None:
            raise RuntimeError("this blob is finished or discarded")
        if self.size + len(chunk) > self._max_bytes:
            self.discard()
            raise self._refusal or QuotaExceededError(_("This file is too large."))
        self.size += len(chunk)
        self._sha256.update(chunk)
        if len(self._head) < SNIFF_BYTES:
            self._head += chunk[: SNIFF_BYTES - len(self._head)]
        for sealed in self._encryptor.update(chunk):
            writer.write(sealed)

    def finish(self) -> SealedBlob:
        writer = self._writer
        if writer is None:
            raise RuntimeError("this blob is finished or discarded")
        writer.write(self._encryptor.finalize())
        written = writer.commit()
        self._writer = None
        self._finished = True
        expected = ciphertext_size(self.size, self.segment_size)
        if written != expected:  # a storage bug, never a client's doing
            self.discard()
            raise RuntimeError(f"blob {self.blob_key}: wrote {written} bytes, expected {expected}")
        return SealedBlob(
            version_id=self.version_id,
            blob_key=self.blob_key,
            size=self.size,
            ciphertext_size=written,
            sha256=self._sha256.hexdigest(),
            content_type=content_type_detect(bytes(self._head)),
            kek_id=self._wrapped.kek_id,
            wrapped_data_key=self._wrapped.wrapped,
            segment_size=self.segment_size,
        )

    def discard(self) -> None:
        """Remove the blob: abort a partial one, delete a finished one. Idempotent."""
        if self._discarded:
            return
        self._discarded = True
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.abort()
        if self._finished:
            self._store.delete(self.blob_key)


class EncryptedUpload(UploadedFile):  # type: ignore[type-arg]
    """What ``request.FILES["file"]`` holds: a name and a sealed blob, no content."""

    def __init__(self, *, name: str, sealed: SealedBlob) -> None:
        super().__init__(file=None, name=name, content_type=sealed.content_type, size=sealed.size)
        self.sealed = sealed

    def close(self) -> None:
        pass


class EncryptingUploadHandler(FileUploadHandler):
    """Django upload handler: encrypts the ``file`` field into storage as it arrives.

    One file per request. Other file fields are skipped (read and dropped). When the
    size ceiling is crossed the upload stops at once and ``refusal`` says why.
    ``discard_unclaimed()`` (the view calls it in ``finally``) removes the blob unless
    a version was created for it (``claim()``).
    """

    chunk_size = UPLOAD_CHUNK_SIZE

    def __init__(
        self,
        request: HttpRequest,
        *,
        max_bytes: int,
        refusal: QuotaExceededError,
        size_hint: int | None = None,
    ) -> None:
        super().__init__(request)
        self._max_bytes = max_bytes
        self._refusal_on_overflow = refusal
        self._size_hint = size_hint
        self._ingest: BlobIngest | None = None
        self.sealed: SealedBlob | None = None
        self.refusal: QuotaExceededError | None = None
        self._claimed = False

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        if field_name != UPLOAD_FIELD or self._ingest is not None or self.refusal is not None:
            raise SkipFile
        self._ingest = BlobIngest(
            max_bytes=self._max_bytes,
            refusal=self._refusal_on_overflow,
            size_hint=self._size_hint,
        )

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        ingest = self._ingest
        if ingest is None:
            return None
        try:
            ingest.write(raw_data)
        except QuotaExceededError as refusal:
            self.refusal = refusal
            # Do not read the rest: the response says 413 and closes the connection.
            raise StopUpload(connection_reset=True) from None
        return None

    def file_complete(self, file_size: int) -> EncryptedUpload | None:
        ingest = self._ingest
        if ingest is None or self.refusal is not None:
            return None
        self.sealed = ingest.finish()
        return EncryptedUpload(name=str(self.file_name), sealed=self.sealed)

    def upload_interrupted(self) -> None:
        self.discard_unclaimed()

    def claim(self) -> None:
        """A version now owns the blob: keep it."""
        self._claimed = True

    def discard_unclaimed(self) -> None:
        if self._ingest is not None and not self._claimed:
            self._ingest.discard()
