"""Reads of the sharing app, always scoped to who asks (docs/architecture.md).

One section per concept: shares, links, transfers, file requests. A lookup of something
the person may not see is refused with one answer for "not yours" and "does not exist"
(``FileNotFoundForActor``, ``TransferNotFound``, ``FileRequestNotFound``, or a
``LinkRuleError`` shown as 404), and the refusal is audited. Writes live in
``sharing.services``; the permission rules on files themselves in ``files.selectors``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, F, Prefetch, Q, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Team, TeamMembership, User
from audit import services as audit
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from files import selectors as files_selectors
from files.errors import FileNotFoundForActor
from files.models import File, Folder
from sharing.errors import FileRequestNotFound, LinkRuleError, TransferNotFound
from sharing.models import (
    FileRequest,
    FileRequestUpload,
    Share,
    ShareLink,
    ShareLinkDownload,
    ShareRole,
    Transfer,
    TransferItem,
)

Item = File | Folder


def share_item(share: Share) -> Item:
    """The file or folder a share is on."""
    item = share.file if share.file_id is not None else share.folder
    assert item is not None  # noqa: S101  (database constraint share_file_xor_folder)
    return item


# --- Shares -------------------------------------------------------------------------------


def shares_of_item(item: Item) -> QuerySet[Share]:
    """The shares of an item ``item_for_sharing`` returned (its own, not inherited)."""
    shares = Share.objects.filter(file=item) if isinstance(item, File) else item.shares.all()
    return shares.select_related("user", "team", "created_by").order_by("created_at", "pk")


def shares_above(item: Item) -> QuerySet[Share]:
    """Shares on the folders above ``item``: they reach it too (shown on its page)."""
    folder = item.folder if isinstance(item, File) else item.parent
    if folder is None:
        return Share.objects.none()
    chain = files_selectors.folder_ancestor_ids(folder.pk)
    return (
        Share.objects.filter(folder_id__in=chain)
        .select_related("user", "team", "folder")
        .order_by("created_at", "pk")
    )


def share_get_for_actor(*, actor: User, share_id: int) -> Share:
    """A share whose item ``actor`` may manage; anything else is not found (audited)."""
    share = (
        Share.objects.select_related("file", "folder", "user", "team").filter(pk=share_id).first()
    )
    if share is not None:
        item = share_item(share)
        if files_selectors.sharing_managed_by(actor=actor, item=item):
            return share
    audit.record(
        action=Action.SHARING_SHARE_UPDATE,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type="sharing.share",
        target_id=share_id,
        details={"reason": "not_found", "share": share_id},
    )
    raise FileNotFoundForActor(f"sharing.share {share_id}")


@dataclass(frozen=True)
class SharedItem:
    """One item shared with a person (the strongest of their shares on it)."""

    file: File | None
    folder: Folder | None
    role: str
    shared_by: User | None
    shared_at: object
    via_team: Team | None

    @property
    def name(self) -> str:
        return self.file.name if self.file is not None else self.folder.name if self.folder else ""

    @property
    def url(self) -> str:
        if self.file is not None:
            return reverse("files:file", args=[self.file.pk])
        assert self.folder is not None  # noqa: S101
        return reverse("files:folder", args=[self.folder.pk])

    def get_role_display(self) -> str:
        return str(ShareRole(self.role).label)


def shares_withheld_count(*, actor: User) -> int:
    """How many shares reach ``actor`` that their auditor role suspends (0 for anyone
    else): "shared with me" says they are there without naming them."""
    if not files_selectors.role_withholds_content(actor):
        return 0
    return Share.objects.filter(
        Q(user=actor) | Q(team__in=TeamMembership.objects.filter(user=actor).values("team"))
    ).count()


def shared_with_me(*, actor: User) -> list[SharedItem]:
    """Live items shared with ``actor`` directly or through a team, newest first.

    Items of the person's own spaces are left out (they reach them anyway). An
    inactive person gets nothing, nor does an auditor: the names of colleagues' files
    (often patients' names) are content too (files.selectors.role_withholds_content).
    """
    if not (actor.is_authenticated and actor.is_active):
        return []
    if files_selectors.role_withholds_content(actor):
        return []
    my_spaces = files_selectors.spaces_accessible_by(actor).values("pk")
    shares = (
        Share.objects.filter(
            Q(user=actor) | Q(team__in=TeamMembership.objects.filter(user=actor).values("team"))
        )
        .filter(
            Q(file__isnull=False, file__deleted_at__isnull=True, file__purged_at__isnull=True)
            | Q(folder__isnull=False, folder__deleted_at__isnull=True)
        )
        .exclude(file__space__in=my_spaces)
        .exclude(folder__space__in=my_spaces)
        .select_related("file", "file__current_version", "folder", "team", "created_by")
        .order_by("-created_at", "-pk")
    )
    found: dict[tuple[str, int], SharedItem] = {}
    for share in shares:
        key = ("file", share.file_id) if share.file_id else ("folder", share.folder_id or 0)
        known = found.get(key)
        if known is not None and not (
            share.role == ShareRole.EDITOR and known.role == ShareRole.VIEWER
        ):
            continue
        found[key] = SharedItem(
            file=share.file,
            folder=share.folder,
            role=share.role,
            shared_by=share.created_by,
            shared_at=share.created_at,
            via_team=share.team,
        )
    return list(found.values())


# --- Links (the owner's listings) ---------------------------------------------------------


def share_link_may_manage(*, actor: User, link: ShareLink) -> bool:
    """The creator, or the people of the shared item's space (who decide who sees it;
    someone it was only shared with, even as editor, does not see its links)."""
    if not (actor.is_authenticated and actor.is_active):
        return False
    item = link.file or link.folder
    if item is not None:
        # The creator too only while one of those people: someone who left the team
        # keeps neither the link (it died, ``link_access.link_state_now``) nor its
        # receipts (recipients' addresses, the names of what they downloaded).
        return files_selectors.sharing_managed_by(actor=actor, item=item)
    return link.created_by_id == actor.pk


def _with_targets(links: QuerySet[ShareLink]) -> QuerySet[ShareLink]:
    return links.select_related(
        "file", "folder", "transfer", "created_by", "revoked_by"
    ).prefetch_related("downloads")


def share_links_of_actor(*, actor: User) -> QuerySet[ShareLink]:
    """Every link the person created that they may still manage (``share_link_may_manage``:
    not those to a file or folder of a team they left), newest first."""
    spaces = files_selectors.spaces_accessible_by(actor)
    return _with_targets(
        ShareLink.objects.filter(created_by=actor).filter(
            Q(transfer__isnull=False) | Q(file__space__in=spaces) | Q(folder__space__in=spaces)
        )
    ).order_by("-created_at")


def share_links_for_item(*, actor: User, target: File | Folder) -> QuerySet[ShareLink]:
    """Links to ``target`` that ``actor`` may manage: their own, or everyone's for the
    people of its space (a colleague of the team can revoke a link on a team file)."""
    field = "file" if isinstance(target, File) else "folder"
    links = ShareLink.objects.filter(**{field: target})
    if not files_selectors.sharing_managed_by(actor=actor, item=target):
        links = links.filter(created_by=actor)
    return _with_targets(links).order_by("-created_at")


def share_link_get_for_actor(*, actor: User, link_id: int) -> ShareLink:
    """A link the person may manage (to withdraw it), or ``LinkRuleError`` (shown as
    404), audited like the other lookups of something not theirs."""
    link = _with_targets(ShareLink.objects.filter(pk=link_id)).first()
    if link is None or not share_link_may_manage(actor=actor, link=link):
        audit.record(
            action=Action.SHARING_LINK_REVOKE,
            outcome=Outcome.DENIED,
            actor=actor if actor.is_authenticated else None,
            target_type="sharing.link",
            target_id=link_id,
            details={"reason": "not_found"},
        )
        raise LinkRuleError(_("No such link."))
    return link


def folder_links_reaching(*, folder: Folder) -> list[ShareLink]:
    """The live external links to ``folder`` or to a folder above it, soonest to expire
    first. A link to a folder shows the folder's live files, those added later too
    (docs/sharing-links.md): whoever holds one of these opens what is put in ``folder``
    from now on. Said on the folder's page to those who may add to it, who are often
    not the link's maker and would otherwise not know."""
    now = timezone.now()
    return list(
        ShareLink.objects.filter(
            folder_id__in=files_selectors.folder_ancestor_ids(folder.pk),
            transfer__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=now,
        )
        .filter(Q(max_downloads__isnull=True) | Q(download_count__lt=F("max_downloads")))
        .select_related("created_by")
        .order_by("expires_at", "pk")
    )


