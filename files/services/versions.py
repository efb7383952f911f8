"""Versions: creation, copies sharing their source's content, restore of an old
version, scan verdicts, integrity failures, data keys."""

from __future__ import annotations

import hashlib
from typing import Any

from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from audit.actions import Action
from audit.context import RequestContext
from audit.models import Outcome
from files.blobs import version_content
from files.crypto import BlobIntegrityError
from files.envelope import EnvelopeError
from files.errors import (
    FileRuleError,
    NotDownloadableError,
)
from files.models import File, FileVersion, ScanStatus
from files.services.common import (
    file_locked_live,
    quota_check,
    record,
    require_edit,
)
from files.storage import BlobMissingError, blob_store
from files.uploads import BlobIngest, SealedBlob, size_refusal


def version_create(
    *,
    actor: User | None,
    file: File,
    sealed: SealedBlob,
    derived_from: FileVersion | None = None,
) -> FileVersion:
    """Inside a transaction with ``file`` locked: the next version, made current.

    ``derived_from``: new content made from another version (a de-identified copy): it
    goes through the scanner like any upload, and its lineage names the original."""
    return _version_add(
        file=file,
        id=sealed.version_id,
        size=sealed.size,
        ciphertext_size=sealed.ciphertext_size,
        sha256=sealed.sha256,
        content_type=sealed.content_type,
        uploaded_by=actor,
        blob_key=sealed.blob_key,
        wrapped_data_key=sealed.wrapped_data_key,
        kek_id=sealed.kek_id,
        segment_size=sealed.segment_size,
        derived_from=derived_from,
    )


def version_share_create(*, actor: User | None, file: File, source: FileVersion) -> FileVersion:
    """Inside a transaction with ``file`` locked (and the space, for the quota): the next
    version, made current, sharing ``source``'s content: no byte is read or written.

    The content holder is locked (lock order: versions after the space) so that a purge
    of its last other reference either commits first (then the key is gone and this
    refuses) or waits and sees this version (then the key stays: versions_shred).
    """
    holder_id = source.content_holder_id or source.pk
    holder = FileVersion.objects.select_for_update(no_key=True).filter(pk=holder_id).first()
    live_source = FileVersion.objects.filter(pk=source.pk, shredded_at__isnull=True).first()
    if holder is None or holder.wrapped_data_key is None or live_source is None:
        raise FileRuleError(_("This version no longer exists."))
    version = _version_add(
        file=file,
        size=live_source.size,
        ciphertext_size=holder.ciphertext_size,
        sha256=live_source.sha256,
        content_type=live_source.content_type,
        uploaded_by=actor,
        blob_key="",
        wrapped_data_key=None,
        kek_id="",
        segment_size=holder.segment_size,
        content_holder=holder,
        **_inherited_from(live_source),
    )
    if version.is_downloadable:
        # Its own thumbnail (bound to its own id, shredded with it), drawn from the
        # shared content by a worker. A copy still pending gets one after its verdict.
        # Decided by the kind of content, not by the source having one: the source's
        # may not be drawn yet (the worker busy) or be gone (an old version restored).
        from files.services.finalize import version_thumbnail_on_commit
        from files.thumbnails import thumbnail_expected

        if thumbnail_expected(version):
            version_thumbnail_on_commit(version)
    return version


def _inherited_from(source: FileVersion) -> dict[str, Any]:
    """What a version with the same plaintext as ``source`` (a copy, a restore) keeps:
    the verdict and the CRC-32. A pending source leaves the copy pending: it is scanned
    on its own, through the shared blob."""
    inherited: dict[str, Any] = {
        "source_version": source,
        "plaintext_crc32": source.plaintext_crc32,
    }
    if source.scan_status in {ScanStatus.AVAILABLE, ScanStatus.NOT_SCANNED}:
        inherited.update(
            scan_status=ScanStatus(source.scan_status),
            scanned_at=source.scanned_at,
            scan_note=source.scan_note,
        )
    return inherited


def _version_add(*, file: File, **fields: Any) -> FileVersion:
    latest = file.versions.aggregate(latest=Max("number"))["latest"] or 0
    version = FileVersion.objects.create(file=file, number=latest + 1, **fields)
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
    """Decrypt ``version``'s content and encrypt it again under a fresh data key.

    Only the full re-encryption of a version whose data key may have leaked uses it
    now (``keep_version_id``, for the content holder: files/lifecycle.py): copies and
    restores share the holder's blob (``version_share_create``). Streamed, checked
    against the SHA-256; an integrity failure is flagged and audited.
    """
    store = blob_store()
    content = version_content(version)
    ingest = BlobIngest(
        max_bytes=max_bytes,
        refusal=size_refusal(limit=max_bytes, quota_room=max_bytes),
        size_hint=version.size,
        store=store,
        version_id=content.holder_id if keep_version_id else None,
    )
    digest = hashlib.sha256()
    reader = None
    try:
        data_key = content.data_key()
        reader = content.reader()
        decryptor = content.decryptor(data_key, reader)
        for chunk in decryptor.decrypt_all():
            digest.update(chunk)
            ingest.write(chunk)
        if digest.hexdigest() != version.sha256:
            raise BlobIntegrityError(None, "plaintext does not match the recorded SHA-256")
        return ingest.finish()
    except (BlobIntegrityError, BlobMissingError, EnvelopeError) as error:
        ingest.discard()
        version_integrity_failure_record(
            version=version, actor=actor, error=error, during="reencrypt"
        )
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
    """Make an old version current again, as a new version sharing its content (no
    re-encryption): the history is never rewritten. It counts in the quota again, as
    a new version of the file."""
    file = version.file
    require_edit(actor, file, action=Action.FILES_VERSION_RESTORE)
    readable_source(version)
    with transaction.atomic():
        file = file_locked_live(file)
        quota_check(file.space, version.size)
        restored = version_share_create(actor=actor, file=file, source=version)
        record(
            Action.FILES_VERSION_RESTORE,
            actor=actor,
            target=file,
            name=file.name,
            source_version=str(version.pk),
            source_number=version.number,
            version=str(restored.pk),
            number=restored.number,
            content_holder=str(restored.content_holder_id),
        )
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
    holder_id = version.content_holder_id or version.pk
    with transaction.atomic():
        # One blob, one key: every version sharing them fails with it.
        FileVersion.objects.filter(
            Q(pk=version.pk) | Q(pk=holder_id) | Q(content_holder_id=holder_id)
        ).update(integrity_failed=True, integrity_checked_at=timezone.now())
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
    """The data key of the version's content (its own, or its content holder's),
    unwrapped (``EnvelopeError`` if that fails)."""
    return version_content(version).data_key()
