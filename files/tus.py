"""Resumable uploads: the tus 1.0 protocol over encrypted storage (docs/uploads.md).

tus 1.0 (https://tus.io/protocols/resumable-upload) with the creation,
creation-with-upload, termination, checksum and expiration extensions. The views in
``files/views/tus.py`` only translate HTTP; the rules live here.

State lives in the database (``UploadSession``) and in storage, never in a web process,
so consecutive PATCH requests may reach different replicas. Bytes are encrypted once, as
they arrive, straight into the final blob format (files/crypto.py, docs/encryption-
format.md):

* At creation the upload gets the id of the version it will become, that version's own
  data key (stored only wrapped, bound to the version id, as on the version row), the
  final storage key, and a blob header (random salt and nonce prefix).
* A PATCH body is read in segment-sized pieces from the WSGI input (no Django upload
  handler, no ``request.body``). Each complete segment is sealed under its index (the
  offset says which; ``Upload-Length`` is mandatory, so the last one is known) and
  written at its place in the blob: on the folder backend with ``pwrite`` into one
  staging file, on S3 as one staging object per PATCH.
* A PATCH that ends inside a segment leaves that segment's plaintext as the **carry**:
  encrypted (AES-256-GCM, random nonce, a key derived from the data key, bound to the
  upload id and offset) in the row, never plaintext at rest, completed by the next PATCH.
* The offset moves forward only once the sealed segments are durable (fsync, or the S3
  object written) and recorded with the new carry in one row update: a web process
  killed mid-PATCH leaves the offset where it was; the client resumes from there.
* GCM must never seal two plaintexts under one nonce. Before sealing, a PATCH reserves
  the segment indices it may seal (``segments_sealed``). If a previous request reserved
  indices it never committed (killed, cut off by a checksum mismatch, or still racing),
  those nonces may have been used: the PATCH takes a new header and re-seals the
  committed segments under it (a new staging file or object) before going on.
* Completion only assembles ciphertext (folder: link the staging file into place, no
  copy; S3: a multipart upload that copies the staging objects inside S3), then creates
  the version row pending scan. SHA-256 and the sniffed type are filled in by the
  finalize task, which decrypts the blob anyway.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import logging
import os
import secrets
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages
from django.db import DatabaseError, OperationalError, connection, transaction
from django.http import UnreadablePostError
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from audit import context as request_context
from audit import floods
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from core.errors import RuleError
from core.http import header_count, id_number
from files import selectors, services
from files.crypto import (
    HEADER_SIZE,
    TAG_SIZE,
    SegmentSealer,
    ciphertext_size,
    header_new,
    segment_count,
    segment_offset,
)
from files.errors import (
    FileNotFoundForActor,
    FileRuleError,
    NameClashError,
    QuotaExceededError,
)
from files.keys import associated_data, data_key_new_wrapped, data_key_unwrap
from files.models import Folder, Space, UploadSession
from files.names import name_clean, name_key
from files.request_body import ReadInto
from files.selectors import Permission
from files.services.common import record
from files.storage import BlobStore, blob_key_new, blob_store
from files.uploads import SealedBlob, size_refusal

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-with-upload,termination,checksum,expiration"
CHECKSUM_ALGORITHMS = {"sha256": hashlib.sha256, "sha1": hashlib.sha1}
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
OVERRIDABLE_METHODS = frozenset({"PATCH", "DELETE", "HEAD"})
UPLOADS_PREFIX = "uploads"
CARRY_NONCE_SIZE = 12
CARRY_HKDF_INFO = b"securedrive upload carry v1"
# Folders a dropped folder tree may nest (relativePath): a guard against path bombs.
MAX_FOLDER_DEPTH = 32
logger = logging.getLogger(__name__)


# Asked before an upload becomes a file: ``None``, or why it may no longer land.
CompletionCheck = Callable[[], str | None]
# Asked once a PATCH's body has arrived, before its bytes are kept: ``None`` while the
# credential the request came with (a browser session, an API token) is still good, or
# why not ("session ended", "token revoked").
CredentialCheck = Callable[[], str | None]


class TusError(RuleError):
    """A protocol error with the status tus 1.0 prescribes and a message for people."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, status)
        self.status = status
        # Set by a caller that already put this refusal on record (its own audit event).
        self.audited = False
        # The space's quota refused it: the message speaks to the space's owner (what is
        # left, what to delete), and a file request tells its outside sender otherwise.
        self.quota = False
        if status == 412:
            # tus 1.0: a 412 (unsupported Tus-Resumable) names the versions served.
            self.headers = {"Tus-Version": TUS_VERSION}


# --- Keys and the carry ------------------------------------------------------------------


def _data_key(session: UploadSession) -> bytes:
    return data_key_unwrap(
        version_id=session.new_version_id, kek_id=session.kek_id, wrapped=bytes(session.wrapped_key)
    )


def _sealer(session: UploadSession, data_key: bytes) -> SegmentSealer:
    return SegmentSealer(
        data_key, associated_data(session.new_version_id), bytes(session.blob_header)
    )


def _carry_cipher(session: UploadSession, data_key: bytes) -> AESGCM:
    """A key of its own for the carry (random nonces), so carry and segment nonces never
    meet under one key."""
    hkdf = HKDF(
        algorithm=SHA256(),
        length=32,
        salt=None,
        info=CARRY_HKDF_INFO + associated_data(session.new_version_id),
    )
    return AESGCM(hkdf.derive(data_key))