# --- Transfers ----------------------------------------------------------------------------


def transfers_for_actor(actor: User) -> QuerySet[Transfer]:
    """The person's own transfers, newest first."""
    return (
        Transfer.objects.filter(created_by=actor).select_related("folder").order_by("-created_at")
    )


def transfer_get_for_actor(*, actor: User, transfer_id: int) -> Transfer:
    """The sender's own transfer, or ``TransferNotFound`` (audited, like a files 404)."""
    transfer = (
        Transfer.objects.select_related("folder", "created_by")
        .filter(pk=transfer_id, created_by=actor)
        .first()
    )
    if transfer is None:
        audit.record(
            action=Action.SHARING_TRANSFER_ACCESS,
            outcome=Outcome.DENIED,
            actor=actor if actor.is_authenticated else None,
            target_type="sharing.transfer",
            target_id=transfer_id,
        )
        raise TransferNotFound(str(transfer_id))
    return transfer


def transfer_files(transfer: Transfer) -> list[File]:
    """What the transfer holds, live, by name: once sent, the files it was sent with
    (``TransferItem``); before, what is in its folder (and below).

    A file its sender may no longer send outside (they left the team whose space holds
    it) is left out, as a trashed one is: its recipients no longer get it
    (``link_downloads._sent_items``), and the sender, no longer one of its space's
    people, must not keep reading its live name and size through their transfer."""
    if transfer.folder_id is None or transfer.purged_at is not None:
        return []
    if transfer.sent_at is not None:
        files = File.objects.filter(
            pk__in=TransferItem.objects.filter(transfer=transfer).values("file_id"),
        )
    else:
        # A draft: what is in its folder (and below), and the files picked from
        # elsewhere (referenced, not copied).
        folder_ids = [
            transfer.folder_id,
            *files_selectors.folder_descendant_ids([transfer.folder_id]),
        ]
        picked = TransferItem.objects.filter(transfer=transfer).values("file_id")
        files = File.objects.filter(Q(folder_id__in=folder_ids) | Q(pk__in=picked))
    live = (
        files.filter(deleted_at__isnull=True, purged_at__isnull=True)
        .select_related("current_version", "space")
        .order_by("name_key")
    )
    return transfer_files_sendable(transfer, list(live))


