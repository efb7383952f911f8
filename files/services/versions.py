"""Versions: creation, re-encrypted copies, restore of an old version, scan verdicts,
integrity failures, data keys."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from audit.actions import Action
from audit.context import RequestContext
from audit.models import Outcome
from files.crypto import BlobDecryptor, BlobIntegrityError
from files.envelope import EnvelopeError
from files.errors import (
    FileRuleError,
    NotDownloadableError,
)
from files.keys import associated_data, data_key_unwrap
from files.models import File, FileVersion, ScanStatus
from files.services.common import (
    file_locked_live,
    quota_check,
    record,
    require_edit,
    upload_limit_bytes,
)
from files.storage import BlobMissingError, blob_store
from files.uploads import BlobIngest, SealedBlob, size_refusal


def version_create(
    *,
    actor: User | None,
    file: File,
    sealed: SealedBlob,
    source_version: FileVersion | None = None,
    derived_from: FileVersion | None = None,
) -> FileVersion:
    """Inside a transaction with ``file`` locked: the next version, made current.

    ``derived_from``: new content made from another version (a de-identified copy): it
    goes through the scanner like any upload, and its lineage names the original."""
    latest = file.versions.aggregate(latest=Max("number"))["latest"] or 0
    scan_status, scanned_at = ScanStatus.PENDING, None
    if source_version is not None and source_version.scan_status in {
        ScanStatus.AVAILABLE,
        ScanStatus.NOT_SCANNED,
    }:
        # Same plaintext, proven by SHA-256 during the copy: same verdict.
        scan_status, scanned_at = ScanStatus(source_version.scan_status), source_version.scanned_at
    version = FileVersion.objects.create(
        id=sealed.version_id,
        file=file,
        number=latest + 1,
        size=sealed.size,
        ciphertext_size=sealed.ciphertext_size,
        sha256=sealed.sha256,
        # Same plaintext as its source (proven by SHA-256 during the copy): same CRC-32.
        plaintext_crc32=source_version.plaintext_crc32 if source_version is not None else None,
        content_type=sealed.content_type,
        uploaded_by=actor,
        scan_status=scan_status,
        scanned_at=scanned_at,
        blob_key=sealed.blob_key,
        wrapped_data_key=sealed.wrapped_data_key,
        kek_id=sealed.kek_id,
        segment_size=sealed.segment_size,
        source_version=source_version,
        derived_from=derived_from,
    )
    file.current_version = version
    file.updated_at = version.created_at
    file.save(update_fields=["current_version", "updated_at"])
    if version.scan_status == ScanStatus.PENDING:
        # Every new content goes through the scanner before anyone can download it.
        from files.services.finalize import version_finalize_on_commit

        version_finalize_on_commit(version)
    return version


def readable_source(version: FileVersion) -> None:
    if version.integrity_failed:
        raise NotDownloadableError(
            _("This version failed an integrity check and cannot be read."), "integrity_failed"
        )
    if version.scan_status == ScanStatus.QUARANTINED:
        raise NotDownloadableError(
            _("This version is quarantined: the virus scanner found a threat."), "quarantined"
        )
    if version.scan_status == ScanStatus.BLOCKED:
        raise NotDownloadableError(
            _("This version is blocked by the site's scanning policy."), "blocked"
        )
    if version.shredded_at is not None:
        raise FileRuleError(_("This version no longer exists."))


def blob_reencrypt(
    *,
    version: FileVersion,
    max_bytes: int,
    keep_version_id: bool = False,
    actor: User | None = None,
) -> SealedBlob:
    """Decrypt ``version``'s blob and encrypt it again under a fresh data key.

    Copying ciphertext would put one data key under two versions (and leave the copy
    bound to the source's id): every copy is a full, streamed re-encryption, checked
    against the source's SHA-256. ``keep_version_id`` re-encrypts for the same version
    (a compromised data key). An integrity failure of the source is flagged and audited.
    """
    store = blob_store()
    data_key = data_key_unwrap(
        version_id=version.pk, kek_id=version.kek_id, wrapped=bytes(version.wrapped_data_key or b"")
    )
    ingest = BlobIngest(
        max_bytes=max_bytes,
        refusal=size_refusal(limit=max_bytes, quota_room=max_bytes),
        size_hint=version.size,
        store=store,
        version_id=version.pk if keep_version_id else None,
    )
    digest = hashlib.sha256()
    reader = None
    try:
        reader = store.reader(version.blob_key, span=(0, version.ciphertext_size))
        decryptor = BlobDecryptor(
            data_key, associated_data(version.pk), reader.read_at, version.ciphertext_size
        )
        for chunk in decryptor.decrypt_all():
            digest.update(chunk)
            ingest.write(chunk)
        if digest.hexdigest() != version.sha256:
            raise BlobIntegrityError(None, "plaintext does not match the recorded SHA-256")
        return ingest.finish()
    except (BlobIntegrityError, BlobMissingError) as error:
        ingest.discard()
        version_integrity_failure_record(version=version, actor=actor, error=error, during="copy")
        raise NotDownloadableError(
            _("This version failed an integrity check and cannot be read."), "integrity_failed"
        ) from None
    except BaseException:
        ingest.discard()
        raise
    finally:
        if reader is not None:
            reader.close()


def version_restore(*, actor: User, version: FileVersion) -> FileVersion:
    """Make an old version current again, as a new version (a re-encrypted copy): the
    history is never rewritten."""
    file = version.file
    require_edit(actor, file)
    readable_source(version)
    limit, _refusal = upload_limit_bytes(file.space)
    sealed = blob_reencrypt(version=version, max_bytes=max(limit, 0), actor=actor)
    try:
        with transaction.atomic():
            file = file_locked_live(file)
            quota_check(file.space, sealed.size)
            restored = version_create(actor=actor, file=file, sealed=sealed, source_version=version)
            record(
                Action.FILES_VERSION_RESTORE,
                actor=actor,
                target=file,
                name=file.name,
                source_version=str(version.pk),
                source_number=version.number,
                version=str(restored.pk),
                number=restored.number,
            )
    except BaseException:
        blob_store().delete(sealed.blob_key)
        raise
    return restored


def version_mark_scanned(
    *,
    version: FileVersion,
    status: ScanStatus,
    actor: User | None = None,
    details: dict[str, Any] | None = None,
) -> FileVersion:
    """Record the scanner's verdict. Only ``available`` makes a version downloadable.

    Called by the scanning pipeline (issue #5); idempotent for the same verdict.
    """
    if status not in ScanStatus.values:
        raise ValueError(f"unknown scan status {status!r}")
    with transaction.atomic():
        version = FileVersion.objects.select_for_update(no_key=True).get(pk=version.pk)
        previous = version.scan_status
        version.scan_status = status
        version.scanned_at = timezone.now()
        version.save(update_fields=["scan_status", "scanned_at"])
        record(
            Action.FILES_VERSION_SCAN,
            actor=actor,
            target=version,
            outcome=Outcome.SUCCESS,
            file=version.file_id,
            previous=previous,
            status=str(status),
            **(details or {}),
        )
    return version


def version_integrity_failure_record(
    *,
    version: FileVersion,
    actor: User | None,
    error: Exception,
    during: str,
    request: RequestContext | None = None,
) -> None:
    """Flag the version (never served again) and raise an audit event, committed now.

    ``request`` carries the client's address when called from a streaming response,
    where the audit middleware's context has already been reset (audit/context.py).
    """
    segment = getattr(error, "segment_index", None)
    with transaction.atomic():
        FileVersion.objects.filter(pk=version.pk).update(
            integrity_failed=True, integrity_checked_at=timezone.now()
        )
        record(
            Action.FILES_VERSION_INTEGRITY_FAILURE,
            actor=actor,
            target=version,
            outcome=Outcome.ERROR,
            request=request,
            file=version.file_id,
            during=during,
            segment=segment,
            error=type(error).__name__,
            reason=str(error)[:300],
        )
    version.integrity_failed = True


def version_data_key(version: FileVersion) -> bytes:
    """The version's data key, unwrapped (``EnvelopeError`` if that fails)."""
    if version.wrapped_data_key is None:
        raise EnvelopeError("this version's data key was destroyed")
    return data_key_unwrap(
        version_id=version.pk, kek_id=version.kek_id, wrapped=bytes(version.wrapped_data_key)
    )
