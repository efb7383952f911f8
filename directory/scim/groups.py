"""SCIM Groups: SecureDrive teams. Members are people (``members[].value`` = a User id).

A directory adds and removes *members*. A deactivated person is not added: their
offboarding ended their memberships (``accounts.services.team_member_remove``), and a
membership a directory wrote back while they were away would come back to life with a
reactivation, unreviewed. A write that lists them is carried out without them, each
skip audited; the answer carries the group as stored, without them, so the directory
sees it (RFC 7644 §3.5.1: the response lets the client correlate both views). A
deactivated person still a member (before this rule) is left as is, not removed.
An auditor is skipped the same way (an auditor reads no file content, accounts.roles),
and so is the administrator who created the token (nobody joins a team by themselves).
A team's managers are named in SecureDrive (a directory group has no such notion): a
manager the directory removes leaves the team, one it adds joins as a member. DELETE
empties the team and hides it from the directory; the team and its space stay (a
directory never destroys patient files).
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import CharField, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.text import slugify
from pydantic import ValidationError
from scim2_models import Context, PatchOp, SCIMException
from scim2_models import Group as ScimGroup

from accounts.models import Team, TeamMembership, TeamRole, User
from accounts.services import MembershipEndReason, team_member_remove
from audit import services as audit
from audit.actions import Action
from audit.models import Outcome
from core.http import id_number
from directory.models import DirectoryGroup, DirectoryToken
from directory.scim import discovery
from directory.scim.errors import (
    ScimError,
    from_library,
    invalid_value,
    not_found,
    uniqueness,
)
from directory.scim.users import version_of
from directory.tokens import token_label

EXTERNAL_ID_MAX_LENGTH = 300  # DirectoryGroup.external_id
TEAM_NAME_MAX_LENGTH = 100  # Team.name


def groups_visible() -> QuerySet[Team]:
    return (
        Team.objects.exclude(directory_group__deleted_at__isnull=False)
        .select_related("directory_group")
        .prefetch_related("memberships__user")
        .annotate(scim_id=Cast("pk", CharField()))
        .order_by("pk")
        .distinct()
    )


def group_get(group_id: str) -> Team:
    number = id_number(group_id)
    if number is None:
        raise not_found("Group")
    team = groups_visible().filter(pk=number).first()
    if team is None:
        raise not_found("Group")
    return team


def group_representation(team: Team) -> dict[str, Any]:
    base = discovery.base_url()
    directory_group: DirectoryGroup | None = getattr(team, "directory_group", None)
    members = sorted(team.memberships.all(), key=lambda m: m.user_id)
    body: dict[str, Any] = {
        "schemas": [discovery.GROUP_SCHEMA],
        "id": str(team.pk),
        "displayName": team.name,
        "members": [
            {
                "value": str(m.user_id),
                "$ref": f"{base}/Users/{m.user_id}",
                "type": "User",
            }
            for m in members
        ],
    }
    if directory_group and directory_group.external_id:
        body["externalId"] = directory_group.external_id
    created = directory_group.created_at if directory_group else team.created_at
    modified = directory_group.updated_at if directory_group else team.created_at
    body["meta"] = {
        "resourceType": "Group",
        "created": created.isoformat(),
        "lastModified": modified.isoformat(),
        "location": f"{base}/Groups/{team.pk}",
    }
    body["meta"]["version"] = version_of(body)
    return body


def _wanted(body: dict[str, Any], context: Context) -> tuple[str, str, list[int]]:
    try:
        data = ScimGroup.model_validate(body, scim_ctx=context).model_dump(scim_ctx=context)
    except (ValidationError, SCIMException) as error:
        raise from_library(error) from error
    name = str(data.get("displayName") or "").strip()
    if len(name) > TEAM_NAME_MAX_LENGTH:
        # Cut, two groups whose names differ past the limit became one team's name.
        raise invalid_value(f"displayName is longer than {TEAM_NAME_MAX_LENGTH} characters")
    if not name or not slugify(name):
        raise invalid_value("displayName is required (letters or digits)")
    external_id = str(data.get("externalId") or "")
    if len(external_id) > EXTERNAL_ID_MAX_LENGTH:  # the column's size: a 500 before
        raise invalid_value(f"externalId is longer than {EXTERNAL_ID_MAX_LENGTH} characters")
    member_ids: list[int] = []
    for member in data.get("members") or []:
        value = str((member or {}).get("value") or "")
        number = id_number(value)
        if number is None:
            raise invalid_value(f"Unknown member “{value[:40]}”")
        member_ids.append(number)
    # Deactivated accounts are known, so a write listing them is not refused as a whole
    # (a directory lists a suspended person in their groups): _members_set skips them.
    known = set(User.objects.filter(pk__in=member_ids).values_list("pk", flat=True))
    if set(member_ids) - known:
        raise invalid_value("A member is not an account of this service")
    return name, external_id, sorted(set(member_ids))


def _free_slug(name: str, exclude: int | None = None) -> str:
    base = slugify(name)[:90] or "team"
    slug, number = base, 1
    others = Team.objects.exclude(pk=exclude) if exclude is not None else Team.objects.all()
    while others.filter(slug=slug).exists():
        number += 1
        slug = f"{base}-{number}"
    return slug


def _members_set(
    team: Team, member_ids: list[int], *, token: DirectoryToken
) -> tuple[list[str], list[str]]:
    current = {
        m.user_id: m for m in TeamMembership.objects.filter(team=team).select_related("user")
    }
    added, removed = [], []
    newcomers = User.objects.filter(pk__in=[i for i in member_ids if i not in current])
    for user in newcomers.order_by("pk"):
        if not user.is_active:
            _member_skip_record(team=team, user=user, token=token, reason="account deactivated")
            continue
        if user.pk == token.created_by_id:
            # The administrator who made the token adding themselves to a team through
            # it: refused as on the team page (accounts.roles, "self_grant").
            _member_skip_record(team=team, user=user, token=token, reason="self_grant")
            continue
        if user.is_auditor:
            # An auditor reads no patient file (ARCHITECTURE.md, invariant 4): the
            # directory's group is carried out without them, as for a leaver.
            _member_skip_record(team=team, user=user, token=token, reason="auditor")
            continue
        TeamMembership.objects.create(team=team, user=user, role=TeamRole.MEMBER)
        added.append(user.email)
    for user_id, membership in current.items():
        if user_id not in member_ids:
            removed.append(membership.user.email)
            # The one way out of a team (accounts.services): what the person held
            # through it (shares of the team's files made to them) ends as well.
            team_member_remove(
                actor=None,
                actor_label=token_label(token),
                membership=membership,
                reason=MembershipEndReason.DIRECTORY,
            )
    return added, removed


def _member_skip_record(*, team: Team, user: User, token: DirectoryToken, reason: str) -> None:
    audit.record(
        action=Action.DIRECTORY_GROUP_MEMBER_SKIP,
        outcome=Outcome.DENIED,
        actor=None,
        actor_label=token_label(token),
        target_type="accounts.team",
        target_id=team.pk,
        details={
            "user": user.pk,
            "team": team.name,
            "email": user.email,
            "reason": reason,
        },
    )


def _external_id_clash(*, external_id: str, exclude: int | None = None) -> None:
    """The directory's identifier of a group names one team: with two, a directory
    matching groups on externalId would change the members of whichever it found
    first. Case-exact (RFC 7643 §3.1); a group the directory deleted does not count."""
    if not external_id:
        return
    holders = DirectoryGroup.objects.filter(external_id=external_id, deleted_at__isnull=True)
    if exclude is not None:
        holders = holders.exclude(team_id=exclude)
    if holders.exists():
        raise uniqueness(f"Another team has this externalId (“{external_id[:60]}”)")


def _uniqueness_after_race(*, external_id: str, exclude: int | None) -> ScimError:
    """The 409 for a write the database refused (IntegrityError): a request at the same
    instant took the name or the externalId after this one's checks passed
    (directory_group_external_id_once, the team's unique name and slug). Its row is
    committed now, so the check names the identifier as it would have."""
    try:
        _external_id_clash(external_id=external_id, exclude=exclude)
    except ScimError as clash:
        return clash
    return uniqueness("A team with this displayName already exists")


def group_create(*, token: DirectoryToken, body: dict[str, Any]) -> Team:
    name, external_id, member_ids = _wanted(body, Context.RESOURCE_CREATION_REQUEST)
    if Team.objects.filter(name__iexact=name).exists():
        raise uniqueness("A team with this displayName already exists")
    _external_id_clash(external_id=external_id)
    try:
        with transaction.atomic():
            team = Team.objects.create(name=name, slug=_free_slug(name))
            DirectoryGroup.objects.create(team=team, external_id=external_id)
            added, _removed = _members_set(team, member_ids, token=token)
            audit.record(
                action=Action.DIRECTORY_GROUP_CREATE,
                actor=None,
                actor_label=token_label(token),
                target_type="accounts.team",
                target_id=team.pk,
                details={"name": name, "external_id": external_id, "added": added},
            )
    except IntegrityError as error:  # a request at the same instant won
        raise _uniqueness_after_race(external_id=external_id, exclude=None) from error
    return group_get(str(team.pk))


def group_replace(*, token: DirectoryToken, team: Team, body: dict[str, Any]) -> Team:
    name, external_id, member_ids = _wanted(body, Context.RESOURCE_REPLACEMENT_REQUEST)
    if Team.objects.filter(name__iexact=name).exclude(pk=team.pk).exists():
        raise uniqueness("A team with this displayName already exists")
    _external_id_clash(external_id=external_id, exclude=team.pk)
    try:
        _group_apply(
            token=token, team=team, name=name, external_id=external_id, member_ids=member_ids
        )
    except IntegrityError as error:  # a request at the same instant won
        raise _uniqueness_after_race(external_id=external_id, exclude=team.pk) from error
    return group_get(str(team.pk))


def _group_apply(
    *, token: DirectoryToken, team: Team, name: str, external_id: str, member_ids: list[int]
) -> None:
    with transaction.atomic():
        locked = Team.objects.select_for_update().get(pk=team.pk)
        directory_group, _created = DirectoryGroup.objects.get_or_create(
            team=locked, defaults={"created_at": locked.created_at}
        )
        renamed = locked.name != name
        if renamed:
            locked.name, locked.slug = name, _free_slug(name, exclude=locked.pk)
            locked.save(update_fields=["name", "slug"])
        directory_group.external_id = external_id
        directory_group.updated_at = timezone.now()
        directory_group.save()
        added, removed = _members_set(locked, member_ids, token=token)
        if renamed or added or removed:
            audit.record(
                action=Action.DIRECTORY_GROUP_UPDATE,
                actor=None,
                actor_label=token_label(token),
                target_type="accounts.team",
                target_id=locked.pk,
                details={"name": name, "renamed": renamed, "added": added, "removed": removed},
            )


def _removals_by_value(body: dict[str, Any]) -> dict[str, Any]:
    """Entra ID removes members as ``{"op": "Remove", "path": "members", "value":
    [{"value": "12"}]}`` (its documented shape); RFC 7644 §3.5.2.2 selects them with a
    path filter, ``members[value eq "12"]``, and scim2-models refuses the other form.
    Each member listed becomes the RFC's form: refused, the removal was retried for ever
    and the person kept the team and its files."""
    operations = body.get("Operations")
    if not isinstance(operations, list):
        return body
    rewritten: list[Any] = []
    for operation in operations:
        listed = operation.get("value") if isinstance(operation, dict) else None
        if not (
            isinstance(listed, list)
            and listed
            and str(operation.get("op", "")).lower() == "remove"
            and str(operation.get("path", "")).strip().lower() == "members"
        ):
            rewritten.append(operation)
            continue
        for member in listed:
            value = member.get("value") if isinstance(member, dict) else member
            number = id_number(value)
            if number is None:  # only digits go into the filter
                raise invalid_value(f"Unknown member “{str(value)[:40]}”")
            rewritten.append({"op": "remove", "path": f'members[value eq "{number}"]'})
    return {**body, "Operations": rewritten}


def group_patch(*, token: DirectoryToken, team: Team, body: dict[str, Any]) -> Team:
    current = group_representation(team)
    current.pop("meta", None)
    try:
        resource: Any = ScimGroup.model_validate(current)
        operations: Any = PatchOp[ScimGroup].model_validate(
            _removals_by_value(body), scim_ctx=Context.RESOURCE_PATCH_REQUEST
        )
        operations.patch(resource)
    except (ValidationError, SCIMException) as error:
        raise from_library(error) from error
    wanted = resource.model_dump(scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
    return group_replace(token=token, team=team, body=wanted)


def group_delete(*, token: DirectoryToken, team: Team) -> None:
    with transaction.atomic():
        _added, removed = _members_set(team, [], token=token)
        directory_group, _created = DirectoryGroup.objects.get_or_create(
            team=team, defaults={"created_at": team.created_at}
        )
        directory_group.deleted_at = timezone.now()
        directory_group.save(update_fields=["deleted_at"])
        audit.record(
            action=Action.DIRECTORY_GROUP_DELETE,
            actor=None,
            actor_label=token_label(token),
            target_type="accounts.team",
            target_id=team.pk,
            details={"name": team.name, "removed": removed},
        )