def transfer_files_sendable(transfer: Transfer, files: list[File]) -> list[File]:
    """The ``files`` the transfer's sender may still send outside (the one sharing
    rule, ``files.selectors.sharing_refusal``), asked once per space."""
    allowed: dict[int, bool] = {}
    kept = []
    for file in files:
        if file.space_id not in allowed:
            allowed[file.space_id] = files_selectors.sharing_allowed(
                actor=transfer.created_by, item=file, way=files_selectors.SharingWay.TRANSFER
            )
        if allowed[file.space_id]:
            kept.append(file)
    return kept


def transfer_total_bytes(files: list[File]) -> int:
    return sum(file.current_version.size for file in files if file.current_version is not None)


@dataclass(frozen=True)
class LinkView:
    """A file a link's recipient opened in the browser (a preview), from the audit log."""

    at: dt.datetime
    name: str


# The newest previews shown per transfer page: a recipient scrolling a study's images
# must not turn the sender's page into the audit log.
LINK_VIEWS_SHOWN = 200


def share_link_views(link_ids: list[int]) -> dict[int, list[LinkView]]:
    """Per link, the files its recipient viewed in the browser, newest first: a preview
    is an access too, and the only one a "view only" link allows. Read from the
    ``sharing.link.view`` events (indexed by target), which name the file."""
    views: dict[int, list[LinkView]] = {link_id: [] for link_id in link_ids}
    events = (
        AuditEvent.objects.filter(
            action=Action.SHARING_LINK_VIEW,
            outcome=Outcome.SUCCESS,
            target_type="sharing.link",
            target_id__in=[str(link_id) for link_id in link_ids],
        )
        .order_by("-sequence")
        .only("target_id", "occurred_at", "details")[:LINK_VIEWS_SHOWN]
    )
    for event in events:
        views[int(event.target_id)].append(
            LinkView(at=event.occurred_at, name=str(event.details.get("name", "")))
        )
    return views


def share_link_uses_left(link: ShareLink) -> int | None:
    """How many more views and downloads ``link`` allows (``None``: no limit)."""
    if link.max_downloads is None:
        return None
    return max(0, link.max_downloads - link.download_count)


@dataclass(frozen=True)
class RecipientStatus:
    link: ShareLink
    status: str  # "active", "revoked", "expired", "exhausted"
    downloads: list[ShareLinkDownload]
    views: list[LinkView]


def link_status(link: ShareLink, *, now: dt.datetime | None = None) -> str:
    moment = now or timezone.now()
    if link.revoked_at is not None:
        return "revoked"
    if link.expires_at <= moment:
        return "expired"
    if link.max_downloads is not None and link.download_count >= link.max_downloads:
        return "exhausted"
    return "active"


def transfer_recipients(transfer: Transfer) -> list[RecipientStatus]:
    """Per recipient: their link's status, every download receipt and the files they
    viewed in the browser, newest first."""
    links = list(
        transfer.links.order_by("recipient_email", "pk").prefetch_related(
            Prefetch("downloads", queryset=ShareLinkDownload.objects.order_by("-at"))
        )
    )
    now = timezone.now()
    views = share_link_views([link.pk for link in links])
    return [
        RecipientStatus(
            link=link,
            status=link_status(link, now=now),
            downloads=list(link.downloads.all()),
            views=views[link.pk],
        )
        for link in links
    ]


