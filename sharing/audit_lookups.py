"""What the audit console needs to know about links, transfers and file requests: who
they were for and who made them (registered in SharingConfig.ready)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from audit.resolvers import Access, Channel
from sharing.models import FileRequest, Share, ShareLink, Transfer, TransferItem
from sharing.services.link_access import link_state_now
from sharing.services.links import LinkState


def channels_lookup(kind: str, ids: Iterable[str]) -> dict[str, Channel]:
    numbers = [int(value) for value in ids if value.isdigit()]
    if kind == "link":
        links = ShareLink.objects.filter(pk__in=numbers).select_related(
            "created_by", "transfer", "file", "folder"
        )
        return {
            str(link.pk): Channel(
                kind="link",
                id=str(link.pk),
                name=link.label,
                recipient=link.recipient_email,
                owner=link.created_by.email,
                transfer=link.transfer.subject if link.transfer is not None else "",
                target=_link_target(link),
            )
            for link in links
        }
    if kind == "transfer":
        transfers = Transfer.objects.filter(pk__in=numbers).select_related("created_by")
        return {
            str(transfer.pk): Channel(
                kind="transfer",
                id=str(transfer.pk),
                name=transfer.subject,
                owner=transfer.created_by.email,
            )
            for transfer in transfers
        }
    if kind == "request":
        requests = FileRequest.objects.filter(pk__in=numbers).select_related("created_by")
        return {
            str(request.pk): Channel(
                kind="request",
                id=str(request.pk),
                name=request.title,
                owner=request.created_by.email,
            )
            for request in requests
        }
    return {}


def _link_target(link: ShareLink) -> str:
    if link.file is not None:
        return link.file.name
    if link.folder is not None:
        return link.folder.name
    if link.transfer is not None:
        return _("transfer “%(name)s”") % {"name": link.transfer.subject}
    return ""


def access_now(kind: str, item_id: str) -> list[Access]:
    """Shares on the item or a folder above it, and links that still open: on it, on a
    folder above it, or on a transfer that holds it."""
    from files.models import File, Folder
    from files.selectors import folder_breadcrumbs

    if kind not in ("file", "folder") or not item_id.isdigit():
        return []
    item: File | Folder | None = (
        (File if kind == "file" else Folder)
        .objects.filter(pk=item_id, deleted_at__isnull=True)
        .first()
    )
    if item is None:
        return []
    folder = item.folder if isinstance(item, File) else item
    folder_ids = [crumb.pk for crumb in folder_breadcrumbs(folder)]
    on_item = Q(file_id=item.pk) if isinstance(item, File) else Q(pk__in=[])
    found: list[Access] = []
    shares = Share.objects.filter(on_item | Q(folder_id__in=folder_ids)).select_related(
        "user", "team", "created_by", "file", "folder"
    )
    for share in shares:
        shared = share.file.name if share.file else (share.folder.name if share.folder else "")
        why = _("shared as %(role)s on “%(name)s” by %(by)s") % {
            "role": share.get_role_display(),
            "name": shared,
            "by": share.created_by.email if share.created_by else "?",
        }
        if share.user is not None and share.user.is_active:
            found.append(Access(share.user.full_name or share.user.email, share.user.email, why))
        elif share.team is not None:
            for member in share.team.memberships.filter(user__is_active=True).select_related(
                "user"
            ):
                found.append(
                    Access(member.user.full_name or member.user.email, member.user.email, why)
                )
    transfers = (
        TransferItem.objects.filter(file_id=item.pk).values("transfer_id")
        if isinstance(item, File)
        else TransferItem.objects.none().values("transfer_id")
    )
    links = ShareLink.objects.filter(
        on_item | Q(folder_id__in=folder_ids) | Q(transfer_id__in=transfers),
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).select_related("created_by", "transfer", "file", "folder")
    for link in links:
        if link_state_now(link) != LinkState.ACTIVE:
            continue
        found.append(
            Access(
                link.recipient_email or _("anyone with the link"),
                link.recipient_email,
                _("live link “%(name)s” made by %(by)s, until %(until)s")
                % {
                    "name": link.label or (link.transfer.subject if link.transfer else ""),
                    "by": link.created_by.email,
                    "until": formats.date_format(
                        timezone.localtime(link.expires_at), "SHORT_DATETIME_FORMAT"
                    ),
                },
            )
        )
    return found
