"""Files: upload, new version, rename, move, copy, trash, restore, purge."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from audit.actions import Action
from files import selectors
from files.errors import (
    FileRuleError,
    NameClashError,
)
from files.models import File, FileVersion, Folder
from files.names import name_clean, name_key, name_variant
from files.services.common import (
    actor_locked_transaction,
    actor_still_active_check,
    file_and_folder_locked_live,
    file_locked_live,
    folder_locked_live,
    free_name,
    name_clash_check,
    name_clash_error,
    purge_cleanup_on_commit,
    quota_check,
    record,
    require_edit,
    require_manage,
    require_view,
    space_change_details,
    versions_shred,
)
from files.services.spaces import restore_destination_locked
from files.services.versions import readable_source, version_create, version_share_create
from files.signals import MoveLoss, MoveWithdrawals, content_moved_announce
from files.uploads import SealedBlob


def uploader_still_active_check(actor: User | None, target: File | Folder) -> None:
    """The request was authenticated before its body arrived (a tus PATCH, a form, an
    API upload: minutes for a study): an account deactivated meanwhile (docs/accounts.md,
    Offboarding) adds nothing, whatever the person object loaded then says. Recorded
    (tus records its own refusal after rolling back: files/tus.py)."""
    actor_still_active_check(
        actor,
        action=Action.FILES_UPLOAD_REJECT,
        target=target,
        message=_("This account was deactivated: the upload was not kept."),
    )


def _uploader_locked_transaction(
    actor: User | None, target: File | Folder
) -> AbstractContextManager[dict[int, User]]:
    """The upload's transaction, the uploader's row locked first: an upload completing
    at the instant of a deactivation lands before its offboarding plan (which hands the
    file over with the others) or is refused, never after it."""
    return actor_locked_transaction(
        actor,
        action=Action.FILES_UPLOAD_REJECT,
        target=target,
        message=_("This account was deactivated: the upload was not kept."),
    )


def file_upload(
    *,
    actor: User,
    folder: Folder,
    name: str,
    sealed: SealedBlob,
    derived_from: FileVersion | None = None,
    new_file_only: bool = False,
) -> FileVersion:
    """Store an uploaded blob as a new file, or as a new version of the file of that name.

    ``derived_from``: the blob was made by SecureDrive from that version (a de-identified
    copy): scanned like any upload, its lineage names the original (files/lineage.py).
    ``new_file_only``: never a version of a file already there; a taken name becomes a
    free one ("report (2).pdf"), chosen under the folder's lock (uploads from outside
    through a file request, whose name was free when they started).

    The caller discards the blob if this raises (bad name, clash with a folder, quota).
    """
    [version] = files_upload(
        actor=actor,
        folder=folder,
        uploads=[(name, sealed)],
        derived_from=derived_from,
        new_files_only=new_file_only,
    )
    return version


def files_upload(
    *,
    actor: User,
    folder: Folder,
    uploads: list[tuple[str, SealedBlob]],
    derived_from: FileVersion | list[FileVersion | None] | None = None,
    new_files_only: bool = False,
) -> list[FileVersion]:
    """``file_upload`` of several blobs into one folder, all or nothing, in one
    transaction: the folder is locked and the quota checked once for their total size.
    A de-identified study is 1,500 files: checked one by one, the quota's sum over the
    space's versions made the copy quadratic (180 s of 390 s for 1,500 small slices).
    ``derived_from`` is one version for all, or one per upload."""
    uploader_still_active_check(actor, folder)
    require_edit(actor, folder, action=Action.FILES_UPLOAD_REJECT)
    origins = derived_from if isinstance(derived_from, list) else [derived_from] * len(uploads)
    cleaned = [(name_clean(name), sealed) for name, sealed in uploads]
    if new_files_only:
        # Every writer of a name into a folder holds its lock, so the names chosen under
        # it stay free; should one ever not (a name written without that lock, committed
        # between the choice and the insert), choose again rather than lose the bytes.
        for _attempt in range(_NEW_FILES_ATTEMPTS - 1):
            try:
                return _files_upload_locked(actor, folder, cleaned, origins, new_files_only)
            except NameClashError:
                continue
    return _files_upload_locked(actor, folder, cleaned, origins, new_files_only)


_NEW_FILES_ATTEMPTS = 3


def _files_upload_locked(
    actor: User,
    folder: Folder,
    cleaned: list[tuple[str, SealedBlob]],
    origins: list[FileVersion | None],
    new_files_only: bool,
) -> list[FileVersion]:
    versions: list[FileVersion] = []
    try:
        with _uploader_locked_transaction(actor, folder):
            folder = folder_locked_live(folder)
            if new_files_only:
                cleaned = _names_free(folder, cleaned)
            keys = [name_key(clean) for clean, _sealed in cleaned]
            clash = (
                Folder.objects.filter(parent=folder, name_key__in=keys, deleted_at__isnull=True)
                .values_list("name", flat=True)
                .first()
            )
            if clash is not None:
                raise NameClashError(
                    _("A folder called “%(name)s” is already here.") % {"name": clash}
                )
            existing = {
                file.name_key: file
                for file in File.objects.select_for_update(no_key=True).filter(
                    folder=folder, name_key__in=keys, deleted_at__isnull=True
                )
            }
            # The space after the files: lock order (docs/architecture.md).
            quota_check(folder.space, sum(sealed.size for _clean, sealed in cleaned))
            for (clean, sealed), key, origin in zip(cleaned, keys, origins, strict=True):
                file = existing.get(key)
                new_file = file is None
                if file is None:
                    file = existing[key] = File.objects.create(
                        space_id=folder.space_id,
                        folder=folder,
                        name=clean,
                        name_key=key,
                        created_by=actor,
                    )
                version = version_create(actor=actor, file=file, sealed=sealed, derived_from=origin)
                derivation: dict[str, Any] = (
                    {} if origin is None else {"derived_from": str(origin.pk)}
                )
                _upload_record(actor=actor, version=version, new_file=new_file, **derivation)
                versions.append(version)
    except IntegrityError:
        raise name_clash_error(", ".join(clean for clean, _sealed in cleaned[:3])) from None
    return versions


def _names_free(
    folder: Folder, cleaned: list[tuple[str, SealedBlob]]
) -> list[tuple[str, SealedBlob]]:
    """Each name, or its first variant ("report (2).pdf") that no live file or folder in
    ``folder`` has, nor an earlier name of the batch. The caller holds the folder's lock,
    so no upload into it can take the name before this one commits."""
    chosen: set[str] = set()
    result = []
    for clean, sealed in cleaned:
        candidate, number = clean, 1
        while (key := name_key(candidate)) in chosen or (
            File.objects.filter(folder=folder, name_key=key, deleted_at__isnull=True).exists()
            or Folder.objects.filter(parent=folder, name_key=key, deleted_at__isnull=True).exists()
        ):
            number += 1
            candidate = name_variant(clean, number)
        chosen.add(key)
        result.append((candidate, sealed))
    return result


def _upload_record(*, actor: User, version: FileVersion, new_file: bool, **extra: Any) -> None:
    """The upload's audit event: which file, where, which version of what content."""
    file = version.file
    record(
        Action.FILES_FILE_UPLOAD,
        actor=actor,
        target=file,
        name=file.name,
        folder=file.folder_id,
        version=str(version.pk),
        number=version.number,
        new_file=new_file,
        size=version.size,
        sha256=version.sha256,
        content_type=version.content_type,
        **extra,
    )


