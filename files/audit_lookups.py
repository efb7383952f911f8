"""What the audit console needs to know about files and folders: their names and where
they are now, trash included (registered in FilesConfig.ready)."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils.translation import gettext as _

from audit.resolvers import Access, Item
from files.lineage import LINEAGE_MAX_DEPTH
from files.models import File, FileVersion, Folder, Space
from files.names import name_search_key
from files.selectors import folder_ancestor_ids, folder_descendant_ids


def _space_name(space: Space) -> str:
    if space.team_id and space.team is not None:
        return space.team.name
    owner = space.owner
    if owner is None:
        return str(space)
    return _("Files of %(person)s") % {"person": owner.full_name or owner.email}


class _Locations:
    """Folder paths, each folder read once per lookup (trees are shallow)."""

    def __init__(self) -> None:
        self.folders: dict[int, Folder] = {}

    def folder(self, folder_id: int) -> Folder:
        if folder_id not in self.folders:
            self.folders[folder_id] = Folder.objects.select_related(
                "space__team", "space__owner"
            ).get(pk=folder_id)
        return self.folders[folder_id]

    def of(self, folder: Folder) -> str:
        names: list[str] = []
        current: Folder | None = folder
        while current is not None and current.parent_id is not None:
            names.append(current.name)
            current = self.folder(current.parent_id)
        return " / ".join([_space_name(folder.space), *reversed(names)])


def _file_item(file: File, locations: _Locations) -> Item:
    return Item(
        kind="file",
        id=str(file.pk),
        name=file.name,
        location=locations.of(file.folder),
        deleted=file.deleted_at is not None,
        purged=file.purged_at is not None,
    )


def _folder_item(folder: Folder, locations: _Locations) -> Item:
    parent = locations.of(locations.folder(folder.parent_id)) if folder.parent_id else ""
    return Item(
        kind="folder",
        id=str(folder.pk),
        name=folder.name or _space_name(folder.space),
        location=parent,
        deleted=folder.deleted_at is not None,
        purged=folder.purged_at is not None,
    )


def items_lookup(kind: str, ids: Iterable[str]) -> dict[str, Item]:
    numbers = [int(value) for value in ids if value.isdigit()]
    locations = _Locations()
    if kind == "file":
        found = File.objects.filter(pk__in=numbers).select_related(
            "folder__space__team", "folder__space__owner"
        )
        return {str(file.pk): _file_item(file, locations) for file in found}
    if kind == "folder":
        folders = Folder.objects.filter(pk__in=numbers).select_related(
            "space__team", "space__owner"
        )
        return {str(folder.pk): _folder_item(folder, locations) for folder in folders}
    return {}


def items_search(text: str, limit: int) -> list[Item]:
    """Files and folders whose name holds the last part of ``text``, in the trash too;
    with a "/" in ``text`` their path must hold the rest ("cardio/echo")."""
    parts = [part.strip() for part in text.split("/") if part.strip()]
    if not parts:
        return []
    # Accent- and case-insensitive, like the files' own search: "echo" finds
    # "Échographie" (the indexed name_search column, files/names.py).
    name, path_parts = name_search_key(parts[-1]), [name_search_key(part) for part in parts[:-1]]
    locations = _Locations()
    found: list[Item] = []
    files = File.objects.filter(name_search__contains=name).select_related(
        "folder__space__team", "folder__space__owner"
    )
    folders = Folder.objects.filter(name_search__contains=name).select_related(
        "space__team", "space__owner"
    )
    candidates: list[Item] = [
        *(_folder_item(folder, locations) for folder in folders.order_by("name")[: limit * 2]),
        *(_file_item(file, locations) for file in files.order_by("name")[: limit * 2]),
    ]
    for item in candidates:
        location = name_search_key(item.location)
        if all(part in location for part in path_parts):
            found.append(item)
    found.sort(key=lambda item: (item.purged, item.deleted, item.name.lower(), item.location))
    return found[:limit]


def folder_contents(folder_id: str) -> tuple[list[str], list[str]]:
    if not folder_id.isdigit():
        return [], []
    folder_ids = [int(folder_id), *folder_descendant_ids([int(folder_id)])]
    file_ids = File.objects.filter(folder_id__in=folder_ids).values_list("pk", flat=True)
    return [str(pk) for pk in file_ids], [str(pk) for pk in folder_ids]


def file_copies(file_ids: list[str]) -> list[str]:
    """Files whose content was copied from one of these (a copy of a copy too): their
    accesses are accesses to the original's content (lineage, files/lineage.py)."""
    wanted = {int(value) for value in file_ids if value.isdigit()}
    frontier = set(FileVersion.objects.filter(file_id__in=wanted).values_list("pk", flat=True))
    seen = set(frontier)
    copies: set[int] = set()
    for _depth in range(LINEAGE_MAX_DEPTH):
        if not frontier:
            break
        rows = list(
            FileVersion.objects.filter(source_version_id__in=frontier).values_list("pk", "file_id")
        )
        frontier = {pk for pk, _file in rows} - seen
        seen |= frontier
        copies.update(file_id for _pk, file_id in rows)
    return [str(pk) for pk in sorted(copies - wanted)]


def derived_files(file_ids: list[str]) -> list[str]:
    """Files with a version derived from a version of these files (one level: a copy
    is made from an original, never from a copy)."""
    wanted = [int(value) for value in file_ids if value.isdigit()]
    if not wanted:
        return []
    found = (
        FileVersion.objects.filter(derived_from__file_id__in=wanted)
        .values_list("file_id", flat=True)
        .distinct()
    )
    return sorted({str(pk) for pk in found} - {str(pk) for pk in wanted})


def folders_above(file_ids: list[str], folder_ids: list[str]) -> list[str]:
    """Every folder above these files and folders, up to the space's root (trash
    included): a link made on any of them reached these items. One query per distinct
    parent (a recursive CTE each); histories ask for a handful."""
    files = [int(value) for value in file_ids if value.isdigit()]
    folders = {int(value) for value in folder_ids if value.isdigit()}
    parents = set(File.objects.filter(pk__in=files).values_list("folder_id", flat=True))
    parents |= set(
        Folder.objects.filter(pk__in=folders, parent__isnull=False).values_list(
            "parent_id", flat=True
        )
    )
    above: set[int] = set()
    for parent in parents - folders:
        if parent is not None and parent not in above:
            above.update(folder_ancestor_ids(parent))
    return [str(pk) for pk in sorted(above - folders)]


def access_now(kind: str, item_id: str) -> list[Access]:
    """The people of the item's space: its owner, or its team's members."""
    model: type[File] | type[Folder] = File if kind == "file" else Folder
    if kind not in ("file", "folder") or not item_id.isdigit():
        return []
    item = model.objects.select_related("space__owner", "space__team").filter(pk=item_id).first()
    if item is None or item.deleted_at is not None:
        return []
    space = item.space
    if space.owner is not None and space.owner.is_active:
        owner = space.owner
        return [Access(owner.full_name or owner.email, owner.email, _("owner of the space"))]
    if space.team is None:
        return []
    from accounts.models import TeamMembership

    members = TeamMembership.objects.filter(team=space.team, user__is_active=True).select_related(
        "user"
    )
    return [
        Access(
            member.user.full_name or member.user.email,
            member.user.email,
            _("%(role)s of the team %(team)s")
            % {"role": member.get_role_display(), "team": space.team.name},
        )
        for member in members.order_by("user__full_name", "user__email")
    ]
