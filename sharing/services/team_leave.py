"""What a person opened to outsiders on a team's files ends when she leaves the team.

Only the people of a space may open its files to outsiders
(``files.selectors.sharing_refusal``). Once she leaves a team (removed by a manager or an
administrator, leaving herself, revoked in an access review, or dropped from the group
by the directory: every way goes through ``accounts.services.team_member_remove``),
the links she made to the team's files and folders, her transfers (sent) holding any
of its files and her file requests into its folders were refused at each request, one
differently from the other (a transfer emptied of its files, an upload still taken),
never marked withdrawn, and nobody was told. In the removal's transaction
(``accounts.services.team_membership_ended``) each is withdrawn as at the auditor
grant (``sharing.services.withdrawals``), audited with reason ``LEFT_THE_TEAM``, the
team and who removed her; she is told by e-mail in her language, since she alone knows
whom to warn. What she opened on her personal space or another team's is untouched.

Still in the team (the membership back, or never gone): nothing is withdrawn. A share
of the team's files she still receives (through another team she belongs to; those
made to her by name end with the membership, ``shares_end_through_team``) keeps
nothing standing either: a share lends access, not custody, and its receiver may not
pass the files on (``sharing_refusal``), so the links would be refused at each request
anyway; withdrawing them says so, once, where everyone can see it.

A link, a transfer sent or a file request made at the very instant of the removal
would have been checked against a membership not yet deleted and committed after the
withdrawal ran, escaping it. Each such write locks her memberships after her row
(``team_left_meanwhile``; the removal locks the membership it deletes): either it
commits first and the removal withdraws it, or it waits and is refused (409, "You are
no longer a member of …"; a transfer is sent without the team's files, as any draft
sent after leaving).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Team, TeamMembership, User
from accounts.roles import Withdrawn
from accounts.services import LEFT_THE_TEAM, team_memberships_lock
from accounts.team_leave_preview import TeamLeaveLoss
from files.models import File, Folder, Space, SpaceKind
from sharing.services.withdrawals import Opened, SpaceScope, opened_to_outsiders

# How many file names of one transfer the e-mail lists (as the other withdrawal notices).
NAMES_LISTED = 20

TEAM_LEFT_WITHDRAWN_SUBJECT = gettext_lazy(
    "SecureDrive: what you had opened to outsiders on %(team)s was withdrawn"
)


# The audit's rule for a link or a file request refused because its creator's membership
# of the team holding the item ended while the write waited for it.
TEAM_LEFT = "team_left"


def team_left_meanwhile(*, actor: User, item: File | Folder) -> Team | None:
    """Inside a write opening ``item`` to outsiders, after her row is locked: lock her
    memberships (``accounts.services.team_memberships_lock``) and return the team whose
    space holds ``item`` if she is no longer of it, read under the lock; ``None``
    otherwise (still a member, or a personal space)."""
    space = item.space
    if space.kind != SpaceKind.TEAM or space.team_id is None:
        return None  # a personal space stays its owner's: no membership to lose
    if space.team_id in team_memberships_lock(user=actor):
        return None
    return Team.objects.filter(pk=space.team_id).first()


def team_left_meanwhile_message(team_name: str) -> str:
    return _(
        "You are no longer a member of %(team)s: it ended while you were sharing, and "
        "nothing was opened to people outside. Ask a member of the team."
    ) % {"team": team_name}


def _remover(*, user: User, actor: User | None, actor_label: str) -> str:
    """Who ended the membership, as the log and the e-mail name them; "" when she left
    herself."""
    if actor is None:
        return actor_label
    if actor.pk == user.pk:
        return ""
    return actor.get_full_name() or actor.email


def opened_on_team_withdraw(
    sender: object,
    *,
    team: Team,
    user: User,
    actor: User | None,
    reason: str,
    actor_label: str = "",
    **kwargs: object,
) -> dict[str, object]:
    """``accounts.services.team_membership_ended`` receiver: withdraw what ``user``
    opened to outsiders on ``team``'s space, in the removal's transaction (the
    membership row is locked and deleted; then these rows). Returns the counts kept in
    the removal's audit event."""
    if TeamMembership.objects.filter(team=team, user=user).exists():
        return {}
    opened = opened_on_team(user, team, lock=True)
    if not opened:
        return {}
    removed_by = _remover(user=user, actor=actor, actor_label=actor_label)
    return opened_on_team_withdraw_and_tell(
        opened,
        team=team,
        actor=actor,
        actor_label=actor_label,
        why={
            "reason": LEFT_THE_TEAM,
            "membership_end": str(reason),
            **({"removed_by": removed_by} if removed_by else {}),
        },
        removed_by=removed_by,
        by_directory=actor is None and actor_label.startswith("directory"),
    )


