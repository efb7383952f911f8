"""What the audit console needs to know about links, transfers and file requests: who
they were for and who made them (registered in SharingConfig.ready)."""

from __future__ import annotations

from collections.abc import Iterable

from audit.resolvers import Channel
from sharing.models import FileRequest, ShareLink, Transfer


def channels_lookup(kind: str, ids: Iterable[str]) -> dict[str, Channel]:
    numbers = [int(value) for value in ids if value.isdigit()]
    if kind == "link":
        links = ShareLink.objects.filter(pk__in=numbers).select_related("created_by", "transfer")
        return {
            str(link.pk): Channel(
                kind="link",
                id=str(link.pk),
                name=link.label,
                recipient=link.recipient_email,
                owner=link.created_by.email,
                transfer=link.transfer.subject if link.transfer is not None else "",
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