def file_version_add(*, actor: User, file: File, sealed: SealedBlob) -> FileVersion:
    """Store an uploaded blob as the new current version of ``file``."""
    uploader_still_active_check(actor, file)
    require_edit(actor, file, action=Action.FILES_UPLOAD_REJECT)
    with _uploader_locked_transaction(actor, file):
        file = file_locked_live(file)
        quota_check(file.space, sealed.size)
        version = version_create(actor=actor, file=file, sealed=sealed)
        _upload_record(actor=actor, version=version, new_file=False)
    return version


def file_rename(*, actor: User, file: File, name: str) -> File:
    require_manage(actor, file, action=Action.FILES_FILE_RENAME)
    clean = name_clean(name)
    key = name_key(clean)
    try:
        with actor_locked_transaction(actor, action=Action.FILES_FILE_RENAME, target=file):
            file, folder = file_and_folder_locked_live(file)
            name_clash_check(folder=folder, key=key, file=file)
            old_name = file.name
            file.name, file.name_key = clean, key
            file.save(update_fields=["name", "name_key"])
            record(
                Action.FILES_FILE_RENAME, actor=actor, target=file, old_name=old_name, name=clean
            )
    except IntegrityError:
        raise name_clash_error(clean) from None
    return file


def _file_bytes(file: File) -> int:

    total = file.versions.filter(shredded_at__isnull=True).aggregate(total=Sum("size"))["total"]
    return int(total or 0)