def transfer_status(transfer: Transfer, *, now: dt.datetime | None = None) -> str:
    moment = now or timezone.now()
    if transfer.purged_at is not None:
        return "purged"
    if transfer.revoked_at is not None:
        return "revoked"
    if transfer.expires_at <= moment:
        return "expired"
    if transfer.sent_at is None:
        return "draft"
    return "sent"


# --- File requests ------------------------------------------------------------------------


def file_requests_for_actor(actor: User) -> QuerySet[FileRequest]:
    """The person's file requests into a space they still belong to: one into a folder
    of a team they left no longer answers outsiders (``sharing_refusal``), and what
    arrived through it (patients' files, senders' names and addresses) is the team's."""
    return (
        FileRequest.objects.filter(
            created_by=actor, folder__space__in=files_selectors.spaces_accessible_by(actor)
        )
        .select_related("folder", "folder__space")
        .order_by("-created_at")
    )


def file_request_get_for_actor(*, actor: User, request_id: int) -> FileRequest:
    found = file_requests_for_actor(actor).filter(pk=request_id).first()
    if found is None:
        audit.record(
            action=Action.SHARING_REQUEST_ACCESS,
            outcome=Outcome.DENIED,
            actor=actor if actor.is_authenticated else None,
            target_type="sharing.request",
            target_id=request_id,
        )
        raise FileRequestNotFound(str(request_id))
    return found


def file_request_lapsed_staged_bytes(
    file_request_id: int, *, now: dt.datetime | None = None, exclude: int | None = None
) -> int:
    """Bytes that unfinished uploads of the request without a place (their hold lapsed)
    still keep in storage: their staged ciphertext stays until their tus session
    expires, a day after their last PATCH. Counted against the request's size, so that
    uploads sent almost whole and left to lapse, again and again, cannot put many times
    the request's size on the owner's storage (counted by no quota once lapsed).
    ``exclude``: an upload (``FileRequestUpload`` id) asking for its own place back."""
    moment = now or timezone.now()
    staged = FileRequestUpload.objects.filter(
        Q(holds_place=False) | Q(held_until__lte=moment),
        request_id=file_request_id,
        completed_at__isnull=True,
        upload__isnull=False,
        upload__completed_at__isnull=True,
        upload__expires_at__gt=moment,
    )
    if exclude is not None:
        staged = staged.exclude(pk=exclude)
    return int(staged.aggregate(total=Sum("upload__offset"))["total"] or 0)


def file_request_places(
    file_request: FileRequest, *, now: dt.datetime | None = None
) -> tuple[int, int]:
    """Files and bytes the request's uploads take now: the reserved counts less the
    unfinished uploads whose hold lapsed and whose place was not given back yet (the
    next upload or the hourly sweep gives it back: sharing/services/file_requests.py),
    plus what lapsed uploads still keep staged (``file_request_lapsed_staged_bytes``)."""
    moment = now or timezone.now()
    lapsed = FileRequestUpload.objects.filter(
        request_id=file_request.pk,
        completed_at__isnull=True,
        holds_place=True,
        held_until__lte=moment,
    ).aggregate(files=Count("pk"), size=Sum("size"))
    staged = file_request_lapsed_staged_bytes(file_request.pk, now=moment)
    return (
        max(0, file_request.files_reserved - int(lapsed["files"] or 0)),
        max(0, file_request.bytes_reserved - int(lapsed["size"] or 0)) + staged,
    )


def file_request_status(file_request: FileRequest, *, now: dt.datetime | None = None) -> str:
    moment = now or timezone.now()
    if file_request.closed_at is not None:
        return "closed"
    if file_request.expires_at <= moment:
        return "expired"
    if file_request_places(file_request, now=moment)[0] >= file_request.max_files:
        return "full"
    return "open"


def file_request_uploads(file_request: FileRequest) -> list[FileRequestUpload]:
    """The request's uploads, newest first; ``lapsed``: unfinished, and no longer
    holding a place (left without a PATCH past the hold)."""
    now = timezone.now()
    uploads = list(file_request.uploads.select_related("version").order_by("-created_at"))
    for upload in uploads:
        upload.lapsed = upload.completed_at is None and (  # type: ignore[attr-defined]
            not upload.holds_place or (upload.held_until is not None and upload.held_until <= now)
        )
    return uploads


def file_request_url(token: str) -> str:
    return str(settings.SITE_URL).rstrip("/") + reverse("file_request:open", args=[token])
