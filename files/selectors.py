"""Reads of files data, always scoped to who asks. Access is decided here and only here.

The rule today: a personal space belongs to its owner; a team space to the team's
members (managers have the same rights as members for content). Site administrators
and auditors get nothing from their role: they manage accounts and read the audit log,
never file content or other people's file lists (separation of duties). An object
outside what the person may see is "not found" (404), never "forbidden" (403), so an
id from another space confirms nothing; the refusal is audited.

Internal shares (a later issue) extend ``file_permission`` and ``folder_permission``:
every entry point (browser views, API, downloads, versions) goes through them.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet, Sum

from accounts.models import Team, TeamMembership, User
from audit import services as audit
from audit.models import Outcome
from files.errors import FileNotFoundForActor
from files.models import File, FileVersion, Folder, Space, SpaceKind


class Permission(enum.IntEnum):
    NONE = 0
    VIEW = 1  # list, see metadata, download
    EDIT = 2  # upload, rename, move, copy, delete, restore, purge


# --- Spaces -----------------------------------------------------------------------------


def _active(actor: Any) -> bool:
    return bool(getattr(actor, "is_authenticated", False) and getattr(actor, "is_active", False))


def spaces_accessible_by(actor: User) -> QuerySet[Space]:
    """Every space the person may open: their own, and their teams'."""
    if not _active(actor):
        return Space.objects.none()
    return Space.objects.filter(
        Q(kind=SpaceKind.PERSONAL, owner=actor)
        | Q(kind=SpaceKind.TEAM, team__memberships__user=actor)
    ).distinct()


def space_permission(*, actor: User, space: Space) -> Permission:
    if not _active(actor):
        return Permission.NONE
    if space.kind == SpaceKind.PERSONAL:
        return Permission.EDIT if space.owner_id == actor.pk else Permission.NONE
    if space.team_id is None:
        return Permission.NONE
    if TeamMembership.objects.filter(team_id=space.team_id, user=actor).exists():
        return Permission.EDIT
    return Permission.NONE


def space_accessible_by(*, actor: User, space: Space) -> bool:
    return space_permission(actor=actor, space=space) >= Permission.VIEW


def teams_with_space_for(actor: User) -> QuerySet[Team]:
    """Teams the person belongs to (each has a team space, made on first visit)."""
    if not _active(actor):
        return Team.objects.none()
    return Team.objects.filter(memberships__user=actor).distinct().order_by("name")


def space_used_bytes(space: Space) -> int:
    """Plaintext bytes of every version still holding a key (trash included)."""
    total = FileVersion.objects.filter(file__space=space, shredded_at__isnull=True).aggregate(
        total=Sum("size")
    )["total"]
    return int(total or 0)


def space_room_bytes(space: Space) -> int:
    return max(0, space.quota_effective - space_used_bytes(space))


def space_get_for_actor(*, actor: User, space_id: int) -> Space:
    space = Space.objects.select_related("team", "owner").filter(pk=space_id).first()
    if space is None or not space_accessible_by(actor=actor, space=space):
        _refused(actor=actor, target_type="files.space", target_id=space_id, need=Permission.VIEW)
    assert space is not None  # noqa: S101  (_refused raised otherwise)
    return space


def team_get_for_actor(*, actor: User, slug: str) -> Team:
    """A team whose space the person may open (a member), else not found."""
    team = teams_with_space_for(actor).filter(slug=slug).first()
    if team is None:
        _refused(actor=actor, target_type="accounts.team", target_id=slug, need=Permission.VIEW)
    assert team is not None  # noqa: S101
    return team


# --- The extension point for shares --------------------------------------------------------


def folder_permission(*, actor: User, folder: Folder) -> Permission:
    """What ``actor`` may do with ``folder`` and what is under it."""
    return space_permission(actor=actor, space=folder.space)


def file_permission(*, actor: User, file: File) -> Permission:
    """What ``actor`` may do with ``file`` and each of its versions."""
    return space_permission(actor=actor, space=file.space)


# --- Lookups by id (every entry point) ------------------------------------------------------


def _refused(*, actor: User, target_type: str, target_id: object, need: Permission) -> None:
    audit.record(
        action="files.access",
        outcome=Outcome.DENIED,
        actor=actor if _active(actor) else None,
        target_type=target_type,
        target_id=target_id,
        details={"need": need.name.lower()},
    )
    raise FileNotFoundForActor(f"{target_type} {target_id}")


def folder_get_for_actor(
    *, actor: User, folder_id: int, need: Permission = Permission.VIEW
) -> Folder:
    """A live folder ``actor`` may use as ``need`` asks, or ``FileNotFoundForActor``."""
    folder = (
        Folder.objects.select_related("space", "space__team", "space__owner")
        .filter(pk=folder_id, deleted_at__isnull=True)
        .first()
    )
    if folder is None or folder_permission(actor=actor, folder=folder) < need:
        _refused(actor=actor, target_type="files.folder", target_id=folder_id, need=need)
    assert folder is not None  # noqa: S101  (_refused raised otherwise)
    return folder


