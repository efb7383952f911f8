"""Internal shares: services (create, change role, remove) and selectors (an item's
shares, what is shared with a person). docs/sharing-shares.md.

What a share grants is decided in ``files.selectors`` (``file_permission``,
``folder_permission``), which every entry point already calls; this module only
manages the rows. Who may manage an item's shares: the people of its space
(``files.selectors.share_allowed``). Every change, and every refusal, is audited in the
same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts import roles, still_active
from accounts.models import Team, TeamMembership, User
from accounts.team_leave_preview import TeamLeaveLoss
from audit import services as audit
from audit.actions import Action
from audit.models import Outcome
from files import selectors as files_selectors
from files.errors import FileNotFoundForActor
from files.models import File, Folder
from files.selectors import Permission
from sharing.errors import ShareRuleError
from sharing.models import Share, ShareRole
from sharing.selectors import share_item
from sharing.services.emails import email_send

Item = File | Folder


# --- Items ------------------------------------------------------------------------------


def _item_type(item: Item) -> str:
    return "files.file" if isinstance(item, File) else "files.folder"


def _refuse(
    *, actor: User, action: Action, item: Item | None, reason: str, **details: object
) -> None:
    audit.record(
        action=action,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type=_item_type(item) if item is not None else "sharing.share",
        target_id=item.pk if item is not None else details.get("share", ""),
        details={"reason": reason, **details},
    )


def _actor_still_active_check(
    *, actor: User, action: Action, item: Item
) -> still_active.StillActive:
    """A form posted or a job queued just before the sharer's departure holds a person
    object that still reads "active": the row is asked (``accounts.still_active``), and
    locked in the change's transaction (``locked_transaction()``)."""
    return still_active.actor_still_active_check(
        actor, action=action, target_type=_item_type(item), target_id=item.pk, error=ShareRuleError
    )


def item_for_sharing(
    *, actor: User, file_id: int | None = None, folder_id: int | None = None
) -> Item:
    """The file or folder whose shares ``actor`` wants to manage.

    Not visible to them: ``FileNotFoundForActor`` (404, audited by the selector).
    Visible (e.g. shared with them) but not theirs to share: ``ShareRuleError`` 403.
    """
    item: Item
    if file_id is not None:
        item = files_selectors.file_get_for_actor(actor=actor, file_id=file_id)
    else:
        assert folder_id is not None  # noqa: S101
        item = files_selectors.folder_get_for_actor(actor=actor, folder_id=folder_id)
    refusal = files_selectors.sharing_refusal(
        actor=actor, item=item, way=files_selectors.SharingWay.SHARE
    )
    if refusal is not None:
        _refuse(actor=actor, action=Action.SHARING_SHARE_CREATE, item=item, reason=refusal.value)
        if refusal == files_selectors.SharingRefusal.SPACE_ROOT:
            raise ShareRuleError(
                _("The top folder of a space cannot be shared: share a folder inside it."), 403
            )
        raise ShareRuleError(
            _("Only the people of the space this belongs to may share it or change its shares."),
            403,
        )
    return item


# --- Recipients -------------------------------------------------------------------------


def recipient_find(*, actor: User, text: str, item: Item | None = None) -> User | Team:
    """An active person by exact e-mail address, or a team by exact name.

    Exact match only, never a search: the sharing form must not become a way to list
    the staff directory. Unknown addresses, inactive accounts and unknown names get the
    same message; the miss is audited (what was typed included, so that someone trying
    addresses one after another shows in the log).
    """
    wanted = text.strip()
    if wanted:
        if "@" in wanted:
            user = User.objects.filter(email__iexact=wanted, is_active=True).first()
            if user is not None:
                return user
        else:
            team = Team.objects.filter(Q(name__iexact=wanted) | Q(slug__iexact=wanted)).first()
            if team is not None:
                return team
    _refuse(
        actor=actor,
        action=Action.SHARING_SHARE_CREATE,
        item=item,
        reason="recipient_unknown",
        recipient=wanted[:254],
    )
    raise ShareRuleError(
        _(
            "No active account has this e-mail address and no team has this name. "
            "Check the spelling: only exact matches are accepted."
        )
    )


@dataclass(frozen=True)
class Suggestions:
    """What the form may suggest: colleagues of the person's own teams, and the teams."""

    people: list[User]
    teams: list[Team]


