"""What a person opened to outsiders on a space she no longer holds, found and withdrawn.

Three moments end a person's right to open a space's files to outsiders
(``files.selectors.sharing_refusal``: only the people of a space may) while what she
already opened would otherwise stay standing, seen by nobody who could withdraw it:

* the grant of the auditor role: everything outside her personal space
  (``sharing.services.auditor_grant``, reason ``accounts.roles.BECAME_AUDITOR``);
* the end of a team membership: the team's space only
  (``sharing.services.team_leave``, reason ``accounts.services.LEFT_THE_TEAM``);
* a move of a file or folder into a space she is not of (out of a team's space into
  another team's or someone's personal space): the moved content only, for those who
  lose the right there (``sharing.services.move_out``, reason
  ``files.signals.MOVED_OUT``).

All three withdraw the same three things, in the caller's transaction, each audited with its
names, her name and the reason:

* a link to a file or folder of the space is revoked: its recipient reads "This link
  was withdrawn" (410);
* a transfer holding any file of the space is revoked, every recipient's link with it
  (the whole transfer: a transfer quietly emptied of some files would tell its
  recipient nothing), and its recipients get the neutral notice offboarding sends (the
  sender's name and organisation, never the files nor why);
* a file request into a folder of the space is closed: the uploader reads the closed
  request's page (410), and uploads under way are cut at their next chunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from accounts.roles import Withdrawn
from audit import services as audit
from audit.actions import Action
from files.models import File, Folder, SpaceKind
from sharing.models import FileRequest, ShareLink, Transfer, TransferItem


class Scope(Protocol):
    """Which content a withdrawal covers: ``holds_item`` for a link's file or folder
    and a file request's folder, ``transfer_paths`` for a transfer's files."""

    def holds_item(self, item: File | Folder) -> bool: ...

    def transfer_paths(self, transfer_id: int) -> list[str]: ...


@dataclass(frozen=True)
class SpaceScope:
    """Whose content is withdrawn: one space's (``inside``), or every space but one
    (her personal space; ``space_id`` ``None``: every space)."""

    space_id: int | None
    inside: bool

    @classmethod
    def only(cls, space_id: int) -> SpaceScope:
        return cls(space_id=space_id, inside=True)

    @classmethod
    def all_but(cls, space_id: int | None) -> SpaceScope:
        return cls(space_id=space_id, inside=False)

    def holds(self, space_id: int) -> bool:
        return space_id == self.space_id if self.inside else space_id != self.space_id

    def holds_item(self, item: File | Folder) -> bool:
        return self.holds(item.space_id)

    def transfer_paths(self, transfer_id: int) -> list[str]:
        """The paths (as sent) of the transfer's files in scope."""
        items: QuerySet[TransferItem] = TransferItem.objects.filter(transfer_id=transfer_id)
        if self.space_id is None:
            # Inside no space: nothing; all but none: every file.
            return [] if self.inside else self._paths(items)
        if self.inside:
            items = items.filter(file__space_id=self.space_id)
        else:
            items = items.exclude(file__space_id=self.space_id)
        return self._paths(items)

    @staticmethod
    def _paths(items: QuerySet[TransferItem]) -> list[str]:
        return _paths(items)


def _paths(items: QuerySet[TransferItem]) -> list[str]:
    return list(items.order_by("path", "pk").values_list("path", flat=True))


@dataclass(frozen=True)
class ContentScope:
    """Some files and folders, wherever they are: what one move carried into another
    space (the moved file, or the moved folder with every live folder and file below
    it)."""

    file_ids: frozenset[int]
    folder_ids: frozenset[int]

    def holds_item(self, item: File | Folder) -> bool:
        return item.pk in (self.file_ids if isinstance(item, File) else self.folder_ids)

    def transfer_paths(self, transfer_id: int) -> list[str]:
        return _paths(
            TransferItem.objects.filter(transfer_id=transfer_id, file_id__in=self.file_ids)
        )


def item_name(item: File | Folder) -> str:
    """The item as its creator knew it: a space's top folder has no name of its own, and
    goes by its team's ("Cardiologie")."""
    if item.name:
        return item.name
    team = item.space.team if item.space.kind == SpaceKind.TEAM else None
    return team.name if team is not None else ""


def _whose(user: User) -> dict[str, str]:
    """Whose it was, as the log names a person ("Name <address>"): the privacy export
    keeps it in her own copy and redacts it from anyone else's (audit/actions.py)."""
    return {"owner": user.email, "owner_person": f"{user.get_full_name()} <{user.email}>"}