def folder_in_trash_get_for_actor(*, actor: User, folder_id: int) -> Folder:
    """A folder deleted directly (the top of what went to the trash with it)."""
    folder = (
        Folder.objects.select_related("space")
        .filter(pk=folder_id, deleted_at__isnull=False, trashed_with__isnull=True)
        .exclude(purged_at__isnull=False)
        .first()
    )
    if folder is None or folder_permission(actor=actor, folder=folder) < Permission.EDIT:
        _refused(actor=actor, target_type="files.folder", target_id=folder_id, need=Permission.EDIT)
    assert folder is not None  # noqa: S101
    return folder


def file_get_for_actor(
    *,
    actor: User,
    file_id: int,
    need: Permission = Permission.VIEW,
    in_trash: bool = False,
) -> File:
    """A file ``actor`` may use as ``need`` asks, or ``FileNotFoundForActor``.

    ``in_trash=False``: a live file. ``in_trash=True``: a file deleted directly (not as
    part of a folder), for restore and purge.
    """
    files = File.objects.select_related("space", "space__team", "folder", "current_version").filter(
        pk=file_id, purged_at__isnull=True
    )
    if in_trash:
        files = files.filter(deleted_at__isnull=False, trashed_with__isnull=True)
    else:
        files = files.filter(deleted_at__isnull=True)
    file = files.first()
    if file is None or file_permission(actor=actor, file=file) < need:
        _refused(actor=actor, target_type="files.file", target_id=file_id, need=need)
    assert file is not None  # noqa: S101
    return file


def version_get_for_actor(
    *, actor: User, file_id: int, version_id: object, need: Permission = Permission.VIEW
) -> FileVersion:
    """A version of a live file ``actor`` may read. Old versions are checked exactly
    like the current one (nextcloud/server#38135: old versions left readable)."""
    file = file_get_for_actor(actor=actor, file_id=file_id, need=need)
    wanted = _uuid_or_none(version_id)
    version = (
        None
        if wanted is None
        else FileVersion.objects.filter(pk=wanted, file=file, shredded_at__isnull=True).first()
    )
    if version is None:
        _refused(actor=actor, target_type="files.version", target_id=version_id, need=need)
    assert version is not None  # noqa: S101
    version.file = file
    return version


def _uuid_or_none(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


# --- Listings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FolderListing:
    folder: Folder
    breadcrumbs: list[Folder]
    folders: list[Folder]
    files: list[File]


def folder_breadcrumbs(folder: Folder) -> list[Folder]:
    """Root first, ``folder`` last. One query per level (trees are shallow)."""
    chain = [folder]
    while chain[-1].parent_id is not None:
        chain.append(Folder.objects.get(pk=chain[-1].parent_id))
    return list(reversed(chain))


def folder_listing(folder: Folder) -> FolderListing:
    """What is in a folder ``folder_get_for_actor`` already returned."""
    folders = list(folder.children.filter(deleted_at__isnull=True).order_by("name_key"))
    files = list(
        folder.files.filter(deleted_at__isnull=True, purged_at__isnull=True)
        .select_related("current_version", "current_version__uploaded_by")
        .order_by("name_key")
    )
    return FolderListing(folder, folder_breadcrumbs(folder), folders, files)


def file_versions(file: File) -> list[FileVersion]:
    """Versions of a file ``file_get_for_actor`` returned, newest first."""
    return list(
        file.versions.filter(shredded_at__isnull=True)
        .select_related("uploaded_by")
        .order_by("-number")
    )


@dataclass(frozen=True)
class TrashListing:
    space: Space
    folders: list[Folder]
    files: list[File]


def trash_listing(space: Space) -> TrashListing:
    """What was deleted directly in ``space`` (things deleted with a folder go with it)."""
    folders = list(
        Folder.objects.filter(
            space=space, deleted_at__isnull=False, trashed_with__isnull=True, purged_at__isnull=True
        ).order_by("-deleted_at")
    )
    files = list(
        File.objects.filter(
            space=space, deleted_at__isnull=False, trashed_with__isnull=True, purged_at__isnull=True
        )
        .select_related("current_version", "folder")
        .order_by("-deleted_at")
    )
    return TrashListing(space, folders, files)


def folders_for_move(*, actor: User, exclude_under: Folder | None = None) -> list[Folder]:
    """Live folders the person may put things in, for a "move to" list."""
    folders = (
        Folder.objects.filter(space__in=spaces_accessible_by(actor), deleted_at__isnull=True)
        .select_related("space", "space__team")
        .order_by("space_id", "parent_id", "name_key")
    )
    excluded: set[int] = set()
    if exclude_under is not None:
        excluded = set(folder_descendant_ids([exclude_under.pk])) | {exclude_under.pk}
    return [folder for folder in folders if folder.pk not in excluded]


def folder_descendant_ids(folder_ids: Iterable[int]) -> list[int]:
    """Ids of every folder strictly below the given ones (breadth first)."""
    found: list[int] = []
    frontier = list(folder_ids)
    while frontier:
        frontier = list(Folder.objects.filter(parent_id__in=frontier).values_list("pk", flat=True))
        found.extend(frontier)
    return found
