"""What ending a team membership takes away, named before anyone confirms it.

Whoever removes a person from a team (team page, access review) confirms an act that
cannot be undone: adding her back restores neither the shares made to her by name nor
what she had opened to outsiders. The confirmation names them, read from the same
functions that end them (``accounts.services.team_member_remove`` and the receivers of
its ``team_membership_ended`` signal): each receiver of ``team_leave_planned`` is the
dry run of one of them. accounts does not import sharing, hence the signal.

File names are health data ("CR Dupont.pdf"): the names are for the team's own
managers, who answer for its files. A site administrator who is not one manages the
membership, never the content (separation of duties, docs/accounts.md): he reads how
many of each kind end, not what they are (``as_context(names_shown=False)``).

The page carries the list's digest (``PREVIEW_DIGEST_FIELD``); a confirmation whose
list has changed since (she opened another link meanwhile) ends nothing and shows the
new list (``preview_unchanged``), as the offboarding plan's digest does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from django.dispatch import Signal
from django.utils.translation import gettext_lazy

from accounts.models import Team, TeamMembership, TeamRole, User
from accounts.roles import Withdrawn, withdrawn_kinds
from core.bounded import bounded


@dataclass(frozen=True)
class TeamLeaveLoss:
    """One receiver's part: the items of the team's space shared with her by name that
    stop being shared (their names), and what she opened to outsiders on the team's
    files that is withdrawn."""

    shares_ended: tuple[str, ...] = ()
    withdrawn: tuple[Withdrawn, ...] = ()


# The confirmation form's field carrying the digest of the list it showed.
PREVIEW_DIGEST_FIELD = "preview_digest"
LIST_CHANGED_MESSAGE = gettext_lazy(
    "Something changed since you looked: check the new list, then confirm."
)

# Sent with team= and user= (still a member); each receiver returns a ``TeamLeaveLoss``,
# the dry run of its ``team_membership_ended`` counterpart. Nothing is locked or changed.
team_leave_planned = Signal()


@dataclass
class TeamLeavePreview:
    """What removing ``person`` from ``team`` takes away, as the confirmation names it."""

    person: str
    team: str
    # She is its only active manager: nobody will manage it, and no access review opens
    # for a team without a manager (reviews app). Said, not refused (as offboarding).
    last_manager: bool = False
    shares_ended: list[str] = field(default_factory=list)
    withdrawn: list[Withdrawn] = field(default_factory=list)

    def digest(self) -> str:
        """What the confirming person read, in 64 characters."""
        shown = {
            "shares_ended": self.shares_ended,
            "withdrawn": [item.as_details() for item in self.withdrawn],
        }
        text = json.dumps(shown, sort_keys=True, ensure_ascii=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def preview_unchanged(self, posted: str | None) -> bool:
        """Whether the list the person confirmed is still this one. A form without the
        field (a client that never showed a page) is not held back: the check guards
        what a person read, not who may act."""
        return not posted or posted == self.digest()

    def as_context(self, *, names_shown: bool) -> dict[str, object]:
        """For ``accounts/admin/_team_leave_preview.html``: long lists bounded. Without
        ``names_shown`` (a reader who is not one of the team's managers) the lists keep
        their counts and lose their names: how many links, transfers (and their files)
        and file requests, never which."""
        return {
            "leave": self,
            "names_shown": names_shown,
            "shares_ended": bounded(self.shares_ended if names_shown else []),
            "shares_ended_count": len(self.shares_ended),
            "withdrawn": bounded(self.withdrawn if names_shown else []),
            "withdrawn_count": len(self.withdrawn),
            "withdrawn_kinds": withdrawn_kinds(self.withdrawn),
        }


def team_leave_preview(*, team: Team, user: User) -> TeamLeavePreview:
    managers = TeamMembership.objects.filter(team=team, role=TeamRole.MANAGER, user__is_active=True)
    last_manager = managers.filter(user=user).exists() and not managers.exclude(user=user).exists()
    preview = TeamLeavePreview(
        person=user.get_full_name() or user.email, team=team.name, last_manager=last_manager
    )
    for _receiver, loss in team_leave_planned.send(sender=TeamMembership, team=team, user=user):
        if isinstance(loss, TeamLeaveLoss):
            preview.shares_ended.extend(loss.shares_ended)
            preview.withdrawn.extend(loss.withdrawn)
    return preview
