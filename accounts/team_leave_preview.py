"""What ending a team membership takes away, named before anyone confirms it.

Whoever removes a person from a team (team page, access review) confirms an act that
cannot be undone: adding her back restores neither the shares made to her by name nor
what she had opened to outsiders. The confirmation names them, read from the same
functions that end them (``accounts.services.team_member_remove`` and the receivers of
its ``team_membership_ended`` signal): each receiver of ``team_leave_planned`` is the
dry run of one of them. accounts does not import sharing, hence the signal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.dispatch import Signal

from accounts.models import Team, TeamMembership, User
from accounts.roles import Withdrawn
from core.bounded import bounded


@dataclass(frozen=True)
class TeamLeaveLoss:
    """One receiver's part: the items of the team's space shared with her by name that
    stop being shared (their names), and what she opened to outsiders on the team's
    files that is withdrawn."""

    shares_ended: tuple[str, ...] = ()
    withdrawn: tuple[Withdrawn, ...] = ()


# Sent with team= and user= (still a member); each receiver returns a ``TeamLeaveLoss``,
# the dry run of its ``team_membership_ended`` counterpart. Nothing is locked or changed.
team_leave_planned = Signal()


@dataclass
class TeamLeavePreview:
    """What removing ``person`` from ``team`` takes away, as the confirmation names it."""

    person: str
    team: str
    shares_ended: list[str] = field(default_factory=list)
    withdrawn: list[Withdrawn] = field(default_factory=list)

    def as_context(self) -> dict[str, object]:
        """For ``accounts/admin/_team_leave_preview.html``: long lists bounded."""
        return {
            "leave": self,
            "shares_ended": bounded(self.shares_ended),
            "withdrawn": bounded(self.withdrawn),
        }


def team_leave_preview(*, team: Team, user: User) -> TeamLeavePreview:
    preview = TeamLeavePreview(person=user.get_full_name() or user.email, team=team.name)
    for _receiver, loss in team_leave_planned.send(sender=TeamMembership, team=team, user=user):
        if isinstance(loss, TeamLeaveLoss):
            preview.shares_ended.extend(loss.shares_ended)
            preview.withdrawn.extend(loss.withdrawn)
    return preview
