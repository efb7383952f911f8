"""Resumable uploads: the tus 1.0 protocol over encrypted storage (docs/uploads.md).

tus 1.0 (https://tus.io/protocols/resumable-upload) with the creation,
creation-with-upload, termination, checksum and expiration extensions. The views in
``files/tus_views.py`` only translate HTTP; the rules live here.

State lives in the database (``UploadSession``) and in storage, never in a web process,
so consecutive PATCH requests may reach different replicas. No plaintext reaches disk:

* each upload has a random key, kept only wrapped by the keyring and bound to the
  upload id (the same envelope as a version's data key);
* each PATCH body is read in bounded chunks straight from the WSGI input (no Django
  upload handler, no ``request.body``) and written as **one chunk object** in storage,
  ``uploads/<upload id>/<offset>-<random>``, as a sequence of records
  ``uint32_be(plaintext length) ‖ nonce (12) ‖ AES-256-GCM(ciphertext ‖ tag)``, each
  record at most one segment (1 MiB) of plaintext. The associated data of a record is
  ``upload id ‖ uint64_be(plaintext offset)``: a record only decrypts at its place.
  Nonces are random (96 bits; far below the 2^32 records per key NIST allows), so two
  PATCHes racing at the same offset never reuse a nonce; only one of them commits.
* A PATCH therefore never carries a partial segment to the next one: whatever arrived
  is a complete, encrypted chunk object. The offset moves forward only once the
  object is committed (fsync'ed, or the S3 multipart upload completed) and recorded in
  the same row update: a web process killed mid-PATCH leaves the offset where it was,
  and the client resumes from there (HEAD).
* When the last byte arrives, the chunks are decrypted in order and streamed through
  ``BlobIngest`` (SHA-256, type sniffing, the version's own data key and blob format),
  the version is created by ``files.services.file_upload`` (status pending; it
  enqueues the scan pipeline after commit). The chunk objects are then deleted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import struct
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.files.storage import storages
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from audit.models import Outcome
from files import selectors, services
from files.crypto import generate_data_key
from files.envelope import WrappedKey, unwrap_data_key, wrap_data_key
from files.errors import (
    FileNotFoundForActor,
    FileRuleError,
    NameClashError,
    QuotaExceededError,
)
from files.keys import keyring
from files.models import Folder, UploadSession
from files.names import name_clean, name_key
from files.selectors import Permission
from files.services.common import record
from files.storage import blob_store
from files.uploads import UPLOAD_CHUNK_SIZE, BlobIngest, size_refusal

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration"
CHECKSUM_ALGORITHMS = {"sha256": hashlib.sha256, "sha1": hashlib.sha1}
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
UPLOADS_PREFIX = "uploads"
NONCE_SIZE = 12
TAG_SIZE = 16
_RECORD_HEAD = struct.Struct(">I")
# Plaintext per record: one blob segment, the read size that measured best (FIELD-NOTES).
RECORD_SIZE = UPLOAD_CHUNK_SIZE
# Folders a dropped folder tree may nest (relativePath): a guard against path bombs.
MAX_FOLDER_DEPTH = 32


class TusError(Exception):
    """A protocol error with the status tus 1.0 prescribes and a message for people."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# --- Keys and records --------------------------------------------------------------------


def _upload_associated_data(upload_id: uuid.UUID) -> bytes:
    return b"tus-upload:" + str(upload_id).encode("ascii")


def _upload_key(session: UploadSession) -> bytes:
    return unwrap_data_key(
        keyring(),
        WrappedKey(session.kek_id, bytes(session.wrapped_key)),
        _upload_associated_data(session.pk),
    )


def _record_associated_data(upload_id: uuid.UUID, offset: int) -> bytes:
    return upload_id.bytes + offset.to_bytes(8, "big")


class ChunkWriter:
    """Encrypts one PATCH body into one chunk object, record by record."""

    def __init__(self, session: UploadSession, key: bytes) -> None:
        self._upload_id = session.pk
        self._cipher = AESGCM(key)
        self._store = blob_store()
        self.key = f"{UPLOADS_PREFIX}/{session.pk}/{session.offset}-{secrets.token_hex(8)}"
        self._writer = self._store.writer(self.key)
        self.start = session.offset
        self.length = 0
        self.stored = 0

    def write(self, plaintext: bytes) -> None:
        view = memoryview(plaintext)
        for position in range(0, len(view), RECORD_SIZE):
            piece = view[position : position + RECORD_SIZE]
            nonce = secrets.token_bytes(NONCE_SIZE)
            sealed = self._cipher.encrypt(
                nonce, piece, _record_associated_data(self._upload_id, self.start + self.length)
            )
            data = _RECORD_HEAD.pack(len(piece)) + nonce + sealed
            self._writer.write(data)
            self.length += len(piece)
            self.stored += len(data)

    def commit(self) -> dict[str, Any]:
        self._writer.commit()
        return {"key": self.key, "offset": self.start, "length": self.length, "stored": self.stored}

    def abort(self) -> None:
        self._writer.abort()


