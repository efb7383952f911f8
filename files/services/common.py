"""What every files service shares: permission re-checks, name clashes, locks,
quotas, the audit call and the purge hand-off. Internal to ``files.services``.

Lock order (docs/architecture.md, "Lock order"): a transaction locks the rows it
changes in this order, skipping what it does not need, and never the other way round:
the acting person's row (``actor_locked_transaction``, a write a leaver's offboarding
must see), upload session, folders (by ascending id), file, space (quota), versions, and the
audit chain last. The row locks are ``FOR NO KEY UPDATE``: they serialise writers but
do not block the ``FOR KEY SHARE`` that PostgreSQL's deferred foreign-key checks take
at COMMIT, after the audit chain's lock (a file inserted into a folder checks that
folder then). With ``FOR UPDATE`` those checks waited for a folder locked by a
transaction that itself waited for the audit chain: a deadlock, issue #13.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext as _

from accounts import still_active
from accounts.models import User
from audit import services as audit
from audit.actions import Action
from audit.context import RequestContext
from audit.models import AuditEvent, Outcome
from files import selectors
from files.errors import (
    FileRuleError,
    NameClashError,
    QuotaExceededError,
)
from files.models import File, FileVersion, Folder, Space, VersionThumbnail
from files.names import name_key, name_variant
from files.selectors import Permission
from files.uploads import size_refusal

# How the audit log names what a files event is about.
_TARGET_TYPES: dict[type, str] = {
    File: "files.file",
    Folder: "files.folder",
    FileVersion: "files.version",
    Space: "files.space",
}


def actor_still_active_check(
    actor: User | None, *, action: Action, target: File | Folder, message: str = ""
) -> still_active.StillActive:
    """Refuse, on record, a change made for an account deactivated since its person was
    loaded (the one check every app makes: ``accounts.still_active``), as a files
    refusal. ``actor=None`` is the system (purges, the offboarding's own hand-over)."""
    return still_active.actor_still_active_check(
        actor,
        action=action,
        target_type=_TARGET_TYPES[type(target)],
        target_id=target.pk,
        error=FileRuleError,
        message=message,
    )


def actor_locked_transaction(
    actor: User | None, *, action: Action, target: File | Folder, message: str = ""
) -> AbstractContextManager[dict[int, User]]:
    """The write's ``transaction.atomic()``, whose first statement locks ``actor``'s row
    (``accounts.still_active``): a deactivation at this instant either commits after the
    write (and its plan, made after, sees what the write made: a file handed over, a
    team space's file it names) or before, and the write waits, then is refused, on
    record, 403. One row lock per write, not per segment or per file of a batch; a
    nested call (a folder made inside a transfer's creation) locks the row again, which
    its own transaction already holds. ``actor=None`` (the system) locks nothing."""
    return actor_still_active_check(
        actor, action=action, target=target, message=message
    ).locked_transaction()


def _require(
    need: Permission, actor: User | None, objects: tuple[File | Folder, ...], action: Action
) -> None:
    if actor is None:
        return
    actor_still_active_check(actor, action=action, target=objects[0])
    for obj in objects:
        permission = (
            selectors.file_permission(actor=actor, file=obj)
            if isinstance(obj, File)
            else selectors.folder_permission(actor=actor, folder=obj)
        )
        if permission < need:
            # Recorded as the selectors record theirs (one ``files.access`` denied per
            # refusal): a caller that skipped its lookup, or a right lost between the
            # lookup and the change, still leaves a trace for the auditors.
            selectors.access_refused(
                actor=actor,
                target_type="files.file" if isinstance(obj, File) else "files.folder",
                target_id=obj.pk,
                need=need,
                item=obj,
            )


def require_view(actor: User | None, *objects: File | Folder, action: Action) -> None:
    """The actor, still active, may read every object (a copy's source)."""
    _require(Permission.VIEW, actor, objects, action)


def require_edit(actor: User | None, *objects: File | Folder, action: Action) -> None:
    """The actor, still active, may change every object involved (destination folders
    included); ``action`` is what a deactivated actor's refusal is recorded as."""
    _require(Permission.EDIT, actor, objects, action)


def require_manage(actor: User | None, *objects: File | Folder, action: Action) -> None:
    """The actor may rename, move or trash the objects: an editor of a share may do so
    only strictly inside the shared folder, never to the shared item itself."""
    _require(Permission.MANAGE, actor, objects, action)


def name_clash_error(name: str) -> NameClashError:
    """The one refusal for a name already taken in a folder, whichever way it is found
    (the check before writing, or the database's unique index under a race)."""
    return NameClashError(
        _("Something called “%(name)s” is already in this folder.") % {"name": name}
    )


def name_clash_check(
    *, folder: Folder, key: str, file: File | None = None, subfolder: Folder | None = None
) -> None:
    """Nothing else live in ``folder`` is called ``key`` (files and folders alike)."""
    files = File.objects.filter(folder=folder, name_key=key, deleted_at__isnull=True)
    folders = Folder.objects.filter(parent=folder, name_key=key, deleted_at__isnull=True)
    if file is not None:
        files = files.exclude(pk=file.pk)
    if subfolder is not None:
        folders = folders.exclude(pk=subfolder.pk)
    if files.exists() or folders.exists():
        raise name_clash_error(key)


def free_name(*, folder: Folder, name: str) -> str:
    """``name``, or ``name (2)``, ``name (3)``… whichever is free in ``folder``."""
    candidate, number = name, 1
    while True:
        key = name_key(candidate)
        taken = (
            File.objects.filter(folder=folder, name_key=key, deleted_at__isnull=True).exists()
            or Folder.objects.filter(parent=folder, name_key=key, deleted_at__isnull=True).exists()
        )
        if not taken:
            return candidate
        number += 1
        candidate = name_variant(name, number)


def folder_locked_live(folder: Folder) -> Folder:
    locked = Folder.objects.select_for_update(no_key=True).filter(pk=folder.pk).first()
    if locked is None or locked.deleted_at is not None:
        raise FileRuleError(_("This folder was deleted in the meantime."))
    return locked


def folders_locked_live(*folders: Folder) -> list[Folder]:
    """Several folders locked in ascending id order (the lock order), returned in the
    order given."""
    locked = {folder.pk: folder_locked_live(folder) for folder in sorted(folders, key=_pk)}
    return [locked[folder.pk] for folder in folders]


def _pk(folder: Folder) -> int:
    return int(folder.pk)


def file_and_folder_locked_live(file: File) -> tuple[File, Folder]:
    """The file and the folder it is in, both locked (the folder first: the lock order),
    for a change of name: every writer of a name into a folder (upload, new folder,
    copy, move, restore) holds that folder's lock, so the check that the name is free
    stays true until the commit. The file locked alone let a new folder of the same
    name land beside it (no database rule spans files and folders)."""
    for _attempt in range(3):
        folder = folder_locked_live(Folder(pk=File.objects.get(pk=file.pk).folder_id))
        locked = file_locked_live(file)
        if locked.folder_id == folder.pk:  # not moved between the two locks
            return locked, folder
    raise FileRuleError(_("This file was moved in the meantime: try again."))


def folder_and_parent_locked_live(folder: Folder) -> tuple[Folder, Folder]:
    """A folder and its parent, both locked (by ascending id, as a move locks the
    folders above its destination), for a change of name: see
    ``file_and_folder_locked_live``."""
    for _attempt in range(3):
        parent_id = Folder.objects.get(pk=folder.pk).parent_id
        if parent_id is None:
            raise FileRuleError(_("The top folder of a space cannot be renamed."))
        parent, locked = folders_locked_live(Folder(pk=parent_id), folder)
        if locked.parent_id == parent.pk:
            return locked, parent
    raise FileRuleError(_("This folder was moved in the meantime: try again."))


def file_locked_live(file: File) -> File:
    locked = File.objects.select_for_update(no_key=True).filter(pk=file.pk).first()
    if locked is None or locked.deleted_at is not None or locked.purged_at is not None:
        raise FileRuleError(_("This file was deleted in the meantime."))
    return locked


def quota_check(space: Space, extra_bytes: int) -> None:
    """Inside a transaction: lock the space (serialises writers) and check the room."""
    locked = Space.objects.select_for_update(no_key=True).get(pk=space.pk)
    # Room promised to resumable uploads in progress is not free (a completing upload
    # no longer counts as in progress: files/tus.py marks it before creating the version).
    room = selectors.space_room_bytes(locked)
    if extra_bytes > room:
        raise size_refusal(
            limit=extra_bytes, quota_room=room, reserved=selectors.space_reserved_bytes(locked)
        )


def upload_limit_bytes(space: Space) -> tuple[int, QuotaExceededError]:
    """How many bytes an upload into ``space`` may carry now, and the refusal beyond."""
    from django.conf import settings

    room = selectors.space_room_bytes(space)
    ceiling = int(settings.FILES_UPLOAD_MAX_BYTES)
    limit = min(room, ceiling)
    reserved = selectors.space_reserved_bytes(space)
    return limit, size_refusal(limit=ceiling, quota_room=room, reserved=reserved)


def record(
    action: Action,
    *,
    actor: User | None,
    target: File | Folder | FileVersion | Space,
    outcome: str = Outcome.SUCCESS,
    request: RequestContext | None = None,
    **details: Any,
) -> AuditEvent:
    return audit.record(
        action=action,
        outcome=outcome,
        actor=actor,
        actor_label="" if actor else "system",
        target_type=_TARGET_TYPES[type(target)],
        target_id=target.pk,
        details=details,
        request=request,
    )


def space_change_details(*, from_space_id: int, to_space_id: int) -> dict[str, Any]:
    """A move's audit details naming whose space it left and entered: ``from_team`` /
    ``to_team`` (a team's name) or ``from_owner`` / ``to_owner`` (a person, "Name
    <address>", as the privacy export finds her), so that the console reads "from team
    Cardiologie to Alice Martin's personal space" whatever was renamed since.
    ``left_team`` (the team's id) lets the team's managers list what left the team
    space (``audit.selectors.team_departures``). Nothing for a move within a space."""
    if from_space_id == to_space_id:
        return {}
    spaces = Space.objects.select_related("team", "owner").in_bulk([from_space_id, to_space_id])
    details: dict[str, Any] = {}
    for prefix, space_id in (("from", from_space_id), ("to", to_space_id)):
        space = spaces[space_id]
        if space.team is not None:
            details[f"{prefix}_team"] = space.team.name
        elif space.owner is not None:
            details[f"{prefix}_owner"] = f"{space.owner.get_full_name()} <{space.owner.email}>"
    if spaces[from_space_id].team_id is not None:
        details["left_team"] = spaces[from_space_id].team_id
    return details


def purge_cleanup_on_commit() -> None:
    """After a purge commits: delete the blobs whose keys it destroyed."""
    from files import tasks

    # robust: a broker outage must not turn a committed purge into an error page; the
    # hourly trash task deletes whatever blob is left behind.
    transaction.on_commit(lambda: tasks.shredded_blobs_delete.delay(), robust=True)


def versions_shred(versions: QuerySet[FileVersion], now: Any) -> int:
    """Shred ``versions`` (inside the caller's transaction); returns how many.

    Each is gone for its file at once (``shredded_at``), its thumbnail's key with it
    (files/thumbnails.py). Content is shared by reference (``content_holder``): the
    holder's wrapped data key is destroyed (crypto-shredding) when the last version
    using it goes, here, and the blob is deleted after (files/lifecycle.py). Until then
    a purged original keeps its key for the copies that live on, unreadable through
    its own file. The holders and the versions are locked first (ascending id), so a
    copy being made concurrently (``version_share_create``) is either counted or
    refused, and a thumbnail being stored (``files.thumbnails._store``, under a lock on
    its version) is either refused or committed before its key is destroyed below: a
    copy's own row was not locked, and a thumbnail committed meanwhile kept its key.
    """
    rows = list(versions.filter(shredded_at__isnull=True).values_list("pk", "content_holder_id"))
    if not rows:
        return 0
    ids = [pk for pk, _holder in rows]
    holder_ids = sorted({holder or pk for pk, holder in rows})
    list(
        FileVersion.objects.select_for_update(no_key=True)
        .filter(pk__in={*holder_ids, *ids})
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    VersionThumbnail.objects.filter(version_id__in=ids).update(wrapped_data_key=None)
    shredded = FileVersion.objects.filter(pk__in=ids, shredded_at__isnull=True).update(
        shredded_at=now
    )
    live_sharers = FileVersion.objects.filter(
        content_holder_id=OuterRef("pk"), shredded_at__isnull=True
    )
    FileVersion.objects.filter(pk__in=holder_ids, shredded_at__isnull=False).exclude(
        Exists(live_sharers)
    ).update(wrapped_data_key=None)
    return shredded