def opened_on_team(user: User, team: Team, *, lock: bool) -> Opened:
    """What ``user`` opened to outsiders on ``team``'s space, still live (nothing when
    the team has no space). ``lock``: in the caller's transaction, after her
    membership's (or her own) row."""
    space = Space.objects.filter(kind=SpaceKind.TEAM, team=team).first()
    if space is None:
        return Opened(user=user)
    # A draft transfer reaches nobody yet: sending it later leaves the team's files out,
    # named in the send's audit event (sharing.services.transfers), and sends the rest.
    return opened_to_outsiders(user, scope=SpaceScope.only(space.pk), drafts=False, lock=lock)


def opened_on_team_withdraw_and_tell(
    opened: Opened,
    *,
    team: Team,
    actor: User | None,
    actor_label: str,
    why: Mapping[str, Any],
    removed_by: str = "",
    by_directory: bool = False,
    tell: bool = True,
) -> dict[str, object]:
    """Withdraw ``opened`` (found by ``opened_on_team``, locked) in the caller's
    transaction, each audited with ``why`` and the team; ``tell``: she is e-mailed the
    list in her language after commit. Returns the counts, named as the removal's
    audit event keeps them. Used by a removal and by the operator's backfill of older
    ones (``sharing.services.withdrawals_backfill``)."""
    counts = opened.withdraw(actor=actor, actor_label=actor_label, why={"team": team.name, **why})
    if tell:
        user_id, team_name, withdrawn = opened.user.pk, team.name, opened.in_words()
        transaction.on_commit(
            lambda: team_left_withdrawn_notice_send(
                user_id=user_id,
                team_name=team_name,
                removed_by=removed_by,
                by_directory=by_directory,
                withdrawn=withdrawn,
            ),
            robust=True,
        )
    return {
        "links_withdrawn": counts["links"],
        "transfers_withdrawn": counts["transfers"],
        "file_requests_closed": counts["file_requests"],
    }


def withdrawn_items(withdrawn: list[Withdrawn]) -> list[dict[str, Any]]:
    return [
        {
            "is_transfer": item.kind == "transfer",
            "is_file_request": item.kind == "file_request",
            "name": item.name,
            "files": list(item.files[:NAMES_LISTED]),
            "more": max(0, len(item.files) - NAMES_LISTED),
        }
        for item in withdrawn
    ]


def team_left_withdrawn_notice_send(
    *,
    user_id: int,
    team_name: str,
    removed_by: str,
    by_directory: bool,
    withdrawn: list[Withdrawn],
) -> bool:
    """Tell the person, in her language, what leaving ``team_name`` withdrew. Runs after
    commit; nothing for an account deactivated meanwhile (offboarding tells its own)."""
    from sharing.services.emails import email_send

    person = User.objects.filter(pk=user_id, is_active=True).first()
    if person is None or not withdrawn:
        return False
    language = person.email_language
    with translation.override(language):
        subject = str(TEAM_LEFT_WITHDRAWN_SUBJECT) % {"team": team_name}
    email_send(
        to=person.email,
        subject=subject,
        template="team_left_withdrawn",
        context={
            "person_name": person.get_full_name() or person.email,
            "team_name": team_name,
            "removed_by": "" if by_directory else removed_by,
            "by_directory": by_directory,
            "withdrawn": withdrawn_items(withdrawn),
        },
        language=language,
    )
    return True


def opened_on_team_planned(
    sender: object, *, team: Team, user: User, **kwargs: object
) -> TeamLeaveLoss:
    """``accounts.team_leave_preview.team_leave_planned`` receiver: the dry run of
    ``opened_on_team_withdraw`` (the same finder, ``opened_on_team``), named for the
    confirmation before anyone removes her. Nothing is locked."""
    return TeamLeaveLoss(withdrawn=tuple(opened_on_team(user, team, lock=False).in_words()))
