"""Spaces (made with the account or the team) and the offboarding handover of personal
files."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Team, User
from accounts.offboarding import OffboardingStep
from audit.actions import Action
from files.errors import (
    FileRuleError,
)
from files.models import File, Folder, Space, SpaceKind
from files.names import name_clean, name_key
from files.services.common import free_name, record


def _space_with_root(**identity: Any) -> Space:
    space = Space.objects.filter(**identity).first()
    if space is not None:
        return space
    try:
        with transaction.atomic():
            space = Space.objects.create(**identity)
            Folder.objects.create(space=space, parent=None, name="", name_key="")
    except IntegrityError:  # made concurrently (an upload racing the account's creation)
        space = Space.objects.get(**identity)
    return space


def space_personal_get_or_create(*, user: User) -> Space:
    """The person's own space with its root folder: made when the account is made
    (``space_made_with_account``, and migration 0017 for older accounts). Called again by
    the paths that write into it (an upload, a transfer, a handover), so that a person
    whose row was imported around the model still gets one, but never by a read: a GET
    writes nothing (``files.selectors.space_personal_for``)."""
    return _space_with_root(kind=SpaceKind.PERSONAL, owner=user)


def space_team_get_or_create(*, team: Team) -> Space:
    """The team's space with its root folder: made when the team is made."""
    return _space_with_root(kind=SpaceKind.TEAM, team=team)


def space_made_with_account(
    sender: object, *, instance: User, created: bool, raw: bool = False, **kwargs: object
) -> None:
    """``post_save`` receiver for ``User``: the person's space is made with the account,
    whichever way the account is made (invitation, SSO, SCIM, ``createsuperuser``), in
    the same transaction when there is one. Not for fixture loading (``raw``)."""
    if created and not raw:
        space_personal_get_or_create(user=instance)


def space_made_with_team(
    sender: object, *, instance: Team, created: bool, raw: bool = False, **kwargs: object
) -> None:
    """``post_save`` receiver for ``Team``: the team space is made with the team."""
    if created and not raw:
        space_team_get_or_create(team=instance)


def space_root(space: Space) -> Folder:
    return Folder.objects.select_related("space").get(space=space, parent__isnull=True)


def _handover_label(user: User, *, reader: User) -> str:
    """“From Alice Martin (2026-11-23)”, made safe whatever the person's name holds, in
    the language of ``reader``, whose folder it becomes (not the acting admin's)."""
    with translation.override(reader.email_language):
        return _handover_label_in_active_language(user)


def _handover_label_in_active_language(user: User) -> str:
    day = timezone.localdate().isoformat()
    who = "".join(
        char for char in user.get_full_name()[:150] if char.isprintable() and char not in "/\\"
    ).strip(" .")
    for candidate in (who, user.email, str(user.pk)):
        try:
            return name_clean(_("From %(name)s (%(date)s)") % {"name": candidate, "date": day})
        except FileRuleError:
            continue
    return name_clean(f"{user.pk} ({day})")


def personal_files_handover_plan(
    sender: object, *, user: User, successor: User | None, lock: bool = False, **kwargs: object
) -> OffboardingStep:
    """``accounts.offboarding.offboarding_planned`` receiver: the leaver's personal files
    go to the successor, in a folder named after the leaver at the top of the
    successor's space. Without a successor they stay, unreachable, for the retention
    period. The plan names the folder; applying it makes exactly that folder.

    Applied inside the deactivation's transaction. The successor's quota is not applied:
    a handover must not fail half-way because someone's space is full.
    """
    space = Space.objects.filter(kind=SpaceKind.PERSONAL, owner=user).first()
    name = "personal_files_hand_over"
    if space is None:
        return OffboardingStep(
            name=name, lines=[], apply=lambda actor: {"files_moved": 0, "folders_moved": 0}
        )
    # Not locked here: the move below takes its row locks in the files app's order
    # (docs/architecture.md, "Lock order"), as it did before plans existed.
    file_count = File.objects.filter(space=space, purged_at__isnull=True).count()
    if not file_count and not Folder.objects.filter(space=space, parent__isnull=False).exists():
        # Nothing to hand over (every account has a space from its first day): no empty
        # "From Alice" folder in the successor's space.
        return OffboardingStep(
            name=name, lines=[], apply=lambda actor: {"files_moved": 0, "folders_moved": 0}
        )
    if successor is None:
        return OffboardingStep(
            name=name,
            lines=[{"key": "files_kept", "count": file_count}] if file_count else [],
            apply=lambda actor: {"files_moved": 0, "folders_moved": 0, "files_kept": file_count},
        )
    destination_space = Space.objects.filter(kind=SpaceKind.PERSONAL, owner=successor).first()
    label = _handover_label(user, reader=successor)
    if destination_space is not None:
        label = free_name(folder=space_root(destination_space), name=label)
    folder_count = Folder.objects.filter(space=space, parent__isnull=False).count()
    target = successor

    def apply(actor: User | None) -> dict[str, Any]:
        return _personal_files_move(
            actor=actor, user=user, successor=target, space=space, label=label
        )

    line = {
        "key": "files_handed_over",
        "count": file_count,
        "folders": folder_count,
        "to": f"{successor.get_full_name()} <{successor.email}>",
        "folder": label,
    }
    return OffboardingStep(name=name, lines=[line], apply=apply)


def _personal_files_move(
    *, actor: User | None, user: User, successor: User, space: Space, label: str
) -> dict[str, Any]:
    root = space_root(space)
    destination_root = space_root(space_personal_get_or_create(user=successor))
    # The planned name, unless it was taken since (the plan is made in this same
    # transaction, so only a folder made by this very offboarding could take it).
    label = free_name(folder=destination_root, name=label)
    handover = Folder.objects.create(
        space_id=destination_root.space_id,
        parent=destination_root,
        name=label,
        name_key=name_key(label),
        created_by=actor,
    )
    moved_folders = Folder.objects.filter(space=space).exclude(pk=root.pk)
    folder_count = moved_folders.count()
    moved_folders.update(space_id=handover.space_id)
    Folder.objects.filter(parent=root).update(parent=handover)
    file_count = File.objects.filter(space=space, purged_at__isnull=True).count()
    File.objects.filter(space=space).update(space_id=handover.space_id)
    File.objects.filter(folder=root).update(folder=handover)
    record(
        Action.FILES_SPACE_HANDOVER,
        actor=actor,
        target=space,
        leaver=user.email,
        successor=successor.email,
        folder=handover.pk,
        files=file_count,
        folders=folder_count,
    )
    return {"files_moved": file_count, "folders_moved": folder_count, "folder": label}


def restore_destination_locked(*, folder_id: int | None, space: Space) -> Folder:
    """Where something comes back from the trash, locked (``FOR NO KEY UPDATE``) before
    its free name is chosen: its folder if still live in ``space``, else the top folder.

    Locked first (folders before the file, the lock order), so that an upload or a
    restore of a namesake into that folder waits or is waited for, and the name
    picked (“report (2).pdf”) is free when written; unlocked, both wrote “report.pdf”
    and the restore failed on the unique name."""
    folder = (
        Folder.objects.select_for_update(no_key=True)
        .filter(pk=folder_id or 0, space_id=space.pk, deleted_at__isnull=True)
        .first()
    )
    if folder is None:
        folder = Folder.objects.select_for_update(no_key=True).get(pk=space_root(space).pk)
    return folder