def file_change(
    *,
    actor: User,
    file: File,
    name: str | None = None,
    destination: Folder | None = None,
    withdrawals: list[MoveLoss] | None = None,
) -> File:
    """Rename and/or move in one transaction (the API's PATCH): both or neither, each
    with its event. ``withdrawals``: see ``file_move``."""
    with transaction.atomic():
        if name is not None:
            file = file_rename(actor=actor, file=file, name=name)
        if destination is not None:
            file = file_move(
                actor=actor, file=file, destination=destination, withdrawals=withdrawals
            )
    return file


def file_move(
    *,
    actor: User,
    file: File,
    destination: Folder,
    withdrawals: list[MoveLoss] | None = None,
) -> File:
    """Move a file into ``destination``, maybe in another space. ``withdrawals``: as
    for ``folder_move``."""
    require_manage(actor, file, action=Action.FILES_FILE_MOVE)
    require_edit(actor, destination, action=Action.FILES_FILE_MOVE)
    if actor is not None:
        selectors.move_destination_check(actor=actor, item=file, destination=destination)
    try:
        # The mover's row first (docs/architecture.md, "Lock order").
        with actor_locked_transaction(actor, action=Action.FILES_FILE_MOVE, target=file):
            destination = folder_locked_live(destination)  # the folder, then the file
            file = file_locked_live(file)
            name_clash_check(folder=destination, key=file.name_key, file=file)
            from_folder, from_space = file.folder_id, file.space_id
            if destination.space_id != file.space_id:
                quota_check(destination.space, _file_bytes(file))
            file.folder = destination
            file.space_id = destination.space_id
            file.save(update_fields=["folder", "space"])
            sides = space_change_details(from_space_id=from_space, to_space_id=destination.space_id)
            # What those who are not of the new space had opened to outsiders on it ends
            # here, in this transaction (files/signals.py).
            withdrawn = (
                content_moved_announce(
                    actor=actor,
                    item=file,
                    from_space_id=from_space,
                    file_ids=[file.pk],
                    folder_ids=[],
                    sides=sides,
                )
                if sides
                else MoveWithdrawals(details={})
            )
            if withdrawals is not None:
                withdrawals.extend(withdrawn.losses)
            record(
                Action.FILES_FILE_MOVE,
                actor=actor,
                target=file,
                name=file.name,
                from_folder=from_folder,
                to_folder=destination.pk,
                from_space=from_space,
                to_space=destination.space_id,
                **sides,
                **withdrawn.details,
            )
    except IntegrityError:
        raise name_clash_error(file.name) from None
    return file


