"""Names for the ids in the log, looked up by the apps that own them.

The log keeps ids and labels (an account id, ``link:12``, ``files.file 7``); an auditor
needs a person's name, a recipient's e-mail address and a file's path. ``audit`` imports
no app, so each app registers, in its ``AppConfig.ready``, the lookups it can answer
(accounts: people; files: items, their paths and search; sharing: links, transfers and
file requests). Each lookup takes a batch of ids and returns what it found: one query per
kind for a page of 50 events, never one per row. A kind nobody registered resolves to
nothing, and the console falls back to what the event itself recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    email: str
    active: bool = True


@dataclass(frozen=True)
class Item:
    """A file or folder as it is now: where it lives, or that it is gone."""

    kind: str  # "file" or "folder"
    id: str
    name: str
    location: str  # "Cardiologie / Échos" (the space, then the folders); "" when purged
    deleted: bool = False  # in the trash
    purged: bool = False  # deleted for good
    formerly: str = ""  # a name it had, when it was found by that name (renamed since)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True)
class Channel:
    """How someone outside reached the content: a link (alone or of a transfer) or a
    file request, with the address it was for and who made it."""

    kind: str  # "link", "transfer" or "request"
    id: str
    name: str  # a link's label, a transfer's subject, a request's title
    recipient: str = ""
    owner: str = ""  # the e-mail address of the person who made it
    transfer: str = ""  # a transfer link: the transfer's subject
    target: str = ""  # what a link gives: the file's or folder's name, or the transfer's


@dataclass(frozen=True)
class Access:
    """Someone who can reach an item now, and why (owner, team, share, live link)."""

    who: str
    email: str
    why: str


PeopleLookup = Callable[[Iterable[str]], dict[str, Person]]
PeopleSearch = Callable[[str, int], list[Person]]
ItemsLookup = Callable[[str, Iterable[str]], dict[str, Item]]
ItemsSearch = Callable[[str, int], list[Item]]
FolderContents = Callable[[str], tuple[list[str], list[str]]]
FileCopies = Callable[[list[str]], list[str]]
DerivedFiles = Callable[[list[str]], list[str]]
FoldersAbove = Callable[[list[str], list[str]], list[str]]
ChannelsLookup = Callable[[str, Iterable[str]], dict[str, Channel]]
AccessLookup = Callable[[str, str], list[Access]]
ReviewItemText = Callable[[dict[str, object]], str]


@dataclass
class Registry:
    people: PeopleLookup | None = None
    people_search: PeopleSearch | None = None
    items: ItemsLookup | None = None
    items_search: ItemsSearch | None = None
    folder_contents: FolderContents | None = None
    file_copies: FileCopies | None = None
    derived_files: DerivedFiles | None = None
    folders_above: FoldersAbove | None = None
    channels: ChannelsLookup | None = None
    # Several apps answer "who can access this now": files (the space's people),
    # sharing (shares and live links); each adds its own.
    access_now: list[AccessLookup] = field(default_factory=list)
    # An access review's item, worded from the codes and names its event recorded.
    review_item: ReviewItemText | None = None


registry = Registry()


def register(**lookups: Callable[..., object]) -> None:
    """Called by an app's ``ready()``: ``register(people=..., people_search=...)``."""
    for name, lookup in lookups.items():
        if not hasattr(registry, name):
            raise TypeError(f"unknown audit resolver {name!r}")
        if name == "access_now":
            if lookup not in registry.access_now:
                registry.access_now.append(lookup)  # type: ignore[arg-type]
            continue
        setattr(registry, name, lookup)


def people(ids: Iterable[str]) -> dict[str, Person]:
    wanted = {value for value in ids if value}
    return registry.people(wanted) if registry.people and wanted else {}


def people_search(text: str, *, limit: int = 20) -> list[Person]:
    return registry.people_search(text, limit) if registry.people_search and text else []


def items(kind: str, ids: Iterable[str]) -> dict[str, Item]:
    wanted = {value for value in ids if value}
    return registry.items(kind, wanted) if registry.items and wanted else {}


def items_search(text: str, *, limit: int = 30) -> list[Item]:
    return registry.items_search(text, limit) if registry.items_search and text else []


def folder_contents(folder_id: str) -> tuple[list[str], list[str]]:
    """Ids of every file and folder under a folder (itself included), trash included."""
    if registry.folder_contents is None:
        return [], [folder_id]
    return registry.folder_contents(folder_id)


def file_copies(file_ids: list[str]) -> list[str]:
    """Ids of the files copied from these (their content's lineage), these excluded."""
    if registry.file_copies is None or not file_ids:
        return []
    return registry.file_copies(file_ids)


def derived_files(file_ids: list[str]) -> list[str]:
    """Ids of the files made from these (de-identified copies), so an original's history
    also shows what became of the copies made from it."""
    if registry.derived_files is None or not file_ids:
        return []
    return registry.derived_files(file_ids)


def folders_above(file_ids: list[str], folder_ids: list[str]) -> list[str]:
    """Ids of every folder above these files and folders (not these folders): a link
    made on one of them gave these items too."""
    if registry.folders_above is None or not (file_ids or folder_ids):
        return []
    return registry.folders_above(file_ids, folder_ids)


def channels(kind: str, ids: Iterable[str]) -> dict[str, Channel]:
    wanted = {value for value in ids if value}
    return registry.channels(kind, wanted) if registry.channels and wanted else {}


def access_now(kind: str, item_id: str) -> list[Access]:
    """Everyone who can reach the item now, and why, from every app that knows."""
    return [access for lookup in registry.access_now for access in lookup(kind, item_id)]


def review_item(details: dict[str, object]) -> str:
    """A ``reviews.item.decide`` event's item in the reader's language ("Tom Teammate
    (member)"), from the parts it recorded; its stored ``item`` text when nobody
    registered the wording (or for an event from before the parts were recorded)."""
    if registry.review_item is not None:
        return registry.review_item(details)
    item = details.get("item")
    return item if isinstance(item, str) else ""