@dataclass
class Opened:
    """What ``user`` opened to outsiders in a scope, still live: the links (with the
    item's name), the transfers (with the paths of their files in scope) and the open
    file requests."""

    user: User
    links: list[tuple[ShareLink, str]] = field(default_factory=list)
    transfers: list[tuple[Transfer, list[str]]] = field(default_factory=list)
    requests: list[FileRequest] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.links or self.transfers or self.requests)

    def in_words(self) -> list[Withdrawn]:
        return (
            [Withdrawn(kind="link", name=name) for _link, name in self.links]
            + [
                Withdrawn(kind="transfer", name=transfer.subject, files=tuple(files))
                for transfer, files in self.transfers
            ]
            + [Withdrawn(kind="file_request", name=request.title) for request in self.requests]
        )

    def withdraw(
        self, *, actor: User | None, actor_label: str, why: Mapping[str, Any]
    ) -> dict[str, int]:
        """Withdraw each, in the caller's transaction, audited with ``why`` (at least its
        ``reason``) and whose it was; the transfers' recipients are told after commit."""
        from sharing.services.offboarding import transfer_withdrawn_notices_send

        when = timezone.now()
        whose = _whose(self.user)
        for link, name in self.links:
            ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
                revoked_at=when, revoked_by=actor
            )
            audit.record(
                action=Action.SHARING_LINK_REVOKE,
                actor=actor,
                actor_label=actor_label,
                target_type="sharing.link",
                target_id=link.pk,
                details={
                    **why,
                    "name": name,
                    **({"recipient": link.recipient_email} if link.recipient_email else {}),
                    **whose,
                },
            )
        told: set[str] = set()
        for transfer, files in self.transfers:
            live = ShareLink.objects.filter(transfer=transfer, revoked_at__isnull=True)
            told.update(email for email in live.values_list("recipient_email", flat=True) if email)
            links_revoked = live.update(revoked_at=when, revoked_by=actor)
            Transfer.objects.filter(pk=transfer.pk).update(revoked_at=when)
            audit.record(
                action=Action.SHARING_TRANSFER_REVOKE,
                actor=actor,
                actor_label=actor_label,
                target_type="sharing.transfer",
                target_id=transfer.pk,
                details={
                    "subject": transfer.subject,
                    **why,
                    "files": files,
                    "links_revoked": links_revoked,
                    **whose,
                },
            )
        for request in self.requests:
            FileRequest.objects.filter(pk=request.pk, closed_at__isnull=True).update(
                closed_at=when, closed_by=actor
            )
            audit.record(
                action=Action.SHARING_REQUEST_CLOSE,
                actor=actor,
                actor_label=actor_label,
                target_type="sharing.request",
                target_id=request.pk,
                details={
                    "title": request.title,
                    "name": request.title,
                    "folder": item_name(request.folder),
                    **why,
                    **whose,
                },
            )
        if told:
            sender_id, recipients = self.user.pk, sorted(told)
            transaction.on_commit(
                lambda: transfer_withdrawn_notices_send(sender_id=sender_id, recipients=recipients),
                robust=True,
            )
        return {
            "links": len(self.links),
            "transfers": len(self.transfers),
            "file_requests": len(self.requests),
        }


def opened_to_outsiders(
    user: User, *, scope: Scope, drafts: bool = True, lock: bool = False
) -> Opened:
    """The live links, transfers and file requests ``user`` made on content in
    ``scope`` (``drafts``: transfers not sent yet too; ``lock``: their rows locked, in
    the caller's transaction, so that what is listed and what is withdrawn are the same
    rows)."""
    now = timezone.now()
    links = (
        ShareLink.objects.filter(
            created_by=user, transfer__isnull=True, revoked_at__isnull=True, expires_at__gt=now
        )
        .select_related("file__space__team", "folder__space__team")
        .order_by("pk")
    )
    live_transfers = Transfer.objects.filter(
        created_by=user, revoked_at__isnull=True, purged_at__isnull=True, expires_at__gt=now
    ).order_by("pk")
    if not drafts:
        live_transfers = live_transfers.filter(sent_at__isnull=False)
    requests = (
        FileRequest.objects.filter(created_by=user, closed_at__isnull=True)
        .select_related("folder")
        .order_by("pk")
    )
    if lock:
        links = links.select_for_update(no_key=True, of=("self",))
        live_transfers = live_transfers.select_for_update(no_key=True)
        requests = requests.select_for_update(no_key=True, of=("self",))

    opened = Opened(user=user)
    for link in links:
        item = link.file or link.folder
        if item is not None and scope.holds_item(item):
            opened.links.append((link, item_name(item)))
    for transfer in live_transfers:
        paths = scope.transfer_paths(transfer.pk)
        if paths:
            opened.transfers.append((transfer, paths))
    opened.requests = [request for request in requests if scope.holds_item(request.folder)]
    return opened