def _carry_associated_data(session: UploadSession, start: int, length: int) -> bytes:
    return session.pk.bytes + start.to_bytes(8, "big") + length.to_bytes(8, "big")


def _carry_seal(session: UploadSession, data_key: bytes, start: int, plaintext: bytes) -> bytes:
    if not plaintext:
        return b""
    nonce = secrets.token_bytes(CARRY_NONCE_SIZE)
    return nonce + _carry_cipher(session, data_key).encrypt(
        nonce, plaintext, _carry_associated_data(session, start, len(plaintext))
    )


def _carry_open(session: UploadSession, data_key: bytes) -> bytes:
    """The plaintext of the committed partial segment (``offset % segment size`` bytes)."""
    length = session.offset % session.segment_size
    carry = bytes(session.carry)
    if not length:
        return b""
    if len(carry) != CARRY_NONCE_SIZE + length + TAG_SIZE:
        raise TusError(500, "upload carry has the wrong length")
    try:
        return _carry_cipher(session, data_key).decrypt(
            carry[:CARRY_NONCE_SIZE],
            carry[CARRY_NONCE_SIZE:],
            _carry_associated_data(session, session.offset - length, length),
        )
    except InvalidTag:
        raise TusError(500, "upload carry failed authentication") from None


# --- Metadata --------------------------------------------------------------------------