def file_copy(*, actor: User, file: File, destination: Folder, name: str | None = None) -> File:
    """A new file in ``destination`` whose one version shares the current version's
    content (no re-encryption, no new blob: ARCHITECTURE invariant 9). It counts in the
    destination space's quota like any file there."""
    # Seeing the source, then more than viewing it (docs/sharing-shares.md: a viewer
    # may download, not make herself the owner of a copy); writing into the
    # destination needs EDIT.
    require_view(actor, file, action=Action.FILES_FILE_COPY)
    if actor is not None:
        selectors.copy_check(actor=actor, file=file)
    require_edit(actor, destination, action=Action.FILES_FILE_COPY)
    source = file.current_version
    if source is None:
        raise FileRuleError(_("This file has no content to copy."))
    readable_source(source)
    wanted = name_clean(name) if name else file.name
    try:
        with actor_locked_transaction(actor, action=Action.FILES_FILE_COPY, target=file):
            destination = folder_locked_live(destination)
            if name:
                name_clash_check(folder=destination, key=name_key(wanted))
            else:
                wanted = free_name(folder=destination, name=wanted)
            quota_check(destination.space, source.size)
            copy = File.objects.create(
                space_id=destination.space_id,
                folder=destination,
                name=wanted,
                name_key=name_key(wanted),
                created_by=actor,
            )
            version = version_share_create(actor=actor, file=copy, source=source)
            record(
                Action.FILES_FILE_COPY,
                actor=actor,
                target=copy,
                name=copy.name,
                source_file=file.pk,
                source_version=str(source.pk),
                version=str(version.pk),
                content_holder=str(version.content_holder_id),
                to_folder=destination.pk,
                size=version.size,
            )
    except IntegrityError:
        raise name_clash_error(wanted) from None
    return copy


def file_delete(*, actor: User, file: File) -> File:
    """Move a file to the trash (restorable until purged)."""
    require_manage(actor, file, action=Action.FILES_FILE_DELETE)
    with transaction.atomic():
        file = file_locked_live(file)
        file.deleted_at, file.deleted_by, file.trashed_with = timezone.now(), actor, None
        file.save(update_fields=["deleted_at", "deleted_by", "trashed_with"])
        record(
            Action.FILES_FILE_DELETE,
            actor=actor,
            target=file,
            name=file.name,
            folder=file.folder_id,
        )
    return file


def file_restore(*, actor: User, file: File) -> File:
    """Bring a file back from the trash, to its folder if still there, else the top."""
    require_manage(actor, file, action=Action.FILES_FILE_RESTORE)
    with transaction.atomic():
        folder = restore_destination_locked(folder_id=file.folder_id, space=file.space)
        file = File.objects.select_for_update(no_key=True).get(pk=file.pk)
        if file.deleted_at is None or file.purged_at is not None or file.trashed_with_id:
            raise FileRuleError(_("This file is not in the trash."))
        file.name = free_name(folder=folder, name=file.name)
        file.name_key = name_key(file.name)
        file.folder = folder
        file.deleted_at = file.deleted_by = None
        file.save(update_fields=["name", "name_key", "folder", "deleted_at", "deleted_by"])
        record(
            Action.FILES_FILE_RESTORE, actor=actor, target=file, name=file.name, folder=folder.pk
        )
    return file


def file_purge(*, actor: User | None, file: File) -> int:
    """Destroy a trashed file for good. Returns how many versions were shredded.

    The wrapped data keys are destroyed and committed first; the blobs are deleted
    after the commit (``files.lifecycle.shredded_blobs_delete``), so even a blob that
    survives (a failed delete, a storage backup) can never be decrypted again.
    """
    require_manage(actor, file, action=Action.FILES_FILE_PURGE)
    now = timezone.now()
    with transaction.atomic():
        file = File.objects.select_for_update(no_key=True).get(pk=file.pk)
        if file.deleted_at is None or file.purged_at is not None:
            raise FileRuleError(_("Only files in the trash can be deleted permanently."))
        shredded = versions_shred(file.versions.all(), now)
        file.purged_at = now
        file.save(update_fields=["purged_at"])
        record(
            Action.FILES_FILE_PURGE,
            actor=actor,
            target=file,
            name=file.name,
            versions_shredded=shredded,
        )
        purge_cleanup_on_commit()
    return shredded
