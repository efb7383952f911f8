"""Reads of files data, always scoped to who asks. Access is decided here and only here.

The rule today: a personal space belongs to its owner; a team space to the team's
members (managers have the same rights as members for content). Site administrators
and auditors get nothing from their role: they manage accounts and read the audit log,
never file content or other people's file lists (separation of duties). An object
outside what the person may see is "not found" (404), never "forbidden" (403), so an
id from another space confirms nothing; the refusal is audited.

Internal shares (docs/sharing-shares.md) extend ``file_permission`` and
``folder_permission``: a file or folder shared with a person, or with a team they
belong to, and everything below a shared folder, is theirs to read (viewer) or to work
in (editor); the strongest share wins. Shares stop counting the moment the item goes to
the trash or the person is deactivated. Every entry point (browser views, API,
downloads, versions, tus) goes through these functions.

**An auditor reads no file content** (ARCHITECTURE.md, invariant 4; docs/accounts.md).
Whoever holds the auditor role gets nothing from team memberships or shares, whatever
is left of them from before the rule: only their own personal space stays theirs
(``content_withheld_by_role``). Where the role alone stands between the person and an
item they would otherwise reach, the answer is a 403 that says so
(``ContentWithheldFromAuditor``) and the refusal is recorded with the item's name and
the reason ``auditor_suspended``; the administrators see the conflict on the people
list until they remove the memberships and shares.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Case, F, IntegerField, Q, QuerySet, Sum, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Team, TeamMembership, TeamRole, User
from audit import services as audit
from audit.actions import Action
from audit.models import Outcome
from files.errors import (
    ContentWithheldFromAuditor,
    FileNotFoundForActor,
    FileRuleError,
    RightRefusedError,
)
from files.models import File, FileVersion, Folder, Space, SpaceKind, UploadSession
from files.names import name_search_key


class Permission(enum.IntEnum):
    NONE = 0
    VIEW = 1  # list, see metadata, download, copy elsewhere
    EDIT = 2  # change the content: upload into, new folder inside, new version
    # Change the item itself: rename, move, trash, restore, purge. People of the space
    # have it everywhere; an editor of a share has it only strictly inside the shared
    # folder, so the shared item itself cannot be renamed, moved away or trashed by
    # someone it was merely lent to (docs/sharing-shares.md).
    MANAGE = 3


# --- Spaces -----------------------------------------------------------------------------


def _active(actor: Any) -> bool:
    return bool(getattr(actor, "is_authenticated", False) and getattr(actor, "is_active", False))


def role_withholds_content(actor: Any) -> bool:
    """Whether ``actor`` holds a role that reads no file content: an auditor checks who
    read patient files and reads none (separation of duties). Asked of the person as
    loaded for this request: a role granted or withdrawn ends the person's sessions
    (``accounts.roles._role_apply``), so it is never stale for long."""
    return _active(actor) and bool(getattr(actor, "is_auditor", False))


def content_withheld_by_role(*, actor: Any, space: Space) -> bool:
    """The role keeps ``actor`` out of ``space``'s content: an auditor keeps their own
    personal space (their own files, not colleagues'), nothing else."""
    if not role_withholds_content(actor):
        return False
    return not (space.kind == SpaceKind.PERSONAL and space.owner_id == actor.pk)


def spaces_accessible_by(actor: User) -> QuerySet[Space]:
    """Every space the person may open: their own, and their teams' (not an auditor's)."""
    if not _active(actor):
        return Space.objects.none()
    if role_withholds_content(actor):
        return Space.objects.filter(kind=SpaceKind.PERSONAL, owner=actor)
    return Space.objects.filter(
        Q(kind=SpaceKind.PERSONAL, owner=actor)
        | Q(kind=SpaceKind.TEAM, team__memberships__user=actor)
    ).distinct()


def space_permission(*, actor: User, space: Space) -> Permission:
    if content_withheld_by_role(actor=actor, space=space):
        return Permission.NONE
    return _space_permission_held(actor=actor, space=space)


def _space_permission_held(*, actor: User, space: Space) -> Permission:
    """What ownership or membership gives, the person's role aside."""
    if not _active(actor):
        return Permission.NONE
    if space.kind == SpaceKind.PERSONAL:
        return Permission.MANAGE if space.owner_id == actor.pk else Permission.NONE
    if space.team_id is None:
        return Permission.NONE
    if TeamMembership.objects.filter(team_id=space.team_id, user=actor).exists():
        return Permission.MANAGE
    return Permission.NONE


def space_accessible_by(*, actor: User, space: Space) -> bool:
    return space_permission(actor=actor, space=space) >= Permission.VIEW


def space_personal_for(actor: User) -> Space | None:
    """The person's own space, read only: it is made with the account
    (``files.services.space_made_with_account``), never by a read."""
    return Space.objects.filter(kind=SpaceKind.PERSONAL, owner=actor).first()


def spaces_of_teams_for(actor: User) -> list[Space]:
    """The spaces of the teams the person belongs to, by team name, read only (each is
    made with its team); none for an auditor."""
    if not _active(actor) or role_withholds_content(actor):
        return []
    return list(
        Space.objects.filter(kind=SpaceKind.TEAM, team__memberships__user=actor)
        .select_related("team")
        .distinct()
        .order_by("team__name")
    )


def team_space_for(team: Team) -> Space | None:
    return Space.objects.filter(kind=SpaceKind.TEAM, team=team).first()


def teams_with_space_for(actor: User) -> QuerySet[Team]:
    """Teams the person belongs to (each has a team space, made with the team); none for
    an auditor, whose memberships give no content."""
    if not _active(actor) or role_withholds_content(actor):
        return Team.objects.none()
    return Team.objects.filter(memberships__user=actor).distinct().order_by("name")


def space_used_bytes(space: Space) -> int:
    """Plaintext bytes of every version still holding a key (trash included)."""
    total = FileVersion.objects.filter(file__space=space, shredded_at__isnull=True).aggregate(
        total=Sum("size")
    )["total"]
    return int(total or 0)


def space_reserved_bytes(space: Space) -> int:
    """Bytes promised to resumable uploads in progress into the space (docs/uploads.md):
    each holds its declared ``Upload-Length`` (its staged bytes included) from creation
    until it completes (its version's size counts instead), is terminated or expires,
    or its ``room_held_until`` passes (an upload through a file request left idle)."""
    now = timezone.now()
    total = (
        UploadSession.objects.filter(
            folder__space=space, completed_at__isnull=True, expires_at__gt=now
        )
        .filter(Q(room_held_until__isnull=True) | Q(room_held_until__gt=now))
        .aggregate(total=Sum("length"))["total"]
    )
    return int(total or 0)


def space_room_bytes(space: Space) -> int:
    """What a new file may still take: the quota less what is stored and reserved."""
    return max(0, space.quota_effective - space_used_bytes(space) - space_reserved_bytes(space))


def space_get_for_actor(*, actor: User, space_id: int) -> Space:
    space = Space.objects.select_related("team", "owner").filter(pk=space_id).first()
    if space is None or not space_accessible_by(actor=actor, space=space):
        if space is not None:
            _withheld_check(
                actor=actor, item=space, target_type="files.space", need=Permission.VIEW
            )
        _refused(actor=actor, target_type="files.space", target_id=space_id, need=Permission.VIEW)
    assert space is not None  # noqa: S101  (_refused raised otherwise)
    return space


def team_get_for_actor(*, actor: User, slug: str) -> Team:
    """A team whose space the person may open (a member), else not found."""
    team = teams_with_space_for(actor).filter(slug=slug).first()
    if team is None and role_withholds_content(actor):
        member_of = Team.objects.filter(slug=slug, memberships__user=actor).first()
        space = team_space_for(member_of) if member_of is not None else None
        if space is not None:
            _withheld(actor=actor, item=space, target_type="files.space", need=Permission.VIEW)
    if team is None:
        _refused(actor=actor, target_type="accounts.team", target_id=slug, need=Permission.VIEW)
    assert team is not None  # noqa: S101
    return team


# --- Shares -----------------------------------------------------------------------------
#
# files reads sharing's ``Share`` table here and only here (imported inside the
# functions: the models module of sharing imports nothing from files, and files must
# not import sharing at load time).


def _shares_received(actor: User, *, role_aside: bool = False) -> QuerySet[Any]:
    """Shares that reach ``actor``: to them, or to a team they belong to. None for an
    auditor (``role_aside``: what they would be without the role, to tell them why)."""
    from sharing.models import Share

    if not role_aside and role_withholds_content(actor):
        return Share.objects.none()
    return Share.objects.filter(
        Q(user=actor) | Q(team__in=TeamMembership.objects.filter(user=actor).values("team"))
    )


def folder_ancestor_ids(folder_id: int) -> list[int]:
    """``folder_id`` and the id of every folder above it, in one query (recursive CTE,
    PostgreSQL and SQLite alike). ``UNION`` rather than ``UNION ALL``: should a cycle
    ever exist (two crossed moves did make one, ``files.services.folders._move_locked``),
    the walk ends instead of running until the statement times out."""
    table = connection.ops.quote_name(Folder._meta.db_table)
    sql = (
        "WITH RECURSIVE chain(id, parent_id) AS ("  # noqa: S608  (table name from the model)
        f" SELECT id, parent_id FROM {table} WHERE id = %s"
        f" UNION SELECT f.id, f.parent_id FROM {table} f JOIN chain c ON f.id = c.parent_id"
        ") SELECT id FROM chain"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [folder_id])
        return [int(row[0]) for row in cursor.fetchall()]


_ROLE_PERMISSION = {"viewer": Permission.VIEW, "editor": Permission.EDIT}


def _share_permission(
    *, actor: User, file: File | None, folder: Folder, role_aside: bool = False
) -> Permission:
    """What shares give ``actor`` on ``file`` (if given) or else on ``folder``.

    A share on the item itself gives VIEW or EDIT; a share on a folder strictly above
    it gives VIEW, or MANAGE for an editor (they may rename, move and trash what is
    inside the folder lent to them, never the folder itself). One query for the chain,
    one for the shares of all its folders.
    """
    chain = folder_ancestor_ids(folder.pk)
    shares = _shares_received(actor, role_aside=role_aside)
    if file is not None:
        shares = shares.filter(Q(file=file) | Q(folder_id__in=chain))
    else:
        shares = shares.filter(folder_id__in=chain)
    best = Permission.NONE
    for file_id, folder_id, role in shares.values_list("file_id", "folder_id", "role"):
        on_item_itself = file_id is not None if file is not None else folder_id == folder.pk
        granted = _ROLE_PERMISSION.get(role, Permission.NONE)
        if granted == Permission.EDIT and not on_item_itself:
            granted = Permission.MANAGE
        best = max(best, granted)
    return best


def folder_permission(*, actor: User, folder: Folder) -> Permission:
    """What ``actor`` may do with ``folder`` and what is under it."""
    if content_withheld_by_role(actor=actor, space=folder.space):
        return Permission.NONE
    return _folder_permission_held(actor=actor, folder=folder)


def _folder_permission_held(*, actor: User, folder: Folder, role_aside: bool = False) -> Permission:
    permission = _space_permission_held(actor=actor, space=folder.space)
    if permission >= Permission.MANAGE or not _active(actor) or folder.deleted_at is not None:
        return permission
    return max(
        permission,
        _share_permission(actor=actor, file=None, folder=folder, role_aside=role_aside),
    )


def file_permission(*, actor: User, file: File) -> Permission:
    """What ``actor`` may do with ``file`` and each of its versions."""
    if content_withheld_by_role(actor=actor, space=file.space):
        return Permission.NONE
    return _file_permission_held(actor=actor, file=file)


def _file_permission_held(*, actor: User, file: File, role_aside: bool = False) -> Permission:
    permission = _space_permission_held(actor=actor, space=file.space)
    if (
        permission >= Permission.MANAGE
        or not _active(actor)
        or file.deleted_at is not None
        or file.purged_at is not None
    ):
        return permission
    return max(
        permission,
        _share_permission(actor=actor, file=file, folder=file.folder, role_aside=role_aside),
    )


def permission_withheld_by_role(*, actor: User, item: File | Folder | Space) -> Permission:
    """What ``actor``'s memberships and shares would give on ``item`` were they not an
    auditor (``Permission.NONE`` when nothing is withheld): what their role suspends."""
    space = item if isinstance(item, Space) else item.space
    if not content_withheld_by_role(actor=actor, space=space):
        return Permission.NONE
    if isinstance(item, Space):
        return _space_permission_held(actor=actor, space=item)
    if isinstance(item, File):
        return _file_permission_held(actor=actor, file=item, role_aside=True)
    return _folder_permission_held(actor=actor, folder=item, role_aside=True)


def trash_restore_allowed(*, actor: User, item: File | Folder) -> bool:
    """Whether ``actor`` may bring ``item`` back once it is in the trash: the people of
    its space only, since shares give nothing on trashed items (docs/sharing-shares.md).
    An editor of a share who trashes something is not offered an "Undo" she cannot use."""
    return space_permission(actor=actor, space=item.space) >= Permission.MANAGE


def item_via_share_only(*, actor: User, space: Space) -> bool:
    """The person reaches this space's items only through shares (not a member)."""
    return space_permission(actor=actor, space=space) < Permission.VIEW


class SharingWay(enum.StrEnum):
    """The ways an item leaves the hands of the people of its space."""

    SHARE = "share"  # an internal share with a colleague or a team
    LINK = "link"  # an external link (anyone holding it)
    TRANSFER = "transfer"  # copied into a transfer sent to outside recipients
    FILE_REQUEST = "file_request"  # outsiders upload into the folder


class SharingRefusal(enum.StrEnum):
    """Why ``sharing_refusal`` says no (recorded in the audit details as ``reason``)."""

    NOT_SPACE_MEMBER = "not_space_member"
    SPACE_ROOT = "space_root"
    TRASHED = "trashed"


def sharing_refusal(*, actor: User, item: File | Folder, way: SharingWay) -> SharingRefusal | None:
    """Who may share an item, publish it outside, or open it to outsiders; ``None``
    when ``actor`` may. The one rule for every sharing entry point (internal shares,
    links, transfers, file requests; pages, API, and the link and file-request checks
    made again at every public request).

    Only the people of the item's space (the owner of a personal space, the members of
    a team space) may: someone who only received a share, even as editor, was lent
    access, not custody, and may not pass it on. Site administrators and auditors get
    nothing from their role (separation of duties). A trashed item is shared with
    nobody. The top folder of a space is never shared internally (a team space follows
    team membership); a link to it or a file request into it stays possible for its
    people (docs/sharing-shares.md, "Who may share").
    """
    if item.deleted_at is not None or item.purged_at is not None:
        return SharingRefusal.TRASHED
    if not sharing_managed_by(actor=actor, item=item):
        return SharingRefusal.NOT_SPACE_MEMBER
    if way == SharingWay.SHARE and isinstance(item, Folder) and item.is_root:
        return SharingRefusal.SPACE_ROOT
    return None


def sharing_managed_by(*, actor: User, item: File | Folder) -> bool:
    """Who sees and withdraws an item's shares, links and file requests: the people of
    its space (trashed or not: withdrawing never widens anything)."""
    return space_permission(actor=actor, space=item.space) >= Permission.MANAGE


def sharing_refusal_message(refusal: SharingRefusal) -> str:
    """What to tell the person ``sharing_refusal`` refused."""
    if refusal == SharingRefusal.SPACE_ROOT:
        return _("The top folder of a space cannot be shared: share a folder inside it.")
    if refusal == SharingRefusal.TRASHED:
        return _("This is in the trash: restore it first.")
    return _(
        "This was shared with you: only the people of the space it belongs to may share it "
        "further or send it outside the organisation."
    )


def share_allowed(*, actor: User, item: File | Folder) -> bool:
    """Who may share an item internally and change its shares (``sharing_refusal``)."""
    return sharing_refusal(actor=actor, item=item, way=SharingWay.SHARE) is None


def sharing_allowed(*, actor: User, item: File | Folder, way: SharingWay) -> bool:
    return sharing_refusal(actor=actor, item=item, way=way) is None


def team_left_by_move(*, item: File | Folder, destination: Folder) -> Team | None:
    """The team whose space ``item`` leaves if moved into ``destination`` (to someone's
    personal space or another team's), or ``None`` (a move within a space, or out of a
    personal space)."""
    space = item.space
    if item.space_id == destination.space_id or space.kind != SpaceKind.TEAM:
        return None
    return space.team


def team_managers(team: Team) -> list[User]:
    """The team's active managers, by name: whom a member asks."""
    return [
        membership.user
        for membership in TeamMembership.objects.filter(
            team=team, role=TeamRole.MANAGER, user__is_active=True
        )
        .select_related("user")
        .order_by("user__full_name", "user__email")
    ]


def team_managed_by(*, actor: User, team: Team) -> bool:
    """Whether ``actor`` is one of ``team``'s managers (not a site administrator: that
    role gives nothing on content, separation of duties)."""
    return (
        _active(actor)
        and TeamMembership.objects.filter(team=team, user=actor, role=TeamRole.MANAGER).exists()
    )


def space_holder_label(space: Space) -> str:
    """Whose a space is, in words: "the team Cardiologie", "Alice Martin's personal
    space" (a move's confirmation and its notices)."""
    if space.kind == SpaceKind.TEAM and space.team is not None:
        return _("the team %(team)s") % {"team": space.team.name}
    owner = space.owner
    name = (owner.get_full_name() or owner.email) if owner is not None else "?"
    return _("%(name)s's personal space") % {"name": name}


def move_back_allowed(*, actor: User, moved_to: Folder, back_to_space_id: int) -> bool:
    """Whether moving something back from ``moved_to`` into the space it came from would
    pass ``move_destination_check``'s team rule: an "Undo" is offered only then (a
    manager of one team who is a plain member of another may move a file into the
    other, not back out of it)."""
    space = moved_to.space
    if space.pk == back_to_space_id or space.kind != SpaceKind.TEAM or space.team is None:
        return True
    return team_managed_by(actor=actor, team=space.team)


def _move_out_of_team_check(*, actor: User, item: File | Folder, destination: Folder) -> None:
    """Moving team content out of the team space (into someone's personal space, or
    into another team's) takes it out of the team's governance: its managers and its
    access reviews no longer cover it, and it no longer stays with the team when people
    leave (a personal space's files follow their owner's offboarding). Only the team's managers may,
    after confirming (the pages); a member is told whom to ask. Copying stays open to
    members, as downloading does (the copy is recorded as such)."""
    team = team_left_by_move(item=item, destination=destination)
    if team is None or team_managed_by(actor=actor, team=team):
        return
    audit.record(
        action=Action.FILES_ACCESS,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type="files.file" if isinstance(item, File) else "files.folder",
        target_id=item.pk,
        details={
            "need": "move_out_of_team",
            "name": item.name,
            "from_team": team.name,
            "destination": destination.pk,
        },
    )
    managers = ", ".join(
        manager.get_full_name() or manager.email for manager in team_managers(team)
    )
    raise RightRefusedError(
        _(
            "Only a manager of the team %(team)s can move its files out of the team space: "
            "out of it, neither the team's managers nor its access reviews cover them, and "
            "they no longer stay with the team when people leave. Ask a manager "
            "(%(managers)s), or copy it into your own files instead."
        )
        % {"team": team.name, "managers": managers or _("none at present")}
    )


def move_destination_check(*, actor: User, item: File | Folder, destination: Folder) -> None:
    """Something the person holds only through a share stays in its owner's space:
    moving it elsewhere would take it out of the owner's reach (copying is allowed).
    A team's content leaves the team space only by a manager's hand."""
    if item.space_id == destination.space_id:
        return
    if not item_via_share_only(actor=actor, space=item.space):
        _move_out_of_team_check(actor=actor, item=item, destination=destination)
        return
    audit.record(
        action=Action.FILES_ACCESS,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type="files.file" if isinstance(item, File) else "files.folder",
        target_id=item.pk,
        details={"need": "move_out_of_space", "destination": destination.pk},
    )
    raise FileRuleError(
        _(
            "This was shared with you: it stays in its owner's space. "
            "Copy it into your own files instead."
        )
    )


def copy_check(*, actor: User, file: File) -> None:
    """Copying makes the copier the owner of a new file, hers to share, link and send
    further: for those who may change the file (the people of its space, an editor of a
    share), not for someone who may only view it, who would otherwise escape the
    owner's sharing decisions with one click. Downloading stays hers (audited)."""
    if file_permission(actor=actor, file=file) >= Permission.EDIT:
        return
    audit.record(
        action=Action.FILES_FILE_COPY,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type="files.file",
        target_id=file.pk,
        details={"reason": "view_only", "name": file.name},
    )
    raise RightRefusedError(
        _(
            "You can only view “%(name)s”: a copy would be yours to share further, outside "
            "its owner's decisions. Open or download it to read it, or ask its owner for "
            "a copy or for edit access."
        )
        % {"name": file.name}
    )


# --- Lookups by id (every entry point) ------------------------------------------------------


def access_refused(
    *,
    actor: User,
    target_type: str,
    target_id: object,
    need: Permission,
    item: File | Folder | None = None,
) -> None:
    """Record a refused access (``files.access`` denied) and raise the one answer, not
    found: for the services' own re-check of what a lookup already allowed. With
    ``item``, an auditor kept out by their role alone is told so (403)."""
    if item is not None:
        _withheld_check(actor=actor, item=item, target_type=target_type, need=need)
    _refused(actor=actor, target_type=target_type, target_id=target_id, need=need)


def _withheld_check(
    *, actor: User, item: File | Folder | Space, target_type: str, need: Permission
) -> None:
    """Refuse with a 403 (``_withheld``) when only the auditor role keeps ``actor`` from
    ``item``; return otherwise (the caller answers its 404)."""
    if permission_withheld_by_role(actor=actor, item=item) >= need:
        _withheld(actor=actor, item=item, target_type=target_type, need=need)


def _withheld(
    *, actor: User, item: File | Folder | Space, target_type: str, need: Permission
) -> None:
    """Record and refuse what a team or a share would give an auditor: the item by name
    and where it is, so that the auditors and administrators reading the log know which
    patient file was asked for, and why it was not given."""
    if isinstance(item, Space):
        name = item.team.name if item.team_id and item.team else str(item)
        where = name
    else:
        name = item.name
        folder = item.folder if isinstance(item, File) else item.parent
        space = item.space
        # The space as a person reads it: the team's name, or whose own files they are.
        if space.team_id and space.team:
            top = space.team.name
        else:
            top = space.owner.get_full_name() if space.owner_id and space.owner else ""
        where = " / ".join(
            [top, *(part.name for part in folder_breadcrumbs(folder)[1:])]
            if folder is not None
            else [top]
        )
    content_withheld_refuse(
        actor=actor,
        action=Action.FILES_ACCESS,
        target_type=target_type,
        target_id=item.pk,
        need=need,
        name=name,
        path=where,
    )


def content_withheld_refuse(
    *,
    actor: User,
    action: Action,
    target_type: str,
    target_id: object,
    need: Permission,
    **named: object,
) -> None:
    """Record (``action`` denied, reason ``auditor_suspended``, what was asked for by
    name in ``named``) and raise the auditor's 403. For entry points that find content
    their own way (the DICOM index) and ask ``files_withheld_by_role``."""
    audit.record(
        action=action,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type=target_type,
        target_id=target_id,
        details={"need": need.name.lower(), **named, "reason": "auditor_suspended"},
    )
    raise ContentWithheldFromAuditor(content_withheld_message())


def content_withheld_message() -> str:
    """What an auditor reads when a team or a share left from before would open a file."""
    return _(
        "Your access to colleagues' files is suspended: you are an auditor, and an auditor "
        "reads the audit log, never file content. An administrator must remove your team "
        "memberships and the shares you hold, or withdraw your auditor role."
    )


def _refused(*, actor: User, target_type: str, target_id: object, need: Permission) -> None:
    audit.record(
        action=Action.FILES_ACCESS,
        outcome=Outcome.DENIED,
        actor=actor if _active(actor) else None,
        target_type=target_type,
        target_id=target_id,
        details={"need": need.name.lower()},
    )
    raise FileNotFoundForActor(f"{target_type} {target_id}")


def folder_get_for_actor(
    *, actor: User, folder_id: int, need: Permission = Permission.VIEW
) -> Folder:
    """A live folder ``actor`` may use as ``need`` asks, or ``FileNotFoundForActor``."""
    folder = (
        Folder.objects.select_related("space", "space__team", "space__owner")
        .filter(pk=folder_id, deleted_at__isnull=True)
        .first()
    )
    if folder is None or folder_permission(actor=actor, folder=folder) < need:
        if folder is not None:
            _withheld_check(actor=actor, item=folder, target_type="files.folder", need=need)
        _refused(actor=actor, target_type="files.folder", target_id=folder_id, need=need)
    assert folder is not None  # noqa: S101  (_refused raised otherwise)
    return folder


def folder_in_trash_get_for_actor(*, actor: User, folder_id: int) -> Folder:
    """A folder deleted directly (the top of what went to the trash with it)."""
    folder = (
        Folder.objects.select_related("space")
        .filter(pk=folder_id, deleted_at__isnull=False, trashed_with__isnull=True)
        .exclude(purged_at__isnull=False)
        .first()
    )
    if folder is None or folder_permission(actor=actor, folder=folder) < Permission.EDIT:
        if folder is not None:
            _withheld_check(
                actor=actor, item=folder, target_type="files.folder", need=Permission.EDIT
            )
        _refused(actor=actor, target_type="files.folder", target_id=folder_id, need=Permission.EDIT)
    assert folder is not None  # noqa: S101
    return folder


def file_get_for_actor(
    *,
    actor: User,
    file_id: int,
    need: Permission = Permission.VIEW,
    in_trash: bool = False,
) -> File:
    """A file ``actor`` may use as ``need`` asks, or ``FileNotFoundForActor``.

    ``in_trash=False``: a live file. ``in_trash=True``: a file deleted directly (not as
    part of a folder), for restore and purge.
    """
    files = File.objects.select_related("space", "space__team", "folder", "current_version").filter(
        pk=file_id, purged_at__isnull=True
    )
    if in_trash:
        files = files.filter(deleted_at__isnull=False, trashed_with__isnull=True)
    else:
        files = files.filter(deleted_at__isnull=True)
    file = files.first()
    if file is None or file_permission(actor=actor, file=file) < need:
        if file is not None:
            _withheld_check(actor=actor, item=file, target_type="files.file", need=need)
        _refused(actor=actor, target_type="files.file", target_id=file_id, need=need)
    assert file is not None  # noqa: S101
    return file


def version_get_for_actor(
    *, actor: User, file_id: int, version_id: object, need: Permission = Permission.VIEW
) -> FileVersion:
    """A version of a live file ``actor`` may read. Old versions are checked exactly
    like the current one (nextcloud/server#38135: old versions left readable)."""
    file = file_get_for_actor(actor=actor, file_id=file_id, need=need)
    wanted = _uuid_or_none(version_id)
    version = (
        None
        if wanted is None
        else FileVersion.objects.filter(pk=wanted, file=file, shredded_at__isnull=True).first()
    )
    if version is None:
        _refused(actor=actor, target_type="files.version", target_id=version_id, need=need)
    assert version is not None  # noqa: S101
    version.file = file
    return version


def _uuid_or_none(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


# --- Listings ---------------------------------------------------------------------------


# A page of a folder: a couple of screens on a desktop, a few on a phone. A 10,000-file
# folder rendered whole took 4.5 s (bench/listing.py); a page now costs the same
# whatever the folder's size (docs/storage.md, "A page's cost stays flat").
LISTING_PAGE_SIZE = 50


class ListingSort(enum.StrEnum):
    """The columns a folder can be sorted by (``?sort=size``, ``?sort=-size`` for
    largest first). Folders come first whatever the order, as in the OS file managers."""

    NAME = "name"
    SIZE = "size"
    MODIFIED = "modified"
    TYPE = "type"


_FILE_ORDER: dict[ListingSort, tuple[str, ...]] = {
    ListingSort.NAME: ("name_key",),
    ListingSort.SIZE: ("current_version__size", "name_key"),
    ListingSort.MODIFIED: ("updated_at", "name_key"),
    ListingSort.TYPE: ("current_version__content_type", "name_key"),
}
_FOLDER_ORDER: dict[ListingSort, tuple[str, ...]] = {
    ListingSort.NAME: ("name_key",),
    ListingSort.SIZE: ("name_key",),  # a folder has no size of its own here
    ListingSort.MODIFIED: ("created_at", "name_key"),
    ListingSort.TYPE: ("name_key",),
}


def listing_sort_parse(value: str) -> tuple[ListingSort, bool]:
    """``?sort=`` as (column, descending); anything unknown is by name, A to Z."""
    descending = value.startswith("-")
    try:
        return ListingSort(value.removeprefix("-")), descending
    except ValueError:
        return ListingSort.NAME, False


def _ordered(fields: tuple[str, ...], *, descending: bool) -> list[Any]:
    """Order by ``fields`` then the id, all reversed when ``descending`` (the name
    breaks ties, the id breaks equal names' ties: pages never overlap); a file with no
    version yet (no size, no type) comes last both ways."""
    columns = [*fields, "pk"]
    # NULLS LAST only for the version's columns (the only ones that can be null): on
    # the file's own NOT NULL columns it would keep PostgreSQL from reading an index
    # backwards for a descending sort.
    if descending:
        return [F(name).desc(nulls_last=_nullable(name) or None) for name in columns]
    return [F(name).asc(nulls_last=_nullable(name) or None) for name in columns]


def _nullable(column: str) -> bool:
    return column.startswith("current_version__")


@dataclass(frozen=True)
class FolderListing:
    folder: Folder
    breadcrumbs: list[Folder]
    folders: list[Folder]
    files: list[File]
    sort: ListingSort = ListingSort.NAME
    descending: bool = False
    page: int = 1
    pages: int = 1
    total: int = 0

    @property
    def sort_query(self) -> str:
        return f"-{self.sort}" if self.descending else str(self.sort)


def folder_breadcrumbs(folder: Folder) -> list[Folder]:
    """Root first, ``folder`` last. One query per level (trees are shallow)."""
    chain = [folder]
    while chain[-1].parent_id is not None:
        chain.append(Folder.objects.get(pk=chain[-1].parent_id))
    return list(reversed(chain))


def folder_breadcrumbs_for(*, actor: User, folder: Folder | None) -> list[Folder]:
    """The path the person may see: from the top of the space for its people; from the
    topmost folder shared with them otherwise, so the names of the owner's folders
    above what was shared stay hidden. Empty when only a file was shared."""
    if folder is None:
        return []
    chain = folder_breadcrumbs(folder)
    if not item_via_share_only(actor=actor, space=folder.space):
        return chain
    shared = set(
        _shares_received(actor)
        .filter(folder_id__in=[crumb.pk for crumb in chain])
        .values_list("folder_id", flat=True)
    )
    for index, crumb in enumerate(chain):
        if crumb.pk in shared:
            return chain[index:]
    return []


def folder_listing(
    folder: Folder,
    *,
    actor: User | None = None,
    sort: ListingSort = ListingSort.NAME,
    descending: bool = False,
    page: int = 1,
    page_size: int | None = LISTING_PAGE_SIZE,
) -> FolderListing:
    """One page of what is in a folder ``folder_get_for_actor`` already returned:
    folders first, then files, both in the order asked; a page past the end is the
    last one. With ``actor``, the breadcrumbs are the part of the path that person may
    see. Two counts and three bounded queries (the page's file ids, then those files),
    whatever the folder's size.
    ``page_size=None``: everything on one page (the REST API's folder, unchanged)."""
    folders_query = folder.children.filter(deleted_at__isnull=True)
    files_query = folder.files.filter(deleted_at__isnull=True, purged_at__isnull=True)
    folder_count = folders_query.count()
    total = folder_count + files_query.count()
    page_size = page_size or max(1, total)
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    start, end = (page - 1) * page_size, page * page_size
    folders: list[Folder] = []
    if start < folder_count:
        folders = list(
            folders_query.order_by(*_ordered(_FOLDER_ORDER[sort], descending=descending))[
                start : min(end, folder_count)
            ]
        )
    files: list[File] = []
    if end > folder_count:
        # The page's ids first, sorted on the narrow sort columns alone, then those rows
        # whole: sorting 10,000 whole rows (with their versions and uploaders) per page
        # spilled to disk past the first pages (EXPLAIN ANALYZE, bench/listing.py).
        page_ids = list(
            files_query.order_by(*_ordered(_FILE_ORDER[sort], descending=descending)).values_list(
                "pk", flat=True
            )[max(0, start - folder_count) : end - folder_count]
        )
        found = File.objects.select_related(
            "current_version", "current_version__uploaded_by"
        ).in_bulk(page_ids)
        files = [found[pk] for pk in page_ids if pk in found]
    breadcrumbs = (
        folder_breadcrumbs(folder)
        if actor is None
        else folder_breadcrumbs_for(actor=actor, folder=folder)
    )
    return FolderListing(folder, breadcrumbs, folders, files, sort, descending, page, pages, total)


def file_versions(file: File) -> list[FileVersion]:
    """Versions of a file ``file_get_for_actor`` returned, newest first."""
    return list(
        file.versions.filter(shredded_at__isnull=True)
        .select_related("uploaded_by")
        .order_by("-number")
    )


def file_versions_count(file: File) -> int:
    """How many versions a permanent deletion of ``file`` would destroy."""
    return file.versions.filter(shredded_at__isnull=True).count()


def folder_purge_summary(folder: Folder) -> tuple[int, int]:
    """(files, versions) that a permanent deletion of ``folder`` would destroy."""
    subtree = [folder.pk, *folder_descendant_ids([folder.pk])]
    files = File.objects.filter(folder_id__in=subtree, purged_at__isnull=True)
    versions = FileVersion.objects.filter(file__in=files, shredded_at__isnull=True).count()
    return files.count(), versions


@dataclass(frozen=True)
class TrashListing:
    space: Space
    folders: list[Folder]
    files: list[File]


def trash_listing(space: Space, *, query: str = "") -> TrashListing:
    """What was deleted directly in ``space`` (things deleted with a folder go with it);
    with ``query``, only what has it in its name (as ``search_for_actor`` compares)."""
    folders = Folder.objects.filter(
        space=space, deleted_at__isnull=False, trashed_with__isnull=True, purged_at__isnull=True
    )
    files = File.objects.filter(
        space=space, deleted_at__isnull=False, trashed_with__isnull=True, purged_at__isnull=True
    )
    if query.strip():
        key = name_search_key(query.strip())
        folders, files = (
            folders.filter(name_search__contains=key),
            files.filter(name_search__contains=key),
        )
    return TrashListing(
        space,
        list(folders.order_by("-deleted_at")),
        list(files.select_related("current_version", "folder").order_by("-deleted_at")),
    )


def folders_for_move(
    *, actor: User, exclude_under: Folder | None = None, space: Space | None = None
) -> list[Folder]:
    """Live folders the person may put things in, for a "move to" list: their spaces,
    or, with ``space`` (an item held through a share), the folders of that space the
    person works in as an editor."""
    excluded: set[int] = set()
    if exclude_under is not None:
        excluded = set(folder_descendant_ids([exclude_under.pk])) | {exclude_under.pk}
    if space is not None and item_via_share_only(actor=actor, space=space):
        shared_roots = list(
            _shares_received(actor)
            .filter(folder__space=space, folder__deleted_at__isnull=True, role="editor")
            .values_list("folder_id", flat=True)
        )
        ids = set(shared_roots) | set(folder_descendant_ids(shared_roots))
        folders = Folder.objects.filter(pk__in=ids - excluded, deleted_at__isnull=True)
        return list(folders.select_related("space").order_by("parent_id", "name_key"))
    folders = (
        Folder.objects.filter(space__in=spaces_accessible_by(actor), deleted_at__isnull=True)
        .select_related("space", "space__team")
        .order_by("space_id", "parent_id", "name_key")
    )
    return [folder for folder in folders if folder.pk not in excluded]


def folder_label_for(*, actor: User, folder: Folder, via_share: bool | None = None) -> str:
    """“My files / Reports”, or for a folder reached through a share “Shared with me /
    Reports” (never the owner's folders above the shared one). ``via_share``: what
    ``item_via_share_only`` says of the folder's space, if the caller knows it."""
    if via_share is None:
        via_share = item_via_share_only(actor=actor, space=folder.space)
    if not via_share:
        space = folder.space
        top = space.team.name if space.team_id and space.team else str(_("My files"))
        return " / ".join([top, *(part.name for part in folder_breadcrumbs(folder)[1:])])
    visible = folder_breadcrumbs_for(actor=actor, folder=folder)
    return " / ".join([str(_("Shared with me")), *(part.name for part in visible)])


def folder_descendant_ids(folder_ids: Iterable[int]) -> list[int]:
    """Ids of every folder strictly below the given ones (breadth first)."""
    found: list[int] = []
    seen: set[int] = set()
    frontier = list(folder_ids)
    while frontier:
        below = Folder.objects.filter(parent_id__in=frontier).values_list("pk", flat=True)
        frontier = [pk for pk in below if pk not in seen]  # a cycle ends the walk
        seen.update(frontier)
        found.extend(frontier)
    return found


# --- Search -----------------------------------------------------------------------------
#
# Search answers with names and paths only, the same as the listings the person may
# already open, so it reads exactly what ``file_permission`` and ``folder_permission``
# allow: the live items of ``spaces_accessible_by``, the files shared with the person
# (directly or through a team), and the live folders shared with them and everything
# below (the inheritance ``_share_permission`` applies). The database narrows with those
# sets; each hit is then confirmed with the permission functions themselves before it
# is shown, so a search can never show more than opening the item would.

SEARCH_QUERY_MIN = 2  # one letter matches nearly everything, and no trigram index helps
SEARCH_QUERY_MAX = 200
SEARCH_RESULTS_LIMIT = 50


@dataclass(frozen=True)
class SearchHit:
    item: File | Folder
    path: str  # where the item is, as the person may see it (“My files / Reports”)

    @property
    def is_folder(self) -> bool:
        return isinstance(self.item, Folder)


@dataclass(frozen=True)
class SearchResults:
    query: str
    hits: list[SearchHit]
    more: bool  # more than SEARCH_RESULTS_LIMIT matched: the person should refine


def search_query_refusal(query: str) -> str | None:
    """Why a search text is refused (a clear 400), or ``None``."""
    if len(query) > SEARCH_QUERY_MAX:
        return _("Search for at most %(limit)d characters.") % {"limit": SEARCH_QUERY_MAX}
    return None


def search_key_usable(query: str) -> str | None:
    """The compared form of ``query``, or ``None`` when too short to search."""
    key = name_search_key(query.strip())
    return key if len(key) >= SEARCH_QUERY_MIN else None


class ReadableBy:
    """``file_permission`` and ``folder_permission`` for many items, each space and
    folder asked about once (search, the home page's stars)."""

    def __init__(self, actor: User) -> None:
        self.actor = actor
        self.space: dict[int, Permission] = {}
        self.folder: dict[int, Permission] = {}

    def space_permission(self, space: Space) -> Permission:
        if space.pk not in self.space:
            self.space[space.pk] = space_permission(actor=self.actor, space=space)
        return self.space[space.pk]

    def folder_permission(self, folder: Folder) -> Permission:
        if folder.pk not in self.folder:
            if self.space_permission(folder.space) >= Permission.VIEW:
                self.folder[folder.pk] = self.space[folder.space_id]
            else:
                self.folder[folder.pk] = folder_permission(actor=self.actor, folder=folder)
        return self.folder[folder.pk]

    def readable(self, item: File | Folder) -> bool:
        if isinstance(item, Folder):
            return self.folder_permission(item) >= Permission.VIEW
        if self.folder_permission(item.folder) >= Permission.VIEW:
            return True
        return file_permission(actor=self.actor, file=item) >= Permission.VIEW


def _shared_reach(actor: User) -> tuple[list[int], list[int]]:
    """(ids of files shared with ``actor`` themselves, ids of the folders shared with
    them and of every folder below those)."""
    received = _shares_received(actor)  # none for an auditor
    file_ids = list(
        received.filter(file__isnull=False, file__deleted_at__isnull=True).values_list(
            "file_id", flat=True
        )
    )
    roots = list(
        received.filter(folder__isnull=False, folder__deleted_at__isnull=True).values_list(
            "folder_id", flat=True
        )
    )
    return file_ids, roots + folder_descendant_ids(roots)


def folder_labels_for(*, actor: User, folders: Iterable[Folder]) -> dict[int, str]:
    """``folder_label_for`` of many folders at once: every folder above them in one
    query (recursive CTE), the shares on those folders in one more."""
    wanted = {folder.pk: folder for folder in folders}
    if not wanted:
        return {}
    table = connection.ops.quote_name(Folder._meta.db_table)
    marks = ", ".join(["%s"] * len(wanted))
    sql = (
        "WITH RECURSIVE chain(id, parent_id, name) AS ("  # noqa: S608  (table from the model)
        f" SELECT id, parent_id, name FROM {table} WHERE id IN ({marks})"
        f" UNION SELECT f.id, f.parent_id, f.name FROM {table} f"
        " JOIN chain c ON f.id = c.parent_id"
        ") SELECT id, parent_id, name FROM chain"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, list(wanted))
        known = {int(row[0]): (row[1], row[2]) for row in cursor.fetchall()}
    shared = set(
        _shares_received(actor)
        .filter(folder_id__in=list(known))
        .values_list("folder_id", flat=True)
    )
    readable = ReadableBy(actor)
    labels: dict[int, str] = {}
    for folder_id, folder in wanted.items():
        chain: list[int] = [folder_id]  # root first once reversed
        while known[chain[-1]][0] is not None:
            chain.append(int(known[chain[-1]][0]))
        chain.reverse()
        if readable.space_permission(folder.space) >= Permission.VIEW:
            space = folder.space
            top = space.team.name if space.team_id and space.team else str(_("My files"))
            labels[folder_id] = " / ".join([top, *(known[pk][1] for pk in chain[1:])])
            continue
        first_shared = next((index for index, pk in enumerate(chain) if pk in shared), None)
        visible = [] if first_shared is None else chain[first_shared:]
        labels[folder_id] = " / ".join(
            [str(_("Shared with me")), *(known[pk][1] for pk in visible)]
        )
    return labels


def _by_relevance(items: QuerySet[Any], key: str) -> QuerySet[Any]:
    """Names starting with the text first, then alphabetical."""
    ranked: QuerySet[Any] = items.annotate(
        starts=Case(
            When(name_search__startswith=key, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        )
    ).order_by("starts", "name_key", "pk")
    return ranked


def search_for_actor(*, actor: User, query: str) -> SearchResults:
    """Live files and folders ``actor`` may read whose name contains ``query`` (accents,
    case and compatibility forms ignored), best first, with their paths."""
    key = search_key_usable(query)
    if key is None or not _active(actor):
        return SearchResults(query, [], False)
    space_ids = list(spaces_accessible_by(actor).values_list("pk", flat=True))
    shared_file_ids, shared_folder_ids = _shared_reach(actor)
    window = SEARCH_RESULTS_LIMIT + 1
    folders = _by_relevance(
        Folder.objects.filter(
            Q(space_id__in=space_ids) | Q(pk__in=shared_folder_ids),
            name_search__contains=key,
            parent__isnull=False,
            deleted_at__isnull=True,
            purged_at__isnull=True,
        ).select_related("space", "space__team", "parent"),
        key,
    )[:window]
    files = _by_relevance(
        File.objects.filter(
            Q(space_id__in=space_ids)
            | Q(folder_id__in=shared_folder_ids)
            | Q(pk__in=shared_file_ids),
            name_search__contains=key,
            deleted_at__isnull=True,
            purged_at__isnull=True,
        ).select_related("space", "space__team", "folder", "folder__space", "folder__space__team"),
        key,
    )[:window]
    found: list[File | Folder] = [*folders, *files]
    found.sort(key=lambda item: (not item.name_search.startswith(key), item.name_key, item.pk))
    readable = ReadableBy(actor)
    hits_items = [item for item in found if readable.readable(item)]
    more = len(hits_items) > SEARCH_RESULTS_LIMIT
    hits_items = hits_items[:SEARCH_RESULTS_LIMIT]
    where = [item.folder if isinstance(item, File) else item.parent for item in hits_items]
    parents = {folder.pk: folder for folder in where if folder is not None}
    _parent_spaces(parents.values())
    labels = folder_labels_for(actor=actor, folders=parents.values())
    hits = [
        SearchHit(item, labels.get(folder.pk, "") if folder is not None else "")
        for item, folder in zip(hits_items, where, strict=True)
    ]
    return SearchResults(query, hits, more)


def _parent_spaces(folders: Iterable[Folder]) -> None:
    """Folders reached as ``Folder.parent`` carry no space yet: load them in one query."""
    missing = [folder for folder in folders if "space" not in folder._state.fields_cache]
    if not missing:
        return
    spaces = Space.objects.select_related("team").in_bulk({folder.space_id for folder in missing})
    for folder in missing:
        folder.space = spaces[folder.space_id]


def files_withheld_by_role(actor: User) -> QuerySet[File]:
    """The live files an auditor's teams and shares would open were it not for the role
    (none for anyone else): to tell an auditor who asks for one why not (403), where the
    rest of the world gets a 404."""
    if not role_withholds_content(actor):
        return File.objects.none()
    team_spaces = Space.objects.filter(kind=SpaceKind.TEAM, team__memberships__user=actor)
    received = _shares_received(actor, role_aside=True)
    file_ids = list(received.filter(file__isnull=False).values_list("file_id", flat=True))
    roots = list(received.filter(folder__isnull=False).values_list("folder_id", flat=True))
    return File.objects.filter(
        Q(space__in=team_spaces)
        | Q(pk__in=file_ids)
        | Q(folder_id__in=roots + folder_descendant_ids(roots)),
        deleted_at__isnull=True,
        purged_at__isnull=True,
    )


def files_readable_by(actor: User) -> QuerySet[File]:
    """Every live file ``actor`` may read, as one query for others to filter on (the DICOM
    index, imaging/selectors.py): the files of their spaces, of folders shared with them
    and below, and files shared with them, which is what ``file_permission`` grants VIEW
    on (the same reach as search)."""
    if not _active(actor):
        return File.objects.none()
    space_ids = list(spaces_accessible_by(actor).values_list("pk", flat=True))
    shared_file_ids, shared_folder_ids = _shared_reach(actor)
    return File.objects.filter(
        Q(space_id__in=space_ids) | Q(folder_id__in=shared_folder_ids) | Q(pk__in=shared_file_ids),
        deleted_at__isnull=True,
        purged_at__isnull=True,
    )
