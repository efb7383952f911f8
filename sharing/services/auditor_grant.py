"""What a person opened to outsiders on colleagues' files ends when she becomes an auditor.

An auditor reads the audit log, never file content (ARCHITECTURE.md, invariant 4): the
role is granted only to someone in no team and with nothing shared with her
(``accounts.roles.auditor_content_access``). What she *created* while she was in a team
was left behind: links to the team's files, transfers sending them, file requests
bringing outsiders' files into the team's folders. Nobody could see or withdraw them any
more (her pages list only what she may still read, and only she may withdraw her own),
and each answered its recipients in its own way. At the grant, in its transaction
(``accounts.roles.auditor_grant_planned``), each of them is withdrawn:

* a link to a file or folder outside her personal space is revoked: its recipient reads
  "This link was withdrawn" (410);
* a transfer holding any file outside her personal space is revoked, every recipient's
  link with it, and its recipients get the neutral notice offboarding sends (the
  sender's name and organisation, never the files nor her role);
* a file request into a folder outside her personal space is closed: the uploader reads
  the closed request's page (410), and uploads under way are cut at their next chunk.

Each is audited (``sharing.link.revoke``, ``sharing.transfer.revoke``,
``sharing.request.close``) with its names, her name and the reason ``became an
auditor``, by whoever approved the role (the operator for the first auditor). What she
opened on her own personal space follows the rule for that space, which stays hers
(``files.selectors.content_withheld_by_role``): such links and transfers stay live,
and a file request into it holds the grant back until she closes it herself
(``sharing.services.shares.shares_received_in_words``).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.roles import BECAME_AUDITOR, AuditorGrantStep, Withdrawn
from audit import services as audit
from audit.actions import Action
from files.models import File, Folder, Space, SpaceKind
from sharing.models import FileRequest, ShareLink, Transfer, TransferItem


def personal_space_id(user: User) -> int | None:
    return (
        Space.objects.filter(kind=SpaceKind.PERSONAL, owner=user)
        .values_list("pk", flat=True)
        .first()
    )


def transfer_items_beyond_personal(transfer_id: int, personal_id: int | None) -> list[str]:
    """The paths (as sent) of the transfer's files that lie outside its sender's
    personal space: what an auditor no longer reads."""
    items = TransferItem.objects.filter(transfer_id=transfer_id)
    if personal_id is not None:
        items = items.exclude(file__space_id=personal_id)
    return list(items.order_by("path", "pk").values_list("path", flat=True))


def _item_name(item: File | Folder) -> str:
    """The item as its creator knew it: a space's top folder has no name of its own, and
    goes by its team's ("Cardiologie")."""
    if item.name:
        return item.name
    team = item.space.team if item.space.kind == SpaceKind.TEAM else None
    return team.name if team is not None else ""


def _who(user: User) -> dict[str, str]:
    """Whose it was, as the log names a person ("Name <address>"): the privacy export
    keeps it in her own copy and redacts it from anyone else's (audit/actions.py)."""
    return {"owner": user.email, "owner_person": f"{user.get_full_name()} <{user.email}>"}


def auditor_grant_plan(
    sender: object, *, user: User, lock: bool = False, **kwargs: object
) -> AuditorGrantStep:
    """Receiver of ``accounts.roles.auditor_grant_planned``: the links, transfers and
    file requests ``user`` made on content outside her personal space, and their
    withdrawal. Lock order: her row is locked by the grant; then these rows."""
    from sharing.services.offboarding import transfer_withdrawn_notices_send

    now = timezone.now()
    personal_id = personal_space_id(user)

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
    requests = (
        FileRequest.objects.filter(created_by=user, closed_at__isnull=True)
        .select_related("folder")
        .order_by("pk")
    )
    if lock:
        links = links.select_for_update(no_key=True, of=("self",))
        live_transfers = live_transfers.select_for_update(no_key=True)
        requests = requests.select_for_update(no_key=True, of=("self",))

    found_links = []
    for link in links:
        item = link.file or link.folder
        if item is not None and item.space_id != personal_id:
            found_links.append((link, _item_name(item)))
    found_transfers = []
    for transfer in live_transfers:
        beyond = transfer_items_beyond_personal(transfer.pk, personal_id)
        if beyond:
            found_transfers.append((transfer, beyond))
    found_requests = [request for request in requests if request.folder.space_id != personal_id]

    withdrawn = (
        [Withdrawn(kind="link", name=name) for _link, name in found_links]
        + [
            Withdrawn(kind="transfer", name=transfer.subject, files=tuple(files))
            for transfer, files in found_transfers
        ]
        + [Withdrawn(kind="file_request", name=request.title) for request in found_requests]
    )

    def apply(actor: User | None) -> dict[str, Any]:
        label = "" if actor is not None else "operator"
        when = timezone.now()
        for link, name in found_links:
            ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
                revoked_at=when, revoked_by=actor
            )
            audit.record(
                action=Action.SHARING_LINK_REVOKE,
                actor=actor,
                actor_label=label,
                target_type="sharing.link",
                target_id=link.pk,
                details={
                    "reason": BECAME_AUDITOR,
                    "name": name,
                    **({"recipient": link.recipient_email} if link.recipient_email else {}),
                    **_who(user),
                },
            )
        told: set[str] = set()
        for transfer, files in found_transfers:
            live = ShareLink.objects.filter(transfer=transfer, revoked_at__isnull=True)
            told.update(email for email in live.values_list("recipient_email", flat=True) if email)
            links_revoked = live.update(revoked_at=when, revoked_by=actor)
            Transfer.objects.filter(pk=transfer.pk).update(revoked_at=when)
            audit.record(
                action=Action.SHARING_TRANSFER_REVOKE,
                actor=actor,
                actor_label=label,
                target_type="sharing.transfer",
                target_id=transfer.pk,
                details={
                    "subject": transfer.subject,
                    "reason": BECAME_AUDITOR,
                    "files": files,
                    "links_revoked": links_revoked,
                    **_who(user),
                },
            )
        for request in found_requests:
            FileRequest.objects.filter(pk=request.pk, closed_at__isnull=True).update(
                closed_at=when, closed_by=actor
            )
            audit.record(
                action=Action.SHARING_REQUEST_CLOSE,
                actor=actor,
                actor_label=label,
                target_type="sharing.request",
                target_id=request.pk,
                details={
                    "title": request.title,
                    "name": request.title,
                    "folder": request.folder.name,
                    "reason": BECAME_AUDITOR,
                    **_who(user),
                },
            )
        if told:
            sender_id, recipients = user.pk, sorted(told)
            transaction.on_commit(
                lambda: transfer_withdrawn_notices_send(sender_id=sender_id, recipients=recipients),
                robust=True,
            )
        return {
            "links": len(found_links),
            "transfers": len(found_transfers),
            "file_requests": len(found_requests),
        }

    return AuditorGrantStep(withdrawn=withdrawn, apply=apply)
