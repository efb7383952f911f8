"""What SecureDrive holds about one person, read for their data export (GDPR Art. 15/20).

Metadata only: names, paths, sizes, versions, dates. Never file content, never wrapped
keys, never link or request token hashes (capabilities are secrets, not personal data).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Q, QuerySet

from accounts.models import TeamMembership, User
from files.models import File, FileVersion, Folder, Space, SpaceKind
from sharing.models import FileRequest, Share, ShareLink, Transfer


def person_for_actor(*, actor: User, person_id: int) -> User | None:
    """The person ``actor`` may export or erase: themselves, or anyone for a site admin."""
    if actor.pk == person_id or actor.is_site_admin:
        return User.objects.filter(pk=person_id).first()
    return None


def person_profile(person: User) -> dict[str, Any]:
    teams = TeamMembership.objects.filter(user=person).select_related("team")
    return {
        "id": person.pk,
        "email": person.email,
        "full_name": person.full_name,
        "active": person.is_active,
        "site_admin": person.is_site_admin,
        "auditor": person.is_auditor,
        "date_joined": person.date_joined.isoformat(),
        "last_login": person.last_login.isoformat() if person.last_login else None,
        "deactivated_at": person.deactivated_at.isoformat() if person.deactivated_at else None,
        "teams": [{"team": membership.team.name, "role": membership.role} for membership in teams],
        # An address someone else changed (the directory, an administrator), and the
        # four-eyes requests it caused: data about her that she may ask to see.
        "email_previous": person.email_previous or None,
        "email_changed_at": person.email_changed_at.isoformat()
        if person.email_changed_at
        else None,
        "email_changed_by": person.email_changed_by or None,
        "link_approvals": [
            {
                "kind": approval.kind,
                "to_address": approval.email,
                "requested_at": approval.requested_at.isoformat(),
                "requested_by": _email_of(approval.requested_by),
                "decided_at": approval.decided_at.isoformat() if approval.decided_at else None,
                "decided_by": _email_of(approval.decided_by),
                "approved": approval.approved,
                "used_at": approval.used_at.isoformat() if approval.used_at else None,
            }
            for approval in person.credential_approvals.select_related("requested_by", "decided_by")
        ],
    }


def _email_of(user: User | None) -> str | None:
    return user.email if user is not None else None


def person_files(person: User) -> QuerySet[File]:
    """Files in the person's personal space, and files they added anywhere else."""
    return (
        File.objects.filter(
            Q(space__kind=SpaceKind.PERSONAL, space__owner=person) | Q(created_by=person)
        )
        .select_related("space")
        .order_by("pk")
    )


class FolderPaths:
    """Folder paths, one query per space (trees are loaded once, not walked per file)."""

    def __init__(self) -> None:
        self._folders: dict[int, tuple[int | None, str]] = {}
        self._spaces: set[int] = set()

    def path(self, folder_id: int, space_id: int) -> str:
        if space_id not in self._spaces:
            rows = Folder.objects.filter(space_id=space_id).values_list("pk", "parent_id", "name")
            for folder_pk, parent_pk, name in rows:
                self._folders[int(folder_pk)] = (parent_pk, str(name))
            self._spaces.add(space_id)
        names: list[str] = []
        current: int | None = folder_id
        while current is not None and current in self._folders:
            parent_id, name = self._folders[current]
            if parent_id is not None:  # the space's root has no name of its own
                names.append(name)
            current = parent_id
        return "/" + "/".join(reversed(names))


def _space_label(space: Space) -> str:
    if space.kind == SpaceKind.PERSONAL:
        return "personal"
    return f"team:{space.team_id}"


def person_files_metadata(person: User) -> Iterator[dict[str, Any]]:
    paths = FolderPaths()
    for file in person_files(person).iterator(chunk_size=500):
        versions = FileVersion.objects.filter(file=file).order_by("number")
        yield {
            "id": file.pk,
            "name": file.name,
            "folder_path": paths.path(file.folder_id, file.space_id),
            "space": _space_label(file.space),
            "created_at": file.created_at.isoformat(),
            "updated_at": file.updated_at.isoformat(),
            "deleted_at": file.deleted_at.isoformat() if file.deleted_at else None,
            "purged_at": file.purged_at.isoformat() if file.purged_at else None,
            "added_by_person": file.created_by_id == person.pk,
            "versions": [
                {
                    "number": version.number,
                    "size": version.size,
                    "content_type": version.content_type,
                    "created_at": version.created_at.isoformat(),
                    "uploaded_by_person": version.uploaded_by_id == person.pk,
                    "scan_status": version.scan_status,
                    "shredded_at": version.shredded_at.isoformat() if version.shredded_at else None,
                }
                for version in versions
            ],
        }


def person_shares(person: User) -> Iterator[dict[str, Any]]:
    shares = Share.objects.filter(created_by=person).select_related(
        "file", "folder", "user", "team"
    )
    for share in shares.order_by("pk").iterator(chunk_size=500):
        yield {
            "id": share.pk,
            "file": share.file.name if share.file else None,
            "folder": share.folder.name if share.folder else None,
            "with_user": share.user.email if share.user else None,
            "with_team": share.team.name if share.team else None,
            "role": share.role,
            "created_at": share.created_at.isoformat(),
        }


def person_links(person: User) -> Iterator[dict[str, Any]]:
    links = ShareLink.objects.filter(created_by=person).select_related("file", "folder")
    for link in links.order_by("pk").iterator(chunk_size=500):
        yield {
            "id": link.pk,
            "file": link.file.name if link.file else None,
            "folder": link.folder.name if link.folder else None,
            "transfer": link.transfer_id,
            "label": link.label,
            "recipient_email": link.recipient_email,
            "created_at": link.created_at.isoformat(),
            "expires_at": link.expires_at.isoformat(),
            "revoked_at": link.revoked_at.isoformat() if link.revoked_at else None,
            "password_protected": bool(link.password_hash),
            "max_downloads": link.max_downloads,
            "download_count": link.download_count,
        }


def person_transfers(person: User) -> Iterator[dict[str, Any]]:
    for transfer in Transfer.objects.filter(created_by=person).order_by("pk").iterator():
        yield {
            "id": transfer.pk,
            "subject": transfer.subject,
            "message": transfer.message,
            "created_at": transfer.created_at.isoformat(),
            "sent_at": transfer.sent_at.isoformat() if transfer.sent_at else None,
            "expires_at": transfer.expires_at.isoformat(),
            "revoked_at": transfer.revoked_at.isoformat() if transfer.revoked_at else None,
        }


def person_file_requests(person: User) -> Iterator[dict[str, Any]]:
    requests = FileRequest.objects.filter(created_by=person).select_related("folder")
    for request in requests.order_by("pk").iterator():
        yield {
            "id": request.pk,
            "title": request.title,
            "instructions": request.instructions,
            "folder": request.folder.name,
            "created_at": request.created_at.isoformat(),
            "expires_at": request.expires_at.isoformat(),
            "closed_at": request.closed_at.isoformat() if request.closed_at else None,
        }


def person_erasable_files(person: User) -> QuerySet[File]:
    """What erasure shreds: the files still in the person's personal space.

    Files handed over to a successor now sit in the successor's space, and files added
    to a team space belong to the team (often to a patient's record): neither is the
    departed person's to erase.
    """
    return File.objects.filter(
        space__kind=SpaceKind.PERSONAL, space__owner=person, purged_at__isnull=True
    )