def metadata_parse(header: str) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs (tus 1.0).

    tus 1.0 requires every key to be unique: a key given twice (in one header, or in
    two ``Upload-Metadata`` headers, which the server joins with a comma) is refused,
    not read as its last value, since a proxy, a log or a gateway's own check reading
    the first would not see the name the file lands under."""
    result: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in header.split(","))):
        key, _sep, value = pair.partition(" ")
        if key in result:
            raise TusError(400, _("Upload-Metadata gives “%(key)s” twice.") % {"key": key[:40]})
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except ValueError:  # binascii.Error, UnicodeDecodeError, or a non-ASCII value
            raise TusError(400, _("Upload-Metadata is not valid base64 UTF-8.")) from None
        result[key] = decoded
    return result


def content_length_of(meta: Mapping[str, Any]) -> int:
    """A tus request body's length (``Content-Length``), 0 without a body.

    A body sent with ``Transfer-Encoding: chunked`` has no length up front: the server
    would read none of it (tus reads exactly ``Content-Length`` bytes) and answer as if
    it had stored it, 204 with the offset unchanged. Refused with 411 instead, which
    says what to send."""
    if "chunked" in str(meta.get("HTTP_TRANSFER_ENCODING", "")).lower():
        raise TusError(
            411, _("Send each chunk with a Content-Length: chunked transfer is not supported.")
        )
    length = header_count(meta.get("CONTENT_LENGTH") or "0")
    if length is None:
        raise TusError(400, "Content-Length is not a number.")
    return length


def checksum_parse(header: str) -> tuple[str, bytes]:
    """``Upload-Checksum: <algorithm> <base64 digest>``; unsupported algorithm → 400."""
    algorithm, _sep, value = header.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise TusError(400, _("Unsupported checksum algorithm."))
    try:
        return algorithm, base64.b64decode(value.strip(), validate=True)
    except ValueError:  # binascii.Error, or a non-ASCII value
        raise TusError(400, _("Upload-Checksum is not valid base64.")) from None


def method_overridden(method: str, override_header: str | None) -> str:
    """The method a tus request means: ``X-HTTP-Method-Override`` on a POST.

    tus 1.0 (core protocol, "X-HTTP-Method-Override"): the server must take the header's
    value as the request's method; clients behind proxies or in environments that only
    pass GET and POST send it (tus-js-client's ``overridePatchMethod``). Honoured on POST
    only, and only for the methods a client may need to hide (PATCH, DELETE, HEAD): a
    safe method (GET, HEAD, OPTIONS) never turns into a write, since CSRF and credential
    checks were made for the method on the wire, and a POST stays checked as a POST.
    """
    if override_header is None or method.upper() != "POST":
        return method
    wanted = override_header.strip().upper()
    if wanted == "POST":
        return method
    if wanted not in OVERRIDABLE_METHODS:
        raise TusError(400, _("X-HTTP-Method-Override must be PATCH, DELETE or HEAD."))
    return wanted


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


def _reject(actor: User, target: Folder | None, reason: str, **details: Any) -> AuditEvent | None:
    if target is None:
        return None
    with transaction.atomic():
        return record(
            Action.FILES_UPLOAD_REJECT,
            actor=actor,
            target=target,
            outcome=Outcome.DENIED,
            reason=reason[:300],
            **details,
        )


def _path_folders(relative_path: str) -> list[str]:
    """The folder names of ``relativePath`` (the last part is the file), each checked
    against the name rules, none made yet."""
    parts = [part for part in relative_path.split("/") if part][:-1]
    if len(parts) > MAX_FOLDER_DEPTH:
        raise FileRuleError(_("This folder is nested too deeply."))
    for part in parts:
        name_clean(part)
    return parts


def _folder_for_path(actor: User, folder: Folder, parts: list[str]) -> Folder:
    """The folder of ``parts`` under ``folder``, made where missing (audited by
    ``folder_create``). Called once the upload passed the name rules, the size ceiling
    and the quota: a refused upload leaves no folder behind."""
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


def upload_create(
    *,
    actor: User,
    length_header: str | None,
    metadata_header: str,
    new_file_only: bool = False,
    open_uploads_capped: bool = True,
) -> UploadSession:
    """POST: a new upload, checked against the name rules, the size policy and the quota
    now (413 before a byte is sent). ``new_file_only``: the upload never becomes a
    version of a file already in the folder (``files.services.file_upload``).
    ``open_uploads_capped``: refused past ``TUS_OPEN_UPLOADS_MAX`` unfinished uploads of
    the actor's (not for a file request's, which its own limits bound)."""
    length = header_count(length_header)
    if length is None:
        raise TusError(400, _("Upload-Length is required (Upload-Defer-Length is not supported)."))
    metadata = metadata_parse(metadata_header)
    folder_raw = metadata.get("folder", "")
    if folder_raw:
        folder_id = id_number(folder_raw)
        if folder_id is None:
            raise TusError(400, _("The folder in Upload-Metadata must be a folder id."))
        try:
            folder = selectors.folder_get_for_actor(
                actor=actor, folder_id=folder_id, need=Permission.EDIT
            )
        except FileNotFoundForActor:
            raise TusError(404, _("No such folder.")) from None
    else:
        folder = services.space_root(services.space_personal_get_or_create(user=actor))
    try:
        services.actor_still_active_check(
            actor,
            action=Action.FILES_UPLOAD_REJECT,
            target=folder,
            message=_("This account was deactivated: the upload was not kept."),
        )
    except FileRuleError as error:
        refused = TusError(403, str(error))
        refused.audited = True
        raise refused from None
    raw_name = metadata.get("filename") or metadata.get("name") or ""
    try:
        name = name_clean(raw_name)
        # A dropped folder: "relativePath" (tus-js-client/Uppy's name) is the file's path
        # inside it; its folders are made under the target folder, each name checked,
        # only once the upload passed the size and quota checks (below).
        path_folders = _path_folders(metadata.get("relativePath", ""))
    except FileRuleError as error:
        _reject(actor, folder, str(error), name=raw_name[:255], size=length)
        raise TusError(400, str(error)) from None
    if open_uploads_capped:
        _open_uploads_check(actor, folder, name, length)
    ceiling = int(settings.TUS_MAX_SIZE_BYTES)
    if length > ceiling:
        room_now = selectors.space_room_bytes(folder.space)
        refusal = size_refusal(limit=ceiling, quota_room=room_now)
        _reject(actor, folder, str(refusal), name=name, size=length)
        too_large = TusError(413, str(refusal))
        too_large.quota = room_now <= ceiling  # size_refusal then spoke of the quota
        raise too_large
    upload_id, version_id = uuid.uuid4(), uuid.uuid4()
    # The version's own data key, wrapped and bound to the version id as on its row.
    _data_key_plain, wrapped = data_key_new_wrapped(version_id)
    del _data_key_plain
    segment_size = int(settings.FILES_SEGMENT_SIZE)

    if path_folders:
        # A dropped folder's folders are made only for an upload that fits: the room is
        # checked first without a lock (the locked check below stays the one that
        # counts). Each is made in its own transaction, audited there: the audit chain's
        # lock is taken last in a transaction, so not in the one locking the space below.
        space_now = Space.objects.get(pk=folder.space_id)
        room = selectors.space_room_bytes(space_now)
        if length > room:
            refusal = size_refusal(
                limit=ceiling, quota_room=room, reserved=selectors.space_reserved_bytes(space_now)
            )
            _reject(actor, folder, str(refusal), name=name, size=length, quota=True)
            no_room = TusError(413, str(refusal))
            no_room.quota = True
            raise no_room
        try:
            target = _folder_for_path(actor, folder, path_folders)
        except FileRuleError as error:  # a folder of the path clashes with a file, say
            _reject(actor, folder, str(error), name=raw_name[:255], size=length)
            raise TusError(400, str(error)) from None
    else:
        target = folder

    def start() -> UploadSession:
        with transaction.atomic():
            # The declared length is reserved in the space from now on (the room is the
            # quota less stored and reserved bytes, selectors.space_room_bytes). Locking
            # the space row serialises creations and every other quota check, so two
            # creations cannot both take the last room.
            space = Space.objects.select_for_update(no_key=True).get(pk=folder.space_id)
            room = selectors.space_room_bytes(space)
            if length > room:
                raise size_refusal(
                    limit=ceiling, quota_room=room, reserved=selectors.space_reserved_bytes(space)
                )
            session = UploadSession.objects.create(
                id=upload_id,
                owner=actor,
                folder=target,
                name=name,
                length=length,
                new_version_id=version_id,
                blob_key=blob_key_new(),
                blob_header=header_new(segment_size),
                segment_size=segment_size,
                kek_id=wrapped.kek_id,
                wrapped_key=wrapped.wrapped,
                expires_at=_expiry(),
                new_file_only=new_file_only,
            )
            record(
                Action.FILES_UPLOAD_START,
                actor=actor,
                target=target,
                upload=str(upload_id),
                name=name,
                size=length,
            )
        return session

    try:
        return start()
    except QuotaExceededError as refusal:
        _reject(actor, folder, str(refusal), name=name, size=length, quota=True)
        no_room = TusError(413, str(refusal))
        no_room.quota = True
        raise no_room from None


def _open_uploads_check(actor: User, folder: Folder, name: str, length: int) -> None:
    """At most ``TUS_OPEN_UPLOADS_MAX`` unfinished, unexpired uploads per person. Each
    creation is a row, an audit event and a wrapped key, and the tus endpoint is exempt
    from the API's per-person rate (a gateway sends a study as many files): without a
    cap, a script with a token (or a stolen one) made empty one-byte uploads without end.
    Counted without a lock: two creations at once may pass one over the cap, which is a
    bound on abuse, not a quota. Refusals go through audit/floods.py like every rate
    limit's: the first per person and window recorded, the next ones counted into one
    ``ratelimit.flood``: a script looping on it must not write an audit event per attempt."""
    limit = int(settings.TUS_OPEN_UPLOADS_MAX)
    open_now = UploadSession.objects.filter(
        owner=actor, completed_at__isnull=True, expires_at__gt=timezone.now()
    ).count()
    if open_now < limit:
        return
    message = _(
        "You already have %(count)s uploads in progress, the most one person may have: "
        "let them finish or cancel some before starting more."
    ) % {"count": open_now}
    floods.rate_limited_record(
        endpoint=Action.FILES_UPLOAD_START,
        source=f"user:{actor.pk}",
        ip_address=request_context.current().ip_address,
        actor=actor,
        record=lambda flood: _reject(
            actor,
            folder,
            "too many uploads in progress",
            name=name,
            size=length,
            open=open_now,
            **flood,
        ),
    )
    refused = TusError(403, message)
    refused.audited = True
    raise refused


# --- One request at a time per upload -----------------------------------------------------


def _session_reloaded(session: UploadSession) -> UploadSession:
    """The row as the previous lock holder left it (404 if it terminated the upload)."""
    current = UploadSession.objects.filter(pk=session.pk).first()
    if current is None:
        raise TusError(404, _("No such upload."))
    return current


@contextmanager
def _upload_lock(upload_id: uuid.UUID, wait: float | None = None) -> Iterator[None]:
    """Held by a PATCH from its first byte to its commit, and taken by HEAD, so that HEAD
    never reports an offset a PATCH still running is about to move (tus 1.0: the offset
    HEAD returns is where the next PATCH must start).

    PostgreSQL: a session advisory lock keyed by the upload id, released when the request
    ends or, if the web process dies, with its connection, so a killed worker never
    leaves an upload locked. Other databases (SQLite, embedded mode, one host): an
    ``flock`` on a file under the data folder, released by the kernel likewise. Waiting
    longer than ``TUS_LOCK_WAIT_SECONDS`` answers 423 Locked, which tus-js-client and
    tuspy retry. The optimistic checks in ``_reserve`` / ``_commit`` stay: a lock lost
    with a broken connection must still never let two requests commit at one offset.
    """
    wait = float(settings.TUS_LOCK_WAIT_SECONDS) if wait is None else wait
    if connection.vendor != "postgresql":
        with _upload_file_lock(upload_id, wait):
            yield
        return
    key = int.from_bytes(upload_id.bytes[:8], "big", signed=True)
    # Inside a transaction (tests, or a caller's atomic block) the lock is the
    # transaction's and ends with it; otherwise it is the session's, released below.
    in_transaction = connection.in_atomic_block
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = %s", [f"{max(1, int(wait * 1000))}ms"])
            function = "pg_advisory_xact_lock" if in_transaction else "pg_advisory_lock"
            cursor.execute(f"SELECT {function}(%s)", [key])
    except OperationalError as error:
        if getattr(getattr(error, "__cause__", None), "sqlstate", None) == "55P03":
            raise TusError(423, _locked_message()) from None
        raise
    try:
        yield
    finally:
        if not in_transaction:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
            except DatabaseError:
                pass  # the connection is gone, and the lock with it


@contextmanager
def _upload_file_lock(upload_id: uuid.UUID, wait: float) -> Iterator[None]:
    folder = Path(settings.DATA_DIR) / "upload-locks"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(folder / f"{upload_id}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TusError(423, _locked_message()) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the flock


def _locked_message() -> str:
    return _("Another request is still writing to this upload: try again in a moment.")


# --- PATCH ------------------------------------------------------------------------------


@dataclass
class PatchResult:
    session: UploadSession
    completed: bool


def _segments_total(session: UploadSession) -> int:
    return segment_count(session.length, session.segment_size)


def _staging_key(session: UploadSession, start: int) -> str:
    return f"{UPLOADS_PREFIX}/{session.pk}/{session.generation}-{start}-{secrets.token_hex(6)}"


def _parts(session: UploadSession) -> list[tuple[str, int, int]]:
    return [(str(part["key"]), int(part["offset"]), int(part["stored"])) for part in session.parts]


def _sealed_read(
    store: BlobStore, parts: list[tuple[str, int, int]], index: int, size: int
) -> bytes:
    """Sealed segment ``index`` (not the last) from the staging parts that hold it."""
    offset, length = segment_offset(index, size), size + TAG_SIZE
    for key, start, stored in parts:
        if start <= offset and offset + length <= start + stored:
            reader = store.reader(key, span=(offset - start, offset - start + length))
            try:
                data = bytes(reader.read_at(offset - start, length))
            finally:
                reader.close()
            if len(data) == length:
                return data
    raise TusError(500, f"upload segment {index} is missing from staging")


def _reserve(session: UploadSession, through: int) -> UploadSession:
    """Claim segment indices up to ``through`` (exclusive) for this PATCH under the
    current header, or take a new header first when an earlier request may have sealed
    indices it never committed. Raises 409 if another request moved the upload on."""
    committed = session.offset // session.segment_size
    claimed = UploadSession.objects.filter(
        pk=session.pk,
        offset=session.offset,
        generation=session.generation,
        segments_sealed=committed,
        completed_at__isnull=True,
    ).update(segments_sealed=through)
    if claimed:
        session.segments_sealed = through
        return session
    current = UploadSession.objects.get(pk=session.pk)
    if current.offset != session.offset or current.completed_at is not None:
        raise TusError(409, _("Upload-Offset does not match the upload's offset."))
    return _rekey(current, through)


def _rekey(session: UploadSession, through: int) -> UploadSession:
    """Re-seal the committed segments under a fresh header into new staging, so that no
    nonce a dead or racing request may have used is used again."""
    store = blob_store()
    size = session.segment_size
    committed = session.offset // size
    data_key = _data_key(session)
    old_sealer, old_parts = _sealer(session, data_key), _parts(session)
    new_header = header_new(size)
    new_sealer = SegmentSealer(data_key, associated_data(session.new_version_id), new_header)
    generation = session.generation + 1
    key = f"{UPLOADS_PREFIX}/{session.pk}/{generation}-0-{secrets.token_hex(6)}"
    writer = store.staging_writer(key, header=new_header, start=HEADER_SIZE)
    try:
        for index in range(committed):
            plaintext = old_sealer.open(
                index, _sealed_read(store, old_parts, index, size), last=False
            )
            writer.write_at(
                segment_offset(index, size), new_sealer.seal(index, plaintext, last=False)
            )
        stored = writer.commit()
    except BaseException:
        writer.abort()
        store.delete(key)
        raise
    if store.stages_in_place:
        parts = [{"key": key, "offset": 0, "stored": HEADER_SIZE + stored}]
    else:
        parts = [{"key": key, "offset": HEADER_SIZE, "stored": stored}] if stored else []
    updated = UploadSession.objects.filter(
        pk=session.pk, offset=session.offset, generation=session.generation
    ).update(generation=generation, blob_header=new_header, parts=parts, segments_sealed=through)
    if not updated:
        store.delete(key)
        raise TusError(409, _("Upload-Offset does not match the upload's offset."))
    for old_key, _start, _stored in old_parts:
        store.delete(old_key)
    return UploadSession.objects.get(pk=session.pk)


def _readinto_safely(readinto: ReadInto, view: memoryview) -> int:
    try:
        return readinto(view)
    except (OSError, UnreadablePostError):
        return 0  # the client went away: keep what arrived (tus 1.0 allows it)


def _readinto_of(read: Callable[[int], bytes]) -> ReadInto:
    def readinto(view: memoryview) -> int:
        data = read(len(view))
        view[: len(data)] = data
        return len(data)

    return readinto


def upload_append(
    *,
    actor: User,
    session: UploadSession,
    offset_header: str | None,
    content_length: int,
    read: Callable[[int], bytes],
    checksum_header: str | None = None,
    readinto: ReadInto | None = None,
    completion_check: CompletionCheck | None = None,
    credential_check: CredentialCheck | None = None,
) -> PatchResult:
    """Seal the segments ``content_length`` bytes from ``read`` complete, keep the rest
    as the encrypted carry, and move the offset; or raise ``TusError`` with nothing
    committed. Holds the upload's lock throughout (``_upload_lock``).

    ``readinto`` (files/request_body.py), when given, is used instead of ``read``: the
    body is then received straight into the segment buffer. ``completion_check``: see
    ``upload_complete``. ``credential_check``: asked once the body has arrived; a
    credential that ended meanwhile keeps none of it (403, audited)."""
    offset = header_count(offset_header)
    if offset is None:
        raise TusError(400, _("Upload-Offset is required."))
    with _upload_lock(session.pk):
        return _append_locked(
            actor=actor,
            session=_session_reloaded(session),
            offset=offset,
            content_length=content_length,
            readinto=readinto or _readinto_of(read),
            checksum_header=checksum_header,
            completion_check=completion_check,
            credential_check=credential_check,
        )


def _append_locked(
    *,
    actor: User,
    session: UploadSession,
    offset: int,
    content_length: int,
    readinto: ReadInto,
    checksum_header: str | None,
    completion_check: CompletionCheck | None = None,
    credential_check: CredentialCheck | None = None,
) -> PatchResult:
    _writer_still_allowed(actor, session)
    if offset != session.offset:
        raise TusError(409, _("Upload-Offset does not match the upload's offset."))
    if session.completed_at is not None:
        raise TusError(409, _("This upload is already complete."))
    if session.offset + content_length > session.length:
        raise TusError(413, _("The body goes past Upload-Length."))
    checksum = checksum_parse(checksum_header) if checksum_header else None
    if content_length or session.length == 0:
        try:
            session = _append(session, content_length, readinto, checksum, credential_check)
        except TusError as error:
            if (
                error.status == 403
                and not User.objects.filter(pk=actor.pk, is_active=True).exists()
            ):
                # Deactivated while the body arrived (the offboarding ended the token or
                # the session): nobody can resume it, so nothing of it stays, not even
                # its row holding a place in the folder until expiry.
                upload_delete(session=session)
            raise
    if session.offset == session.length:
        completed = upload_complete(actor=actor, session=session, completion_check=completion_check)
        return PatchResult(completed, completed=True)
    return PatchResult(session, completed=False)


def _writer_still_allowed(actor: User, session: UploadSession) -> None:
    """Each PATCH asks again whether ``actor`` may still add files to the upload's
    folder: someone who left the team (or whose editor share was taken back) while a
    study was on its way must not go on filling that space's storage and holding its
    room until the last byte. The upload is discarded and the refusal recorded."""
    try:
        selectors.folder_get_for_actor(
            actor=actor, folder_id=session.folder_id, need=Permission.EDIT
        )
    except FileNotFoundForActor:
        pass
    else:
        if User.objects.filter(pk=actor.pk, is_active=True).exists():
            return
    message = _writer_refused_message()
    _reject(
        actor,
        session.folder,
        "access to the folder ended",
        upload=str(session.pk),
        name=session.name,
        offset=session.offset,
    )
    upload_delete(session=session)
    error = TusError(403, message)
    error.audited = True
    raise error


def _credential_refusal(session: UploadSession, reason: str, received: int) -> TusError:
    _reject(
        session.owner,
        session.folder,
        reason,
        upload=str(session.pk),
        name=session.name,
        offset=session.offset,
        received=received,
    )
    refused = TusError(
        403,
        _(
            "You were signed out, or your token was revoked, while this part of the file "
            "was arriving: it was not kept. Sign in again to resume the upload."
        ),
    )
    refused.audited = True
    return refused


def _writer_refused_message() -> str:
    return _("You may no longer add files to this folder: the upload was stopped.")


def _append(
    session: UploadSession,
    content_length: int,
    readinto: ReadInto,
    checksum: tuple[str, bytes] | None,
    credential_check: CredentialCheck | None = None,
) -> UploadSession:
    size, total = session.segment_size, _segments_total(session)
    start = session.offset
    end = start + content_length
    session = _reserve(session, total if end == session.length else end // size)
    data_key = _data_key(session)
    sealer = _sealer(session, data_key)
    digest = CHECKSUM_ALGORITHMS[checksum[0]]() if checksum else None
    store = blob_store()
    index = start // size
    staging_key = (
        str(session.parts[0]["key"])
        if store.stages_in_place and session.parts
        else _staging_key(session, start)
    )
    writer = store.staging_writer(
        staging_key, header=bytes(session.blob_header), start=segment_offset(index, size)
    )

    try:
        # One plaintext and one sealed buffer for the whole PATCH: the body is received
        # into the first (files/request_body.py), sealed into the second, written from it.
        segment = bytearray(size)
        view = memoryview(segment)
        sealed_buffer = bytearray(size + TAG_SIZE)
        carry = _carry_open(session, data_key)
        filled = len(carry)
        segment[:filled] = carry
        position, remaining = start, content_length
        while remaining:
            count = _readinto_safely(
                readinto, view[filled : filled + min(size - filled, remaining)]
            )
            if not count:
                break
            if digest is not None:
                digest.update(view[filled : filled + count])
            position += count
            remaining -= count
            filled += count
            if filled == size or position == session.length:
                last, at = index == total - 1, segment_offset(index, size)
                # Sealed straight into the writer's buffer where it lends one (the
                # folder store's direct writes, files/direct_writes.py): no copy.
                room = writer.room(at, filled + TAG_SIZE)
                if room is not None:
                    sealer.seal_into(index, view[:filled], room, last=last)
                    writer.wrote(len(room))
                else:
                    sealed = sealer.seal_into(index, view[:filled], sealed_buffer, last=last)
                    writer.write_at(at, sealed)
                index, filled = index + 1, 0
        if session.length == 0:
            writer.write_at(segment_offset(0, size), sealer.seal(0, b"", last=True))
            index = 1
        if (
            digest is not None
            and checksum is not None
            and (remaining or not secrets.compare_digest(digest.digest(), checksum[1]))
        ):
            # tus checksum extension: a cut or corrupted chunk is discarded whole, 460.
            raise TusError(460, _("Checksum mismatch: the chunk was discarded."))
        ended = credential_check() if credential_check is not None else None
        if ended is not None:
            # Signed out (the session revoked from the session list, a new password) or
            # the token revoked while the body arrived: a study is one PATCH of several
            # GB with tus-js-client's defaults, and the holder of a stolen token must not
            # finish planting a file after its owner revoked it. Nothing is kept.
            raise _credential_refusal(session, ended, position - start)
        stored = writer.commit()
    except BaseException:
        writer.abort()
        if not store.stages_in_place:
            store.delete(staging_key)
        raise
    new_carry = _carry_seal(session, data_key, position - filled, bytes(segment[:filled]))
    try:
        return _commit(session, start, position, index, new_carry, staging_key, stored)
    except BaseException:
        if not store.stages_in_place:
            store.delete(staging_key)
        raise


def _commit(
    session: UploadSession,
    start: int,
    position: int,
    sealed: int,
    carry: bytes,
    staging_key: str,
    stored: int,
) -> UploadSession:
    """Move the offset, in one conditional UPDATE: only if no other request committed
    bytes at this offset or re-sealed the upload meanwhile (possible only if this
    request's lock was lost with a broken connection). ``session`` is the row as read
    under the lock, and only a commit or a re-seal changes ``parts``, so the parts it
    holds are the row's whenever the condition holds."""
    in_place = blob_store().stages_in_place
    parts = session.parts
    if in_place:
        end = segment_offset(sealed, session.segment_size) if sealed else HEADER_SIZE
        if sealed and sealed == _segments_total(session):
            end = ciphertext_size(session.length, session.segment_size)
        parts = [{"key": staging_key, "offset": 0, "stored": end}]
    elif stored:
        offset = segment_offset(start // session.segment_size, session.segment_size)
        parts = [*parts, {"key": staging_key, "offset": offset, "stored": stored}]
    expires_at = _expiry()
    moved = UploadSession.objects.filter(
        pk=session.pk, offset=start, generation=session.generation, completed_at__isnull=True
    ).update(
        parts=parts, offset=position, carry=carry, segments_sealed=sealed, expires_at=expires_at
    )
    if not moved:
        if not UploadSession.objects.filter(pk=session.pk).exists():
            # Terminated or expired under this request: nothing to commit to.
            raise TusError(404, _("No such upload."))
        # Another request committed bytes at this offset first, or re-sealed.
        raise TusError(409, _("Upload-Offset does not match the upload's offset."))
    if not in_place and not stored:
        transaction.on_commit(lambda: blob_store().delete(staging_key), robust=True)
    session.parts = parts
    session.offset = position
    session.carry = carry
    session.segments_sealed = sealed
    session.expires_at = expires_at
    return session


def upload_append_at_creation(
    *, actor: User, session: UploadSession, **append: Any
) -> UploadSession:
    """creation-with-upload: the body of the creating POST, appended at offset 0.

    A body refused (checksum mismatch, past Upload-Length, a refusal at completion)
    discards the new upload: the client was answered without a Location, so it can
    neither resume nor terminate it, and its reservation (quota room, a file request's
    file and bytes) would be held until expiry; a client retrying its creation was
    refused for room it never got. Recorded as ``files.upload.reject``."""
    try:
        return upload_append(actor=actor, session=session, offset_header="0", **append).session
    except TusError as error:
        current = UploadSession.objects.filter(pk=session.pk, completed_at__isnull=True).first()
        if current is not None:
            if not error.audited:
                _reject(
                    actor,
                    current.folder,
                    str(error),
                    upload=str(current.pk),
                    name=current.name,
                    status=error.status,
                )
            upload_delete(session=current)
        raise


def _version_create(
    actor: User,
    session: UploadSession,
    sealed: SealedBlob,
    completion_check: CompletionCheck | None = None,
) -> UploadSession:
    # The uploader's row first, before the upload's (docs/architecture.md, "Lock
    # order"): a deactivation at this instant either sees the new file in its plan or
    # makes this completion wait and refuses it (403, discarded). Once per upload: the
    # PATCHes before only ask the row (_writer_still_allowed), they do not lock it.
    with services.actor_locked_transaction(
        actor,
        action=Action.FILES_UPLOAD_REJECT,
        target=session.folder,
        message=_("This account was deactivated: the upload was not kept."),
    ):
        locked = UploadSession.objects.select_for_update().filter(pk=session.pk).first()
        if locked is None:
            raise TusError(404, _("No such upload."))
        if locked.completed_at is not None:
            raise TusError(409, _("This upload is already complete."))
        refusal = completion_check() if completion_check is not None else None
        if refusal is not None:
            # 410 unless the check says otherwise (its ``status``: 413, no room left).
            raise FileRuleError(refusal, int(getattr(completion_check, "status", 410)))
        # Completed first, in this transaction: the upload's reservation is released as
        # its version's real size is counted by the quota check in file_upload (both or
        # neither, if that check refuses).
        locked.completed_at = timezone.now()
        locked.save(update_fields=["completed_at"])
        version = services.file_upload(
            actor=actor,
            folder=locked.folder,
            name=locked.name,
            sealed=sealed,
            new_file_only=locked.new_file_only,
        )
        locked.version = version
        # The name it landed under (a free variant if new_file_only met a taken one).
        locked.name = version.file.name
        locked.save(update_fields=["version", "name"])
        record(
            Action.FILES_UPLOAD_COMPLETE,
            actor=actor,
            target=version,
            upload=str(locked.pk),
            file=version.file_id,
            name=locked.name,
            size=version.size,
        )
        keys = [key for key, _start, _stored in _parts(locked)]
        transaction.on_commit(lambda: _objects_delete(locked.pk, keys), robust=True)
    return locked


def upload_complete(
    *, actor: User, session: UploadSession, completion_check: CompletionCheck | None = None
) -> UploadSession:
    """Every byte is sealed: assemble the blob from the staging ciphertext (no
    decryption) and create the version (pending scan) with the same service as every
    other upload, which also enqueues the finalize task after commit.

    ``completion_check``: asked in the completing transaction, after the upload's row is
    locked, whether the upload may still land (a file request closed or expired while
    the body was arriving); a refusal (its message) discards the upload, 410."""
    store = blob_store()
    size = ciphertext_size(session.length, session.segment_size)
    store.staging_assemble(
        session.blob_key, header=bytes(session.blob_header), parts=_parts(session), size=size
    )
    sealed = SealedBlob(
        version_id=session.new_version_id,
        blob_key=session.blob_key,
        size=session.length,
        ciphertext_size=size,
        sha256="",  # filled in by the finalize task, which decrypts the blob anyway
        content_type="",  # likewise: libmagic's verdict on the plaintext
        kek_id=session.kek_id,
        wrapped_data_key=bytes(session.wrapped_key),
        segment_size=session.segment_size,
    )
    try:
        locked = _version_create(actor, session, sealed, completion_check)
    except TusError as error:
        if error.status == 404:
            store.delete(session.blob_key)  # the upload is gone: its blob is nobody's
        raise
    except FileRuleError as error:
        store.delete(session.blob_key)
        if not error.recorded:  # a deactivation meanwhile is recorded by its guard
            _reject(actor, session.folder, str(error), upload=str(session.pk), name=session.name)
        upload_delete(session=session)
        refused = TusError(error.status_code, str(error))
        refused.quota = isinstance(error, QuotaExceededError)
        raise refused from None
    except FileNotFoundForActor:
        # The right to add files to the folder ended while the last bytes arrived (a
        # team left, an editor share taken back; the selector recorded the refused
        # access): refused as the next PATCH would be (_writer_still_allowed). Before,
        # this went out as a 404 that left the assembled blob in storage with nothing
        # pointing at it and the upload holding the space's room until it expired.
        store.delete(session.blob_key)
        _reject(
            actor,
            session.folder,
            "access to the folder ended",
            upload=str(session.pk),
            name=session.name,
            offset=session.offset,
        )
        upload_delete(session=session)
        refused = TusError(403, _writer_refused_message())
        refused.audited = True
        raise refused from None
    return locked


def upload_complete_if_stranded(
    *, actor: User, session: UploadSession, completion_check: CompletionCheck | None = None
) -> UploadSession:
    """Every byte was committed but the request died before the version was made (the
    web process was killed during assembly): finish now, before telling a client that
    resumes (HEAD) that the upload is whole.

    HEAD's answer: taken under the upload's lock, so it waits for a PATCH still running
    (a client that disconnected mid-body leaves a request that commits what arrived a
    moment later) and reports the offset that PATCH committed: the one the client's
    next PATCH must use."""
    with _upload_lock(session.pk):
        session = _session_reloaded(session)
        if session.completed_at is None and session.offset == session.length:
            return upload_complete(actor=actor, session=session, completion_check=completion_check)
        return session


# --- Termination and expiry ---------------------------------------------------------------


def _objects_delete(upload_id: uuid.UUID, keys: list[str]) -> None:
    """Delete the staging objects, and anything a killed request left under the prefix."""
    store = blob_store()
    for key in keys:
        store.delete(key)
    # The lock file of the embedded mode's upload lock (_upload_file_lock), if any.
    (Path(settings.DATA_DIR) / "upload-locks" / f"{upload_id}.lock").unlink(missing_ok=True)
    storage = storages["default"]
    prefix = f"{UPLOADS_PREFIX}/{upload_id}"
    try:
        _folders, names = storage.listdir(prefix)
    except FileNotFoundError:
        return
    for name in names:
        storage.delete(f"{prefix}/{name}")
    if isinstance(storage, FileSystemStorage):
        # The folder backend made uploads/<id>/ for the staging file; without this, every
        # upload left an empty folder behind. S3 has no folders, only key prefixes.
        try:
            os.rmdir(storage.path(prefix))
        except FileNotFoundError:
            pass
        except OSError:
            # Not empty: a request still racing wrote a staging file after the listing;
            # it fails at its commit (the row is gone). Say so rather than guess.
            logger.warning("upload staging folder %s not removed", prefix, exc_info=True)


def upload_delete(*, session: UploadSession) -> None:
    """Termination extension (DELETE), and expiry: the row, then the staging objects."""
    keys = [key for key, _start, _stored in _parts(session)]
    upload_id = session.pk
    with transaction.atomic():
        UploadSession.objects.filter(pk=upload_id).delete()
        transaction.on_commit(lambda: _objects_delete(upload_id, keys), robust=True)


def upload_terminate(*, actor: User, session: UploadSession) -> None:
    """DELETE, under the upload's lock like PATCH and HEAD: a PATCH still receiving
    keeps its row and staging file until it commits (the DELETE waits, or gets 423)."""
    with _upload_lock(session.pk):
        session = _session_reloaded(session)
        if session.completed_at is not None:
            raise TusError(409, _("This upload is already complete."))
        with transaction.atomic():
            record(
                Action.FILES_UPLOAD_TERMINATE,
                actor=actor,
                target=session.folder,
                upload=str(session.pk),
                name=session.name,
                offset=session.offset,
            )
            upload_delete(session=session)


def uploads_expired_delete(now: datetime | None = None) -> int:
    """Beat: delete abandoned uploads past their expiry, and completed ones' rows after
    the same delay (their staging objects are already gone)."""
    now = now or timezone.now()
    count = 0
    for session in UploadSession.objects.filter(expires_at__lte=now).iterator():
        try:
            # Not under a PATCH still receiving (its commit moves the expiry on).
            with _upload_lock(session.pk, wait=0.1):
                if UploadSession.objects.filter(pk=session.pk, expires_at__lte=now).exists():
                    upload_delete(session=session)
                    count += 1
        except TusError:
            continue  # 423: next sweep
    return count