def _chunk_plaintext(session: UploadSession, key: bytes, chunk: dict[str, Any]) -> Iterator[bytes]:
    """The plaintext of one chunk object, record by record, each authenticated first."""
    cipher = AESGCM(key)
    reader = blob_store().reader(chunk["key"], span=(0, int(chunk["stored"])))
    try:
        position, offset, end = 0, int(chunk["offset"]), int(chunk["offset"]) + int(chunk["length"])
        while offset < end:
            head = bytes(reader.read_at(position, _RECORD_HEAD.size + NONCE_SIZE))
            if len(head) != _RECORD_HEAD.size + NONCE_SIZE:
                raise TusError(500, "upload chunk is cut short")
            (length,) = _RECORD_HEAD.unpack(head[: _RECORD_HEAD.size])
            if not 0 < length <= RECORD_SIZE:
                raise TusError(500, "upload chunk has an impossible record")
            position += len(head)
            sealed = bytes(reader.read_at(position, length + TAG_SIZE))
            position += len(sealed)
            try:
                plaintext = cipher.decrypt(
                    head[_RECORD_HEAD.size :],
                    sealed,
                    _record_associated_data(session.pk, offset),
                )
            except InvalidTag:
                raise TusError(500, "upload chunk failed authentication") from None
            offset += len(plaintext)
            yield plaintext
    finally:
        reader.close()


# --- Metadata --------------------------------------------------------------------------


