"""Stars and recent files: what the home page shows a clinician (issue #15).

A star (``Favourite``) is a bookmark only: it grants nothing. Reads are scoped like
every other listing: a starred item shows only while the person may still read it and
it is not in the trash; recent files are those of the person's own and teams' spaces.

A star on an item the person can no longer read is kept, hidden: access lost by mistake
(a team membership removed and restored, a share ended and made again) brings the star
back with it. Hidden, it is nowhere: not on the home page, not in a count, not through
the star buttons (which answer 404 for an item out of reach, as every other page does).
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from accounts.models import User
from files import selectors
from files.models import Favourite, File, Folder

HOME_RECENT_COUNT = 10
HOME_FAVOURITES_COUNT = 50
# Stars read at a time while looking for live ones (stale stars are skipped).
FAVOURITES_BATCH = 100


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
    """The person's starred items they may still read, newest star first, at most
    ``HOME_FAVOURITES_COUNT`` of them.

    Hidden stars (on items in the trash or out of the person's reach) do not count
    against that number: stars are read newest first, a batch at a time, until enough
    live ones are found. Before, the newest 50 stars were read and then filtered, so
    someone with many hidden stars saw few favourites, or none. Only stars on items gone
    for good (purged) are removed when met. A star on an item in the trash stays for a
    restore; one on an item the person can no longer read stays too, so that access
    restored (a team membership removed by mistake and given back) brings it back; before,
    it was deleted at the first visit of the home page and lost for good.
    """
    items: list[File | Folder] = []
    forgotten: list[int] = []
    readable = selectors.ReadableBy(actor)
    stars = (
        Favourite.objects.filter(user=actor)
        .select_related(
            "file__space", "file__folder__space", "file__current_version", "folder__space"
        )
        .order_by("-created_at", "-pk")
    )
    start = 0
    while len(items) < HOME_FAVOURITES_COUNT:
        batch = list(stars[start : start + FAVOURITES_BATCH])
        start += len(batch)
        for star in batch:
            item: File | Folder | None = star.file or star.folder
            if item is None or item.purged_at is not None:
                forgotten.append(star.pk)
            elif item.deleted_at is None and readable.readable(item):
                items.append(item)
                if len(items) == HOME_FAVOURITES_COUNT:
                    break
            # else hidden: in the trash, or out of reach for now; kept, never shown.
        if len(batch) < FAVOURITES_BATCH:
            break
    if forgotten:
        Favourite.objects.filter(user=actor, pk__in=forgotten).delete()
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