def recipient_suggestions(*, actor: User) -> Suggestions:
    my_teams = TeamMembership.objects.filter(user=actor).values("team")
    people = (
        User.objects.filter(is_active=True, memberships__team__in=my_teams)
        .exclude(pk=actor.pk)
        .distinct()
        .order_by("email")
    )
    teams = Team.objects.filter(pk__in=my_teams).order_by("name")
    return Suggestions(list(people[:500]), list(teams))


# --- Services ---------------------------------------------------------------------------


def _recipient_details(share: Share) -> dict[str, object]:
    if share.user is not None:
        return {"recipient_user": share.user.email}
    assert share.team is not None  # noqa: S101
    return {"recipient_team": share.team.slug}


class _RecipientChanged(Exception):
    """The recipient, read again under lock, may no longer receive the share: raised
    inside the transaction so that it rolls back, refused on record after it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def share_create(*, actor: User, item: Item, recipient: User | Team, role: str) -> Share:
    """Share ``item`` (which ``item_for_sharing`` returned) with a person or a team."""
    if role not in ShareRole.values:
        raise ShareRuleError(_("Choose viewer or editor."))
    guard = _actor_still_active_check(actor=actor, action=Action.SHARING_SHARE_CREATE, item=item)
    refusal = files_selectors.sharing_refusal(
        actor=actor, item=item, way=files_selectors.SharingWay.SHARE
    )
    if refusal is not None:
        _refuse(actor=actor, action=Action.SHARING_SHARE_CREATE, item=item, reason=refusal.value)
        raise FileNotFoundForActor(f"{_item_type(item)} {item.pk}")
    reason = ""
    if isinstance(recipient, User):
        if not recipient.is_active:
            reason = "recipient_inactive"
        elif recipient.is_auditor:
            # An auditor reads no file content (ARCHITECTURE.md, invariant 4).
            reason = "auditor"
        elif recipient.pk == actor.pk or (
            files_selectors.space_permission(actor=recipient, space=item.space) >= Permission.MANAGE
        ):
            reason = "recipient_has_access"
    elif item.space.team_id == recipient.pk:
        reason = "recipient_has_access"
    recipient_named = {"recipient_user": recipient.email} if isinstance(recipient, User) else {}
    if reason:
        _refuse(
            actor=actor,
            action=Action.SHARING_SHARE_CREATE,
            item=item,
            reason=reason,
            **recipient_named,
        )
        if reason == "recipient_inactive":
            raise ShareRuleError(_("This account is not active."))
        if reason == "auditor":
            assert isinstance(recipient, User)  # noqa: S101  (only people are auditors)
            # The sharer is not told the recipient's role; the event above says it.
            raise ShareRuleError(roles.recipient_refusal_message(recipient.get_full_name()), 409)
        raise ShareRuleError(_("They already have access: this is in a space they belong to."), 409)
    file = item if isinstance(item, File) else None
    folder = item if isinstance(item, Folder) else None
    # The recipient as the form loaded them may be stale: their row is locked with the
    # sharer's and read again (accounts.still_active), so a deactivation at this instant
    # either comes after (and its plan removes this share) or is seen here.
    person = [recipient] if isinstance(recipient, User) else []
    try:
        with guard.locked_transaction(with_people=person) as people:
            if person:
                now = people.get(recipient.pk)
                if now is None or not now.is_active:
                    raise _RecipientChanged("recipient_inactive")
                if now.is_auditor:
                    raise _RecipientChanged("auditor")
            share = Share.objects.create(
                file=file,
                folder=folder,
                user=recipient if isinstance(recipient, User) else None,
                team=recipient if isinstance(recipient, Team) else None,
                role=role,
                created_by=actor,
            )
            audit.record(
                action=Action.SHARING_SHARE_CREATE,
                actor=actor,
                target_type="sharing.share",
                target_id=share.pk,
                details={
                    "item_type": _item_type(item),
                    "item": item.pk,
                    "role": role,
                    **_recipient_details(share),
                },
            )
            # The sharer's language, for recipients who never signed in yet.
            language = translation.get_language() or settings.LANGUAGE_CODE
            transaction.on_commit(
                partial(share_received_notify, share_id=share.pk, language=language), robust=True
            )
    except _RecipientChanged as changed:
        # After the rollback, so that the refusal stays on record.
        _refuse(
            actor=actor,
            action=Action.SHARING_SHARE_CREATE,
            item=item,
            reason=changed.reason,
            **recipient_named,
        )
        if changed.reason == "auditor":
            assert isinstance(recipient, User)  # noqa: S101
            raise ShareRuleError(
                roles.recipient_refusal_message(recipient.get_full_name()), 409
            ) from None
        raise ShareRuleError(_("This account is not active.")) from None
    except IntegrityError:
        _refuse(actor=actor, action=Action.SHARING_SHARE_CREATE, item=item, reason="already_shared")
        raise ShareRuleError(
            _("This is already shared with them: change the role in the list instead."), 409
        ) from None
    return share


def share_update(*, actor: User, share: Share, role: str) -> Share:
    """Change the role of a share ``share_get_for_actor`` returned."""
    if role not in ShareRole.values:
        raise ShareRuleError(_("Choose viewer or editor."))
    guard = _actor_still_active_check(
        actor=actor, action=Action.SHARING_SHARE_UPDATE, item=share_item(share)
    )
    with guard.locked_transaction():
        locked = Share.objects.select_for_update().filter(pk=share.pk).first()
        if locked is None:
            raise FileNotFoundForActor(f"sharing.share {share.pk}")
        old_role = locked.role
        locked.role, locked.updated_at = role, timezone.now()
        locked.save(update_fields=["role", "updated_at"])
        audit.record(
            action=Action.SHARING_SHARE_UPDATE,
            actor=actor,
            target_type="sharing.share",
            target_id=share.pk,
            details={
                "item_type": _item_type(share_item(share)),
                "item": share_item(share).pk,
                "old_role": old_role,
                "role": role,
                **_recipient_details(share),
            },
        )
    share.role, share.updated_at = locked.role, locked.updated_at
    return share


def share_delete(*, actor: User, share: Share) -> None:
    """Remove a share: access through it stops with the commit."""
    guard = _actor_still_active_check(
        actor=actor, action=Action.SHARING_SHARE_DELETE, item=share_item(share)
    )
    with guard.locked_transaction():
        deleted, _details = Share.objects.filter(pk=share.pk).delete()
        if not deleted:
            raise FileNotFoundForActor(f"sharing.share {share.pk}")
        audit.record(
            action=Action.SHARING_SHARE_DELETE,
            actor=actor,
            target_type="sharing.share",
            target_id=share.pk,
            details={
                "item_type": _item_type(share_item(share)),
                "item": share_item(share).pk,
                "role": share.role,
                **_recipient_details(share),
            },
        )


def _shares_remove(*, shares: QuerySet[Share], actor: User | None, reason: str) -> int:
    """Remove ``shares`` (caller's transaction), one ``sharing.share.delete`` each."""
    removed = 0
    for share in shares.select_related("user", "team").select_for_update(of=("self",)):
        audit.record(
            action=Action.SHARING_SHARE_DELETE,
            actor=actor,
            actor_label="" if actor else "system",
            target_type="sharing.share",
            target_id=share.pk,
            details={
                "item_type": "file" if share.file_id else "folder",
                "item": share.file_id or share.folder_id,
                "role": share.role,
                "reason": reason,
                **_recipient_details(share),
            },
        )
        share.delete()
        removed += 1
    return removed


def shares_received_in_words(*, user: User, **_kwargs: object) -> list[str]:
    """``accounts.roles.content_access_listed``: the files and folders shared with
    ``user`` by name, and the file requests still bringing outsiders' files into their
    personal space, which an auditor may not hold: she closes them herself first. A
    request into a team's folder is left out: while she is in the team the membership
    holds the grant back, and once she left it she can no longer see or close it, so
    the grant closes it (``sharing.services.auditor_grant``) instead of waiting for
    ever."""
    from sharing.services.auditor_grant import personal_space_id
    from sharing.services.file_requests import file_requests_open_of_owner

    lines = []
    count = Share.objects.filter(user=user).count()
    if count:
        lines.append(
            ngettext(
                "%(count)s file or folder shared with them",
                "%(count)s files or folders shared with them",
                count,
            )
            % {"count": count}
        )
    requests = (
        file_requests_open_of_owner(owner=user)
        .filter(folder__space_id=personal_space_id(user))
        .count()
    )
    if requests:
        lines.append(
            ngettext(
                "%(count)s open file request (close it first)",
                "%(count)s open file requests (close them first)",
                requests,
            )
            % {"count": requests}
        )
    return lines


def shares_remove_for_leaver(
    *, user: User, actor: User | None, ids: list[int] | None = None
) -> int:
    """Offboarding: the shares made *to* the leaver stop (caller's transaction), or only
    those of ``ids`` among them (the offboarding plan's). One audit event each."""
    shares = Share.objects.filter(user=user)
    if ids is not None:
        shares = shares.filter(pk__in=ids)
    return _shares_remove(shares=shares.order_by("pk"), actor=actor, reason="offboarding")


def shares_end_through_team(
    sender: object, *, team: Team, user: User, actor: User | None, reason: str, **kwargs: object
) -> dict[str, object]:
    """``accounts.services.team_membership_ended`` receiver: a person who leaves a team
    keeps no share of the team space's files or folders made to them by name, even
    one made before they joined (while a member it added nothing, so nobody saw it;
    after, it would quietly keep them in). Shares to teams they still belong to are
    the team's, not theirs, and stay."""
    held = shares_held_through_team(team=team, user=user)
    return {"shares_ended": _shares_remove(shares=held, actor=actor, reason=str(reason))}


def shares_held_through_team(*, team: Team, user: User) -> QuerySet[Share]:
    """The shares of ``team``'s space made to ``user`` by name: what leaving the team
    ends (``shares_end_through_team``) and what its confirmation names beforehand
    (``shares_through_team_planned``)."""
    from files.models import Space, SpaceKind

    space = Space.objects.filter(kind=SpaceKind.TEAM, team=team).first()
    if space is None:
        return Share.objects.none()
    return Share.objects.filter(Q(file__space=space) | Q(folder__space=space), user=user).order_by(
        "pk"
    )


def shares_through_team_planned(
    sender: object, *, team: Team, user: User, **kwargs: object
) -> TeamLeaveLoss:
    """``accounts.team_leave_preview.team_leave_planned`` receiver: the dry run of
    ``shares_end_through_team``, each share named by its file or folder."""
    from sharing.services.withdrawals import item_name

    held = shares_held_through_team(team=team, user=user).select_related(
        "file__space__team", "folder__space__team"
    )
    names = [item_name(item) for share in held if (item := share.file or share.folder)]
    return TeamLeaveLoss(shares_ended=tuple(names))


# --- E-mail -----------------------------------------------------------------------------


SHARE_RECEIVED_SUBJECT = gettext_lazy("%(name)s shared something with you on SecureDrive")


def share_received_notify(*, share_id: int, language: str | None = None) -> int:
    """E-mail each person a new share reaches (the person, or the team's active members
    but the sharer). Runs after commit; returns how many were sent.

    The item's name is not in the message: file names in healthcare often name a
    patient, and e-mail leaves the drive's protection. The link leads to the item after
    sign-in.
    """
    share = (
        Share.objects.select_related("file", "folder", "user", "team", "created_by")
        .filter(pk=share_id)
        .first()
    )
    if share is None:
        return 0
    if share.user is not None:
        people = [share.user] if share.user.is_active else []
    else:
        assert share.team is not None  # noqa: S101
        people = list(
            User.objects.filter(is_active=True, memberships__team=share.team)
            .exclude(pk=share.created_by_id or 0)
            .distinct()
        )
    sharer = share.created_by
    sharer_name = sharer.get_full_name() if sharer is not None else ""
    path = (
        reverse("files:file", args=[share.file_id])
        if share.file_id
        else reverse("files:folder", args=[share.folder_id])
    )
    context = {
        "sharer_name": sharer_name,
        "is_file": share.file_id is not None,
        "role": share.role,
        "team_name": share.team.name if share.team is not None else "",
        "item_url": f"{settings.SITE_URL}{path}",
        "shared_with_me_url": f"{settings.SITE_URL}{reverse('sharing:shared_with_me')}",
    }
    for person in people:
        # The recipient's language when SecureDrive knows it, else the sharer's.
        person_language = person.language or language or settings.LANGUAGE_CODE
        with translation.override(person_language):
            subject = str(SHARE_RECEIVED_SUBJECT) % {"name": sharer_name}
        email_send(
            to=person.email,
            subject=subject,
            template="share_received",
            context={**context, "recipient_name": person.get_full_name()},
            language=person_language,
        )
    return len(people)