def metadata_parse(header: str) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs (tus 1.0)."""
    result: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in header.split(","))):
        key, _sep, value = pair.partition(" ")
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise TusError(400, _("Upload-Metadata is not valid base64 UTF-8.")) from None
        result[key] = decoded
    return result


def checksum_parse(header: str) -> tuple[str, bytes]:
    """``Upload-Checksum: <algorithm> <base64 digest>``; unsupported algorithm → 400."""
    algorithm, _sep, value = header.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise TusError(400, _("Unsupported checksum algorithm."))
    try:
        return algorithm, base64.b64decode(value.strip(), validate=True)
    except binascii.Error:
        raise TusError(400, _("Upload-Checksum is not valid base64.")) from None


# --- Lookups -----------------------------------------------------------------------------


def _expiry() -> datetime:
    return timezone.now() + timedelta(seconds=int(settings.TUS_EXPIRY_SECONDS))


def upload_get_for_actor(*, actor: User, upload_id: str) -> UploadSession:
    """The actor's own upload, 404 for anyone else's (never confirms it exists), 410
    when expired."""
    try:
        parsed = uuid.UUID(upload_id)
    except ValueError:
        raise TusError(404, _("No such upload.")) from None
    session = UploadSession.objects.filter(pk=parsed, owner=actor).first()
    if session is None:
        raise TusError(404, _("No such upload."))
    if session.completed_at is None and session.expires_at <= timezone.now():
        raise TusError(410, _("This upload expired: start it again."))
    return session


# --- Creation ----------------------------------------------------------------------------


def _reject(actor: User, target: Folder | None, reason: str, **details: Any) -> None:
    if target is None:
        return
    with transaction.atomic():
        record(
            "files.upload.reject",
            actor=actor,
            target=target,
            outcome=Outcome.DENIED,
            reason=reason[:300],
            **details,
        )


def _folder_for_path(actor: User, folder: Folder, relative_path: str) -> Folder:
    parts = [part for part in relative_path.split("/") if part][:-1]  # the last is the file
    if len(parts) > MAX_FOLDER_DEPTH:
        raise FileRuleError(_("This folder is nested too deeply."))
    for part in parts:
        key = name_key(name_clean(part))
        existing = Folder.objects.filter(parent=folder, name_key=key, deleted_at__isnull=True)
        found = existing.first()
        if found is None:
            try:
                found = services.folder_create(actor=actor, parent=folder, name=part)
            except NameClashError:
                # Another file of the same drop made it first (or a file has that name).
                found = existing.first()
                if found is None:
                    raise
        folder = found
    return folder


def upload_create(*, actor: User, length_header: str | None, metadata_header: str) -> UploadSession:
    """POST: a new upload, checked against the name rules, the size policy and the quota
    now (413 before a byte is sent)."""
    if length_header is None or not length_header.isdigit():
        raise TusError(400, _("Upload-Length is required (Upload-Defer-Length is not supported)."))
    length = int(length_header)
    metadata = metadata_parse(metadata_header)
    folder_raw = metadata.get("folder", "")
    if folder_raw:
        if not folder_raw.isdigit():
            raise TusError(400, _("The folder in Upload-Metadata must be a folder id."))
        try:
            folder = selectors.folder_get_for_actor(
                actor=actor, folder_id=int(folder_raw), need=Permission.EDIT
            )
        except FileNotFoundForActor:
            raise TusError(404, _("No such folder.")) from None
    else:
        folder = services.space_root(services.space_personal_get_or_create(user=actor))
    raw_name = metadata.get("filename") or metadata.get("name") or ""
    try:
        name = name_clean(raw_name)
        # A dropped folder: "relativePath" (tus-js-client/Uppy's name) is the file's path
        # inside it; its folders are made under the target folder, each name checked.
        folder = _folder_for_path(actor, folder, metadata.get("relativePath", ""))
    except FileRuleError as error:
        _reject(actor, folder, str(error), name=raw_name[:255], size=length)
        raise TusError(400, str(error)) from None
    ceiling = int(settings.TUS_MAX_SIZE_BYTES)
    room = selectors.space_room_bytes(folder.space)
    if length > min(ceiling, room):
        refusal = size_refusal(limit=ceiling, quota_room=room)
        _reject(actor, folder, str(refusal), name=name, size=length)
        raise TusError(413, str(refusal))
    upload_id = uuid.uuid4()
    key = generate_data_key()
    wrapped = wrap_data_key(keyring(), key, _upload_associated_data(upload_id))
    with transaction.atomic():
        session = UploadSession.objects.create(
            id=upload_id,
            owner=actor,
            folder=folder,
            name=name,
            length=length,
            kek_id=wrapped.kek_id,
            wrapped_key=wrapped.wrapped,
            expires_at=_expiry(),
        )
        record(
            "files.upload.start",
            actor=actor,
            target=folder,
            upload=str(upload_id),
            name=name,
            size=length,
        )
    return session


# --- PATCH ------------------------------------------------------------------------------


@dataclass
class PatchResult:
    session: UploadSession
    completed: bool


def upload_append(
    *,
    actor: User,
    session: UploadSession,
    offset_header: str | None,
    content_length: int,
    read: Callable[[int], bytes],
    checksum_header: str | None = None,
) -> PatchResult:
    """Encrypt ``content_length`` bytes from ``read`` into a chunk object and move the
    offset, or raise ``TusError`` with nothing committed."""
    if offset_header is None or not offset_header.isdigit():
        raise TusError(400, _("Upload-Offset is required."))
    if int(offset_header) != session.offset:
        raise TusError(409, _("Upload-Offset does not match the upload's offset."))
    if session.completed_at is not None:
        raise TusError(409, _("This upload is already complete."))
    if session.offset + content_length > session.length:
        raise TusError(413, _("The body goes past Upload-Length."))
    checksum = checksum_parse(checksum_header) if checksum_header else None
    digest = CHECKSUM_ALGORITHMS[checksum[0]]() if checksum else None
    if content_length:
        writer = ChunkWriter(session, _upload_key(session))
        try:
            remaining = content_length
            while remaining:
                data = read(min(RECORD_SIZE, remaining))
                if not data:
                    break  # the client went away: keep what arrived (tus 1.0 allows it)
                remaining -= len(data)
                if digest is not None:
                    digest.update(data)
                writer.write(data)
            if (
                digest is not None
                and checksum is not None
                and (remaining or not secrets.compare_digest(digest.digest(), checksum[1]))
            ):
                # tus checksum extension: a cut or corrupted chunk is discarded whole, 460.
                raise TusError(460, _("Checksum mismatch: the chunk was discarded."))
            if writer.length == 0:
                writer.abort()
                return PatchResult(session, completed=False)
            chunk = writer.commit()
        except BaseException:
            writer.abort()
            raise
        try:
            session = _chunk_record(session, chunk)
        except BaseException:
            blob_store().delete(chunk["key"])
            raise
    if session.offset == session.length:
        return PatchResult(upload_complete(actor=actor, session=session), completed=True)
    return PatchResult(session, completed=False)


def _chunk_record(session: UploadSession, chunk: dict[str, Any]) -> UploadSession:
    with transaction.atomic():
        locked = UploadSession.objects.select_for_update().get(pk=session.pk)
        if locked.offset != chunk["offset"] or locked.completed_at is not None:
            # Another request committed bytes at this offset first.
            raise TusError(409, _("Upload-Offset does not match the upload's offset."))
        locked.chunks = [*locked.chunks, chunk]
        locked.offset = int(chunk["offset"]) + int(chunk["length"])
        locked.expires_at = _expiry()
        locked.save(update_fields=["chunks", "offset", "expires_at"])
    return locked


def _plaintext(session: UploadSession) -> Iterator[bytes]:
    key = _upload_key(session)
    for chunk in session.chunks:
        yield from _chunk_plaintext(session, key, chunk)


def upload_complete(*, actor: User, session: UploadSession) -> UploadSession:
    """Every byte is here: build the version's blob and create the version (pending
    scan) with the same service as every other upload, which also enqueues the scan
    pipeline after commit; then delete the chunk objects."""
    ingest = BlobIngest(
        max_bytes=session.length,
        refusal=QuotaExceededError(_("This file is too large.")),
        size_hint=session.length,
    )
    try:
        for plaintext in _plaintext(session):
            ingest.write(plaintext)
        sealed = ingest.finish()
    except BaseException:
        ingest.discard()
        raise
    try:
        with transaction.atomic():
            locked = UploadSession.objects.select_for_update().get(pk=session.pk)
            if locked.completed_at is not None:
                raise TusError(409, _("This upload is already complete."))
            version = services.file_upload(
                actor=actor, folder=locked.folder, name=locked.name, sealed=sealed
            )
            locked.completed_at = timezone.now()
            locked.version = version
            locked.save(update_fields=["completed_at", "version"])
            record(
                "files.upload.complete",
                actor=actor,
                target=version,
                upload=str(locked.pk),
                file=version.file_id,
                name=locked.name,
                size=version.size,
                sha256=version.sha256,
            )
            keys = [chunk["key"] for chunk in locked.chunks]
            transaction.on_commit(lambda: _objects_delete(locked.pk, keys), robust=True)
    except FileRuleError as error:
        ingest.discard()
        _reject(actor, session.folder, str(error), upload=str(session.pk), name=session.name)
        upload_delete(session=session)
        raise TusError(error.status_code, str(error)) from None
    except BaseException:
        ingest.discard()
        raise
    return locked


def upload_complete_if_stranded(*, actor: User, session: UploadSession) -> UploadSession:
    """Every byte was committed but the request died before the version was made (the
    web process was killed during assembly): finish now, before telling a client that
    resumes (HEAD) that the upload is whole."""
    if session.completed_at is None and session.offset == session.length:
        return upload_complete(actor=actor, session=session)
    return session


# --- Termination and expiry ---------------------------------------------------------------


def _objects_delete(upload_id: uuid.UUID, keys: list[str]) -> None:
    """Delete the chunk objects, and anything a killed request left under the prefix."""
    store = blob_store()
    for key in keys:
        store.delete(key)
    storage = storages["default"]
    prefix = f"{UPLOADS_PREFIX}/{upload_id}"
    try:
        _folders, names = storage.listdir(prefix)
    except FileNotFoundError:
        return
    for name in names:
        storage.delete(f"{prefix}/{name}")


def upload_delete(*, session: UploadSession) -> None:
    """Termination extension (DELETE), and expiry: the row, then the chunk objects."""
    keys = [chunk["key"] for chunk in session.chunks]
    upload_id = session.pk
    with transaction.atomic():
        UploadSession.objects.filter(pk=upload_id).delete()
        transaction.on_commit(lambda: _objects_delete(upload_id, keys), robust=True)


def upload_terminate(*, actor: User, session: UploadSession) -> None:
    if session.completed_at is not None:
        raise TusError(409, _("This upload is already complete."))
    with transaction.atomic():
        record(
            "files.upload.terminate",
            actor=actor,
            target=session.folder,
            upload=str(session.pk),
            name=session.name,
            offset=session.offset,
        )
        upload_delete(session=session)


def uploads_expired_delete(now: datetime | None = None) -> int:
    """Beat: delete abandoned uploads past their expiry, and completed ones' rows after
    the same delay (their chunk objects are already gone)."""
    now = now or timezone.now()
    count = 0
    for session in UploadSession.objects.filter(expires_at__lte=now).iterator():
        upload_delete(session=session)
        count += 1
    return count
