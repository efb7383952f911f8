"""Folders: create, rename, move (across spaces too), trash, restore, purge."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from audit.actions import Action
from files import selectors
from files.errors import (
    FileRuleError,
)
from files.models import File, FileVersion, Folder
from files.names import name_clean, name_key
from files.services.common import (
    actor_locked_transaction,
    folder_and_parent_locked_live,
    folder_locked_live,
    free_name,
    name_clash_check,
    name_clash_error,
    purge_cleanup_on_commit,
    quota_check,
    record,
    require_edit,
    require_manage,
    space_change_details,
    versions_shred,
)
from files.services.spaces import restore_destination_locked, space_root
from files.signals import MoveLoss, MoveWithdrawals, content_moved_announce


def folder_create(*, actor: User, parent: Folder, name: str) -> Folder:
    require_edit(actor, parent, action=Action.FILES_FOLDER_CREATE)
    clean = name_clean(name)
    key = name_key(clean)
    try:
        with actor_locked_transaction(actor, action=Action.FILES_FOLDER_CREATE, target=parent):
            parent = folder_locked_live(parent)
            name_clash_check(folder=parent, key=key)
            folder = Folder.objects.create(
                space_id=parent.space_id, parent=parent, name=clean, name_key=key, created_by=actor
            )
            record(
                Action.FILES_FOLDER_CREATE, actor=actor, target=folder, name=clean, parent=parent.pk
            )
    except IntegrityError:
        raise name_clash_error(clean) from None
    return folder


def folder_rename(*, actor: User, folder: Folder, name: str) -> Folder:
    require_manage(actor, folder, action=Action.FILES_FOLDER_RENAME)
    if folder.is_root:
        raise FileRuleError(_("The top folder of a space cannot be renamed."))
    clean = name_clean(name)
    key = name_key(clean)
    try:
        with actor_locked_transaction(actor, action=Action.FILES_FOLDER_RENAME, target=folder):
            folder, parent = folder_and_parent_locked_live(folder)
            name_clash_check(folder=parent, key=key, subfolder=folder)
            old_name = folder.name
            folder.name, folder.name_key = clean, key
            folder.save(update_fields=["name", "name_key"])
            record(
                Action.FILES_FOLDER_RENAME,
                actor=actor,
                target=folder,
                old_name=old_name,
                name=clean,
            )
    except IntegrityError:
        raise name_clash_error(clean) from None
    return folder


def _subtree_bytes(folder_ids: list[int]) -> int:

    total = FileVersion.objects.filter(
        file__folder_id__in=folder_ids, file__deleted_at__isnull=True, shredded_at__isnull=True
    ).aggregate(total=Sum("size"))["total"]
    return int(total or 0)


def folder_change(
    *,
    actor: User,
    folder: Folder,
    name: str | None = None,
    destination: Folder | None = None,
    withdrawals: list[MoveLoss] | None = None,
) -> Folder:
    """Rename and/or move in one transaction (the API's PATCH): both or neither, each
    with its event. ``withdrawals``: see ``folder_move``."""
    with transaction.atomic():
        if name is not None:
            folder = folder_rename(actor=actor, folder=folder, name=name)
        if destination is not None:
            folder = folder_move(
                actor=actor, folder=folder, destination=destination, withdrawals=withdrawals
            )
    return folder


def _move_locked(folder: Folder, destination: Folder) -> tuple[Folder, Folder]:
    """Lock the moved folder, the destination and every folder above the destination
    (ascending id, the lock order), and return the first two, live.

    Locking the two folders alone let two crossed moves (A into a folder below B, B
    into a folder below A) each check a tree the other was changing, both pass, and
    hang A and B below each other, cut off from the top folder. With the destination's
    whole chain locked, each crossed move holds the other's moved folder, so the second
    waits for the first and then sees the tree it left. The chain is read again once
    locked: if a move committed meanwhile changed it, the new chain is locked too.
    """
    for _attempt in range(_MOVE_LOCK_ATTEMPTS):
        wanted = sorted({folder.pk, *selectors.folder_ancestor_ids(destination.pk)})
        locked = {
            row.pk: row
            for row in Folder.objects.select_for_update(no_key=True)
            .filter(pk__in=wanted)
            .order_by("pk")
        }
        if set(selectors.folder_ancestor_ids(destination.pk)) <= locked.keys():
            break
    else:
        raise FileRuleError(_("The folders were reorganised in the meantime: try again."))
    moved, target = locked.get(folder.pk), locked.get(destination.pk)
    if moved is None or target is None or moved.deleted_at or target.deleted_at:
        raise FileRuleError(_("This folder was deleted in the meantime."))
    return moved, target


_MOVE_LOCK_ATTEMPTS = 5


def folder_move(
    *,
    actor: User,
    folder: Folder,
    destination: Folder,
    withdrawals: list[MoveLoss] | None = None,
) -> Folder:
    """Move a folder (and all below it) under ``destination``, maybe in another space.
    ``withdrawals``, when given, receives what the move withdrew, person by person
    (links, transfers and file requests of those who are not of the destination):
    what the API answers its caller, who saw no confirmation."""
    require_manage(actor, folder, action=Action.FILES_FOLDER_MOVE)
    require_edit(actor, destination, action=Action.FILES_FOLDER_MOVE)
    if actor is not None:
        selectors.move_destination_check(actor=actor, item=folder, destination=destination)
    if folder.is_root:
        raise FileRuleError(_("The top folder of a space cannot be moved."))
    with actor_locked_transaction(actor, action=Action.FILES_FOLDER_MOVE, target=folder):
        folder, destination = _move_locked(folder, destination)
        below = selectors.folder_descendant_ids([folder.pk])
        if destination.pk == folder.pk or destination.pk in below:
            raise FileRuleError(_("A folder cannot be moved into itself."))
        name_clash_check(folder=destination, key=folder.name_key, subfolder=folder)
        from_parent, from_space = folder.parent_id, folder.space_id
        left_in_trash = {"trash_files_left": 0, "trash_folders_left": 0}
        subtree: list[int] = []
        moved_files: list[int] = []
        if destination.space_id != folder.space_id:
            live = Folder.objects.filter(pk__in=below, deleted_at__isnull=True)
            subtree = [folder.pk, *live.values_list("pk", flat=True)]
            quota_check(destination.space, _subtree_bytes(subtree))
            left_in_trash = _trash_left_behind(subtree, space_root(folder.space))
            Folder.objects.filter(pk__in=subtree).update(space_id=destination.space_id)
            live_files = File.objects.filter(folder_id__in=subtree, deleted_at__isnull=True)
            moved_files = list(live_files.values_list("pk", flat=True))
            live_files.update(space_id=destination.space_id)
        folder.parent = destination
        folder.space_id = destination.space_id
        folder.save(update_fields=["parent", "space"])
        sides = space_change_details(from_space_id=from_space, to_space_id=destination.space_id)
        # What those who are not of the new space had opened to outsiders on the folder
        # or anything below it ends here, in this transaction (files/signals.py).
        withdrawn = (
            content_moved_announce(
                actor=actor,
                item=folder,
                from_space_id=from_space,
                file_ids=moved_files,
                folder_ids=subtree,
                sides=sides,
            )
            if sides
            else MoveWithdrawals(details={})
        )
        if withdrawals is not None:
            withdrawals.extend(withdrawn.losses)
        record(
            Action.FILES_FOLDER_MOVE,
            actor=actor,
            target=folder,
            name=folder.name,
            from_folder=from_parent,
            to_folder=destination.pk,
            from_space=from_space,
            to_space=destination.space_id,
            trash_files_left=left_in_trash["trash_files_left"],
            trash_folders_left=left_in_trash["trash_folders_left"],
            **sides,
            **withdrawn.details,
        )
    return folder


def _trash_left_behind(subtree: list[int], old_root: Folder) -> dict[str, int]:
    """What was deleted inside a folder moving to another space stays in its own
    space's trash, hung under that space's top folder (where a restore puts it): the
    people of the other space never saw it, and must not find it in their trash and
    restore what its owner deleted. What was deleted with a subfolder stays below it."""
    files = File.objects.filter(folder_id__in=subtree, deleted_at__isnull=False)
    folders = Folder.objects.filter(parent_id__in=subtree, deleted_at__isnull=False)
    left = {"trash_files_left": files.update(folder=old_root)}
    left["trash_folders_left"] = folders.update(parent=old_root)
    return left


def folder_delete(*, actor: User | None, folder: Folder) -> Folder:
    """Move a folder and everything live below it to the trash (``actor=None``: the
    system, e.g. an expired transfer's folder before it is purged)."""
    require_manage(actor, folder, action=Action.FILES_FOLDER_DELETE)
    if folder.is_root:
        raise FileRuleError(_("The top folder of a space cannot be deleted."))
    now = timezone.now()
    with transaction.atomic():
        folder, below = _subtree_locked_live(folder)
        live_folders = Folder.objects.filter(pk__in=below, deleted_at__isnull=True)
        live_files = File.objects.filter(folder_id__in=[folder.pk, *below], deleted_at__isnull=True)
        file_count = live_files.update(deleted_at=now, deleted_by=actor, trashed_with=folder)
        folder_count = live_folders.update(deleted_at=now, deleted_by=actor, trashed_with=folder)
        folder.deleted_at, folder.deleted_by, folder.trashed_with = now, actor, None
        folder.save(update_fields=["deleted_at", "deleted_by", "trashed_with"])
        record(
            Action.FILES_FOLDER_DELETE,
            actor=actor,
            target=folder,
            name=folder.name,
            files=file_count,
            folders=folder_count,
        )
    return folder


def _subtree_locked_live(folder: Folder) -> tuple[Folder, list[int]]:
    """Lock ``folder`` and every folder below it (ascending id, the lock order), and
    return it, live, with the ids below.

    Every writer into a folder (upload, new folder, copy, move, restore) holds that
    folder's lock: with the whole subtree locked, what such a writer committed is seen
    by the trash's updates, and what comes after finds its folder deleted. Locking the
    top folder alone let an upload into a subfolder commit between the trash's two
    updates: a live file in a trashed folder, found by search and the home page. The
    tree is read again once locked: a folder created meanwhile is locked too, one moved
    out is left out."""
    for _attempt in range(_MOVE_LOCK_ATTEMPTS):
        below = selectors.folder_descendant_ids([folder.pk])
        locked = {
            row.pk: row
            for row in Folder.objects.select_for_update(no_key=True)
            .filter(pk__in=[folder.pk, *below])
            .order_by("pk")
        }
        # Read again under the locks: what moved out meanwhile is not trashed with it.
        below = selectors.folder_descendant_ids([folder.pk])
        if set(below) <= locked.keys():
            break
    else:
        raise FileRuleError(_("The folders were reorganised in the meantime: try again."))
    top = locked.get(folder.pk)
    if top is None or top.deleted_at is not None:
        raise FileRuleError(_("This folder was deleted in the meantime."))
    return top, below


def folder_restore(*, actor: User, folder: Folder) -> Folder:
    """Bring a trashed folder back with what was deleted with it.

    It returns to its parent if that is still there, else to the top of its space; a
    name taken meanwhile gets a number (“Reports (2)”).
    """
    require_manage(actor, folder, action=Action.FILES_FOLDER_RESTORE)
    with transaction.atomic():
        parent = restore_destination_locked(folder_id=folder.parent_id, space=folder.space)
        folder = Folder.objects.select_for_update(no_key=True).get(pk=folder.pk)
        if folder.deleted_at is None or folder.purged_at is not None:
            raise FileRuleError(_("This folder is not in the trash."))
        folder.name = free_name(folder=parent, name=folder.name)
        folder.name_key = name_key(folder.name)
        folder.parent = parent
        folder.deleted_at = folder.deleted_by = None
        folder.save(update_fields=["name", "name_key", "parent", "deleted_at", "deleted_by"])
        files = File.objects.filter(trashed_with=folder).update(
            deleted_at=None, deleted_by=None, trashed_with=None
        )
        folders = Folder.objects.filter(trashed_with=folder).update(
            deleted_at=None, deleted_by=None, trashed_with=None
        )
        record(
            Action.FILES_FOLDER_RESTORE,
            actor=actor,
            target=folder,
            name=folder.name,
            parent=parent.pk,
            files=files,
            folders=folders,
        )
    return folder


def folder_purge(*, actor: User | None, folder: Folder) -> int:
    """Destroy a trashed folder for good: every file below is crypto-shredded.

    Returns how many versions were shredded. Blobs are deleted after the commit.
    """
    require_manage(actor, folder, action=Action.FILES_FOLDER_PURGE)
    now = timezone.now()
    with transaction.atomic():
        folder = Folder.objects.select_for_update(no_key=True).get(pk=folder.pk)
        if folder.deleted_at is None or folder.purged_at is not None:
            raise FileRuleError(_("Only folders in the trash can be deleted permanently."))
        subtree = [folder.pk, *selectors.folder_descendant_ids([folder.pk])]
        files = File.objects.filter(folder_id__in=subtree, purged_at__isnull=True)
        shredded = versions_shred(FileVersion.objects.filter(file__in=files), now)
        file_count = files.update(purged_at=now, deleted_at=now)
        Folder.objects.filter(pk__in=subtree).update(purged_at=now)
        Folder.objects.filter(pk__in=subtree, deleted_at__isnull=True).update(deleted_at=now)
        record(
            Action.FILES_FOLDER_PURGE,
            actor=actor,
            target=folder,
            name=folder.name,
            files=file_count,
            versions_shredded=shredded,
        )
        purge_cleanup_on_commit()
    return shredded
