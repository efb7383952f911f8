"""Stars and recent files: what the home page shows a clinician (issue #15).

A star (``Favourite``) is a bookmark only: it grants nothing. Reads are scoped like
every other listing: a starred item shows only while the person may still read it and
it is not in the trash; recent files are those of the person's own and teams' spaces.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.models import User
from files import selectors
from files.models import Favourite, File, Folder

HOME_RECENT_COUNT = 10
HOME_FAVOURITES_COUNT = 50


def favourite_set(*, actor: User, item: File | Folder, starred: bool) -> None:
    """Star or unstar ``item``, which ``*_get_for_actor`` already returned. Idempotent."""
    lookup = {"file": item} if isinstance(item, File) else {"folder": item}
    if not starred:
        Favourite.objects.filter(user=actor, **lookup).delete()
        return
    try:
        with transaction.atomic():
            Favourite.objects.get_or_create(user=actor, **lookup)
    except IntegrityError:  # starred twice at once: one star
        pass


def favourite_ids_for(*, actor: User, files: list[File], folders: list[Folder]) -> set[str]:
    """Which of the listed items the person starred, as ``file:1`` / ``folder:2``."""
    stars = Favourite.objects.filter(user=actor).filter(
        file__in=[file.pk for file in files]
    ) | Favourite.objects.filter(user=actor, folder__in=[folder.pk for folder in folders])
    return {
        f"file:{file_id}" if file_id else f"folder:{folder_id}"
        for file_id, folder_id in stars.values_list("file_id", "folder_id")
    }


def favourites_for(*, actor: User) -> list[File | Folder]:
    """The person's starred items they may still read, newest star first."""
    stars = (
        Favourite.objects.filter(user=actor)
        .select_related("file__space", "file__folder", "file__current_version", "folder__space")
        .order_by("-created_at")[:HOME_FAVOURITES_COUNT]
    )
    items: list[File | Folder] = []
    for star in stars:
        item: File | Folder | None = star.file or star.folder
        if item is None or item.deleted_at is not None or item.purged_at is not None:
            continue
        if isinstance(item, File):
            permission = selectors.file_permission(actor=actor, file=item)
        else:
            permission = selectors.folder_permission(actor=actor, folder=item)
        if permission >= selectors.Permission.VIEW:
            items.append(item)
    return items


def recent_files_for(*, actor: User) -> list[File]:
    """The files changed last in the person's own and teams' spaces."""
    return list(
        File.objects.filter(
            space__in=selectors.spaces_accessible_by(actor),
            deleted_at__isnull=True,
            purged_at__isnull=True,
            current_version__isnull=False,
        )
        .select_related("current_version", "folder")
        .order_by("-updated_at", "-pk")[:HOME_RECENT_COUNT]
    )
