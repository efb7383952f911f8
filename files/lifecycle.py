"""Lifecycle work run by Celery beat and management commands (docs/storage.md).

* ``shredded_blobs_delete``: the second half of every purge. Keys were destroyed and
  committed first; this deletes the blobs, then the rows. Re-run until nothing is left.
* ``versions_retention_apply``: purge old versions beyond the retention policy.
* ``trash_purge_expired``: purge what has been in the trash longer than allowed.
* ``blobs_scrub``: fully decrypt a batch of blobs (least recently checked first) and
  flag any that fail.
* ``data_keys_rewrap``: KEK rotation (``manage.py rotate_keys``).
* ``version_reencrypt``: a new data key and a new blob for one version.

All are idempotent and resumable: each looks for the work still missing, in small
transactions, so running twice or after a crash is harmless.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from accounts.models import User
from audit import services as audit
from audit.actions import Action
from audit.models import Outcome
from core.keys import KeyUse, keyring
from files import services
from files.blobs import version_content
from files.crypto import BlobIntegrityError
from files.envelope import EnvelopeError, WrappedKey, rewrap_data_key
from files.keys import associated_data
from files.models import File, FileVersion, Folder, UploadSession, VersionThumbnail
from files.services.common import versions_shred
from files.storage import BlobMissingError, blob_store

logger = logging.getLogger(__name__)

SYSTEM = "system"


# --- Purge, second half --------------------------------------------------------------------


def shredded_blobs_delete(*, limit: int = 1000) -> int:
    """Delete the blobs of versions whose keys were destroyed, then their rows.

    Returns the number of blobs deleted. A blob that cannot be deleted now (storage
    down) keeps its row for the next run; it is unreadable meanwhile.
    """
    store = blob_store()
    deleted = 0
    # Shredded copies first: no blob of their own (only a thumbnail's), and their rows
    # must go before their holder's (PROTECT).
    sharers = FileVersion.objects.filter(
        shredded_at__isnull=False, content_holder__isnull=False
    ).only("pk")[:limit]
    for sharer in sharers:
        try:
            for thumbnail_key in VersionThumbnail.objects.filter(version=sharer).values_list(
                "blob_key", flat=True
            ):
                store.delete(thumbnail_key)
        except Exception:
            logger.exception("could not delete the thumbnail of %s; will retry", sharer.pk)
            continue
        FileVersion.objects.filter(pk=sharer.pk).delete()
    # Then the blobs whose key is destroyed: a purged original whose content copies
    # still use keeps its key, its blob and its row (versions_shred).
    versions = (
        FileVersion.objects.filter(
            shredded_at__isnull=False, content_holder__isnull=True, wrapped_data_key__isnull=True
        )
        .exclude(Exists(FileVersion.objects.filter(content_holder_id=OuterRef("pk"))))
        .only("pk", "blob_key")[:limit]
    )
    for version in versions:
        try:
            # Its thumbnail's blob first (its key was destroyed with the version's).
            for thumbnail_key in VersionThumbnail.objects.filter(version=version).values_list(
                "blob_key", flat=True
            ):
                store.delete(thumbnail_key)
            store.delete(version.blob_key)
        except Exception:
            logger.exception("could not delete blob %s; will retry", version.blob_key)
            continue
        FileVersion.objects.filter(pk=version.pk).delete()
        deleted += 1
    _purged_rows_delete()
    return deleted


def _purged_rows_delete() -> None:
    """Files and folders whose purge finished (no version, file or folder left below)."""
    File.objects.filter(purged_at__isnull=False, versions__isnull=True).delete()
    while True:
        leaves = Folder.objects.filter(
            purged_at__isnull=False, children__isnull=True, files__isnull=True
        )
        if not leaves.exists():
            return
        # Uploads into these folders would go with them (CASCADE) and leave their staged
        # ciphertext in storage for good: delete them the tus way, objects after commit.
        from files.tus import upload_delete  # tus imports files.services, as this does

        for session in UploadSession.objects.filter(folder__in=leaves):
            upload_delete(session=session)
        leaves.delete()


# --- Retention and trash -------------------------------------------------------------------


def versions_retention_apply(*, now: dt.datetime | None = None, limit: int = 5000) -> int:
    """Shred old versions beyond each space's policy. Returns how many were shredded.

    A version is kept while it is the current one, or among the newest
    ``version_keep_count`` versions of its file, or younger than ``version_keep_days``,
    or held by a live transfer that references it (``held_until``).
    """
    moment = now or timezone.now()
    shredded = 0
    candidates = (
        FileVersion.objects.filter(shredded_at__isnull=True, file__purged_at__isnull=True)
        .exclude(file__current_version=F("pk"))
        .exclude(held_until__gt=moment)
        .select_related("file", "file__space")
        .order_by("file_id", "-number")
    )
    for version in candidates.iterator(chunk_size=500):
        space = version.file.space
        if version.created_at > moment - dt.timedelta(days=space.version_keep_days_effective):
            continue
        newer = FileVersion.objects.filter(
            file_id=version.file_id, number__gt=version.number, shredded_at__isnull=True
        ).count()
        if newer < space.version_keep_count_effective:
            continue
        with transaction.atomic():
            count = versions_shred(
                FileVersion.objects.filter(pk=version.pk).exclude(held_until__gt=moment), moment
            )
            if count:
                audit.record(
                    action=Action.FILES_VERSION_PURGE,
                    actor_label=SYSTEM,
                    target_type="files.version",
                    target_id=version.pk,
                    details={
                        "file": version.file_id,
                        "number": version.number,
                        "reason": "retention",
                        "keep_count": space.version_keep_count_effective,
                        "keep_days": space.version_keep_days_effective,
                    },
                )
        shredded += count
        if shredded >= limit:
            break
    return shredded


def trash_purge_expired(*, now: dt.datetime | None = None, days: int | None = None) -> int:
    """Purge files and folders deleted more than ``FILES_TRASH_RETENTION_DAYS`` ago."""
    from django.conf import settings

    moment = now or timezone.now()
    keep_days = settings.FILES_TRASH_RETENTION_DAYS if days is None else days
    cutoff = moment - dt.timedelta(days=keep_days)
    shredded = 0
    expired_folders = Folder.objects.filter(
        deleted_at__lt=cutoff, trashed_with__isnull=True, purged_at__isnull=True
    )
    # A folder deleted on its own and later its parent are both listed: purging the
    # parent purges the subfolder too, whose own purge would then be refused and stop
    # the run. Each is looked at again when its turn comes.
    for folder_id in list(expired_folders.values_list("pk", flat=True)):
        folder = Folder.objects.filter(pk=folder_id, purged_at__isnull=True).first()
        if folder is not None:
            shredded += services.folder_purge(actor=None, folder=folder)
    expired_files = File.objects.filter(
        deleted_at__lt=cutoff, trashed_with__isnull=True, purged_at__isnull=True
    )
    for file in expired_files:
        shredded += services.file_purge(actor=None, file=file)
    return shredded


# --- Scrub ---------------------------------------------------------------------------------


@dataclass
class ScrubReport:
    checked: int = 0
    failed: list[str] = field(default_factory=list)


def version_verify(version: FileVersion) -> None:
    """Authenticate every segment and compare the SHA-256; raise on any failure."""
    import hashlib

    content = version_content(version)
    data_key = content.data_key()
    reader = content.reader()
    try:
        decryptor = content.decryptor(data_key, reader)
        digest = hashlib.sha256()
        for chunk in decryptor.decrypt_all():
            digest.update(chunk)
        if digest.hexdigest() != version.sha256:
            raise BlobIntegrityError(None, "plaintext does not match the recorded SHA-256")
    finally:
        reader.close()


def blobs_scrub(*, batch: int | None = None) -> ScrubReport:
    """Re-verify the ``batch`` blobs checked least recently (never checked first).

    Each blob once, through the version holding it (a copy has none of its own), as
    long as its key lives: a purged original still holding its copies' content too.
    A failure flags every version sharing the blob."""
    from django.conf import settings

    size = int(settings.FILES_SCRUB_BATCH if batch is None else batch)
    report = ScrubReport()
    versions = FileVersion.objects.filter(
        content_holder__isnull=True, wrapped_data_key__isnull=False, integrity_failed=False
    ).order_by(F("integrity_checked_at").asc(nulls_first=True), "created_at")[:size]
    for version in versions:
        report.checked += 1
        try:
            version_verify(version)
        except (BlobIntegrityError, BlobMissingError, EnvelopeError) as error:
            report.failed.append(str(version.pk))
            services.version_integrity_failure_record(
                version=version, actor=None, error=error, during="scrub"
            )
            continue
        FileVersion.objects.filter(pk=version.pk).update(integrity_checked_at=timezone.now())
    audit.record(
        action=Action.FILES_SCRUB,
        outcome=Outcome.ERROR if report.failed else Outcome.SUCCESS,
        actor_label=SYSTEM,
        details={"checked": report.checked, "failed": report.failed},
    )
    return report


# --- Key rotation ---------------------------------------------------------------------------


@dataclass
class RewrapReport:
    current_kek_id: str
    total: int = 0
    rewrapped: int = 0
    failed: list[str] = field(default_factory=list)


def _wrapped_elsewhere(current: str) -> Q:
    return Q(wrapped_data_key__isnull=False) & ~Q(kek_id=current)


def data_keys_rewrap(
    *,
    batch_size: int = 500,
    progress: Callable[[RewrapReport], None] | None = None,
    actor_label: str = "manage.py rotate_keys",
) -> RewrapReport:
    """Re-wrap every data key not under the current KEK. Blobs are not touched.

    Each batch is one transaction with its audit event; a run stopped anywhere leaves
    committed batches done, and the next run carries on with what is left. A key that
    fails to unwrap (tampered row) is flagged, audited and reported, not retried in
    this run.
    """
    ring = keyring()
    current = ring.current_key_id
    report = RewrapReport(current_kek_id=current)
    report.total = FileVersion.objects.filter(_wrapped_elsewhere(current)).count()
    audit.record(
        action=Action.FILES_KEYS_ROTATION,
        actor_label=actor_label,
        details={"phase": "start", "current_kek": current, "to_rewrap": report.total},
    )
    while True:
        with transaction.atomic():
            batch = list(
                FileVersion.objects.select_for_update(no_key=True)
                .filter(_wrapped_elsewhere(current))
                .exclude(pk__in=report.failed)
                .order_by("pk")[:batch_size]
            )
            if not batch:
                break
            from_keks: dict[str, int] = {}
            for version in batch:
                wrapped = WrappedKey(version.kek_id, bytes(version.wrapped_data_key or b""))
                try:
                    rewrapped = rewrap_data_key(ring, wrapped, associated_data(version.pk))
                except EnvelopeError as error:
                    report.failed.append(str(version.pk))
                    services.version_integrity_failure_record(
                        version=version, actor=None, error=error, during="rotation"
                    )
                    continue
                from_keks[version.kek_id] = from_keks.get(version.kek_id, 0) + 1
                version.kek_id, version.wrapped_data_key = rewrapped.kek_id, rewrapped.wrapped
                version.save(update_fields=["kek_id", "wrapped_data_key"])
                report.rewrapped += 1
            audit.record(
                action=Action.FILES_KEYS_REWRAP,
                actor_label=actor_label,
                details={
                    "current_kek": current,
                    "from_keks": from_keks,
                    "count": sum(from_keks.values()),
                    "first": str(batch[0].pk),
                    "last": str(batch[-1].pk),
                },
            )
        if progress is not None:
            progress(report)
    from files.thumbnails import thumbnails_rewrap  # thumbnails import the previews' Pillow

    thumbnails_rewrapped = thumbnails_rewrap(batch_size=batch_size)
    uploads_rewrapped = upload_sessions_rewrap(report, batch_size=batch_size)
    audit.record(
        action=Action.FILES_KEYS_ROTATION,
        outcome=Outcome.ERROR if report.failed else Outcome.SUCCESS,
        actor_label=actor_label,
        details={
            "phase": "finish",
            "current_kek": current,
            "rewrapped": report.rewrapped,
            "thumbnails_rewrapped": thumbnails_rewrapped,
            "uploads_rewrapped": uploads_rewrapped,
            "failed": report.failed,
        },
    )
    return report


def kek_ids_in_use() -> set[str]:
    """Every KEK a file data key still names: versions, thumbnails, unfinished uploads
    (authenticator apps are accounts', ``accounts.totp``). A KEK not in this set (nor
    theirs) can leave the keyring without making anything unreadable."""
    names: set[str] = set()
    for rows in (
        FileVersion.objects.filter(wrapped_data_key__isnull=False),
        VersionThumbnail.objects.filter(wrapped_data_key__isnull=False),
        UploadSession.objects.all(),
    ):
        names.update(rows.order_by().values_list("kek_id", flat=True).distinct())
    names.discard("")
    return names


class FileDataKeys:
    """File data keys need their KEK for ever: without it the file is lost (what a purge
    does on purpose). ``rotate_keys --remove-key`` never forces them out."""

    def uses(self, key_id: str) -> KeyUse | None:
        count = sum(
            rows.filter(kek_id=key_id).count()
            for rows in (
                FileVersion.objects.filter(wrapped_data_key__isnull=False),
                VersionThumbnail.objects.filter(wrapped_data_key__isnull=False),
                UploadSession.objects.all(),
            )
        )
        return KeyUse(
            what="file data key(s) (versions, thumbnails, unfinished uploads)",
            count=count,
            remedy="run `manage.py rotate_keys` first: it re-wraps them under the current key",
        )

    def forget(self, key_id: str, *, actor_label: str) -> int:
        raise NotImplementedError("a file's data key is re-wrapped, never dropped")


def upload_sessions_rewrap(report: RewrapReport, *, batch_size: int = 500) -> int:
    """Re-wrap the data keys of unfinished uploads (tus sessions live for days).

    Without it an upload started before a rotation still named the old KEK: once the
    operator retired that key, the clinician's half-sent study could never be resumed.
    A key that does not unwrap is left as it is and named in ``report.failed``
    (``upload:<id>``): its upload cannot go on either way, and it expires on its own.
    """
    ring = keyring()
    current = ring.current_key_id
    skipped: list[uuid.UUID] = []
    rewrapped = 0
    while True:
        with transaction.atomic():
            # The upload session is first in the files lock order (docs/architecture.md).
            batch = list(
                UploadSession.objects.select_for_update(no_key=True)
                .exclude(kek_id=current)
                .exclude(pk__in=skipped)
                .order_by("pk")[:batch_size]
            )
            if not batch:
                return rewrapped
            for session in batch:
                wrapped = WrappedKey(session.kek_id, bytes(session.wrapped_key))
                try:
                    fresh = rewrap_data_key(ring, wrapped, associated_data(session.new_version_id))
                except EnvelopeError:
                    skipped.append(session.pk)
                    report.failed.append(f"upload:{session.pk}")
                    logger.warning("upload %s: its data key does not unwrap", session.pk)
                    continue
                session.kek_id, session.wrapped_key = fresh.kek_id, fresh.wrapped
                session.save(update_fields=["kek_id", "wrapped_key"])
                rewrapped += 1


# --- Full re-encryption --------------------------------------------------------------------


def version_reencrypt(*, version_id: uuid.UUID | str, actor: User | None = None) -> bool:
    """A new data key and a new blob for one version (its data key may have leaked).

    The plaintext is streamed from the old blob into a new one under a fresh data key
    (same version id, so the same associated data), checked against the SHA-256, then
    the row is switched to the new blob and key in one transaction, which also destroys
    the old wrapped key; the old blob is deleted after the commit. Returns False when
    the version is gone or was re-encrypted concurrently.

    For a copy, its content holder is re-encrypted: every version sharing the content
    reads the new blob at once.
    """
    asked = FileVersion.objects.filter(pk=version_id, shredded_at__isnull=True).first()
    if asked is None:
        return False
    version = FileVersion.objects.filter(
        pk=asked.content_holder_id or asked.pk, wrapped_data_key__isnull=False
    ).first()
    if version is None:
        return False
    old_blob_key = version.blob_key
    sealed = services.blob_reencrypt(
        version=version, max_bytes=version.size, keep_version_id=True, actor=actor
    )
    store = blob_store()
    with transaction.atomic():
        switched = FileVersion.objects.filter(
            pk=version.pk, blob_key=old_blob_key, wrapped_data_key__isnull=False
        ).update(
            blob_key=sealed.blob_key,
            wrapped_data_key=sealed.wrapped_data_key,
            kek_id=sealed.kek_id,
            ciphertext_size=sealed.ciphertext_size,
            segment_size=sealed.segment_size,
        )
        if switched:
            audit.record(
                action=Action.FILES_VERSION_REENCRYPT,
                actor=actor,
                actor_label="" if actor else SYSTEM,
                target_type="files.version",
                target_id=version.pk,
                details={"file": version.file_id, "kek_id": sealed.kek_id},
            )
            # The old wrapped key is gone with this commit; the blob is only garbage now.
            transaction.on_commit(lambda: store.delete(old_blob_key), robust=True)
    if not switched:
        store.delete(sealed.blob_key)
    return bool(switched)


# --- Copies made before content was shared -------------------------------------------------


@dataclass
class ShareCopiesReport:
    candidates: int = 0
    linked: int = 0
    bytes_freed: int = 0
    skipped: list[str] = field(default_factory=list)


def _share_candidates() -> list[FileVersion]:
    """Live copies and restores with a blob of their own whose source still has its
    content: oldest first, so a copy of a copy is linked after its source."""
    return list(
        FileVersion.objects.filter(
            source_version__isnull=False,
            content_holder__isnull=True,
            shredded_at__isnull=True,
            wrapped_data_key__isnull=False,
            integrity_failed=False,
        ).order_by("created_at", "pk")
    )


def copies_share_content(*, apply: bool, actor_label: str) -> ShareCopiesReport:
    """Point copies made by re-encryption (before issue #14) at their source's content
    holder, then delete their duplicate blob (``manage.py files_share_copies``).

    Only a copy whose size and SHA-256 equal its source's is linked, and only once the
    holder's blob has been decrypted in full and matched that SHA-256 (a damaged holder
    keeps its copies as they are). Each link is one transaction with its audit event,
    the copy's own key destroyed in it; the duplicate blob goes after the commit.
    Idempotent: a linked copy is no longer a candidate. ``apply=False`` only counts.
    """
    report = ShareCopiesReport()
    store = blob_store()
    verified: set[uuid.UUID] = set()
    for copy in _share_candidates():
        # Read now: an earlier copy of this run may have become a sharer itself.
        source = FileVersion.objects.filter(pk=copy.source_version_id or copy.pk).first()
        holder = (
            None
            if source is None
            else FileVersion.objects.filter(pk=source.content_holder_id or source.pk).first()
        )
        if (
            holder is None
            or holder.pk == copy.pk
            or holder.wrapped_data_key is None
            or holder.integrity_failed
            or (copy.size, copy.sha256) != (holder.size, holder.sha256)
        ):
            report.skipped.append(str(copy.pk))
            continue
        report.candidates += 1
        if not apply:
            continue
        if holder.pk not in verified:
            try:
                version_verify(holder)
            except (BlobIntegrityError, BlobMissingError, EnvelopeError) as error:
                services.version_integrity_failure_record(
                    version=holder, actor=None, error=error, during="share_copies"
                )
                report.skipped.append(str(copy.pk))
                continue
            verified.add(holder.pk)
        with transaction.atomic():
            # Lock order: versions by ascending id.
            locked = {
                version.pk: version
                for version in FileVersion.objects.select_for_update(no_key=True)
                .filter(pk__in=[copy.pk, holder.pk])
                .order_by("pk")
            }
            fresh, fresh_holder = locked.get(copy.pk), locked.get(holder.pk)
            if (
                fresh is None
                or fresh_holder is None
                or fresh.shredded_at is not None
                or fresh.content_holder_id is not None
                or fresh.blob_key != copy.blob_key
                or fresh_holder.wrapped_data_key is None
            ):
                report.skipped.append(str(copy.pk))
                continue
            duplicate = fresh.blob_key
            layout = {
                "ciphertext_size": fresh_holder.ciphertext_size,
                "segment_size": fresh_holder.segment_size,
            }
            # Copies made since from this copy share it: they follow it (same plaintext,
            # as their SHA-256 says), so that no sharer is ever a holder's sharer.
            FileVersion.objects.filter(content_holder=fresh).update(
                content_holder=fresh_holder, **layout
            )
            FileVersion.objects.filter(pk=fresh.pk).update(
                content_holder=fresh_holder, blob_key="", wrapped_data_key=None, kek_id="", **layout
            )
            audit.record(
                action=Action.FILES_VERSION_CONTENT_LINK,
                actor_label=actor_label,
                target_type="files.version",
                target_id=fresh.pk,
                details={
                    "file": fresh.file_id,
                    "source_version": str(copy.source_version_id),
                    "content_holder": str(fresh_holder.pk),
                    "bytes_freed": fresh.ciphertext_size,
                },
            )
            # The copy's key is gone with this commit; its old blob is only garbage.
            transaction.on_commit(functools.partial(store.delete, duplicate), robust=True)
        report.linked += 1
        report.bytes_freed += fresh.ciphertext_size
    return report
