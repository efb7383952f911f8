"""Who receives a leaver's personal files when the directory deactivates them.

The rule is the token's (an administrator chooses it when creating the token; default:
the manager of the person's team, ``SuccessorRule``). In order:

1. a successor an administrator named for the departure still scheduled — a person
   chose (one named for a departure since cancelled, or for an earlier departure before
   a return, is not: files would go to whoever was right then);
2. the rule: the manager of one of the person's teams (teams by name, the first active
   manager who may hold files), a named account, or the token's creator;
3. nobody: the files stay, unreachable, for the retention period.

"May hold files" is ``accounts.offboarding.successor_candidates``: active, not the
leaver, never an auditor; and never the token's creator (nobody names themselves).
"""

from __future__ import annotations

from accounts.models import TeamMembership, TeamRole, User
from accounts.offboarding import successor_candidates
from directory.models import DirectoryToken, SuccessorRule


def successor_for(*, user: User, token: DirectoryToken) -> User | None:
    # Never the token's creator, whatever the rule (tokens made before the rule said
    # "token_creator", or named their creator; a creator who manages the team): an
    # administrator deactivating someone through their own token would otherwise
    # receive, and read, that person's files. Nobody grants themselves anything.
    eligible = successor_candidates(leaver=user).exclude(pk=token.created_by_id)
    if (
        user.departure_scheduled_for is not None
        and user.files_successor_id
        and eligible.filter(pk=user.files_successor_id).exists()
    ):
        chosen_by_admin: User = eligible.get(pk=user.files_successor_id)
        return chosen_by_admin
    if token.successor_rule == SuccessorRule.TEAM_MANAGER:
        manager = (
            TeamMembership.objects.filter(
                team__memberships__user=user,
                role=TeamRole.MANAGER,
                user__in=eligible,
            )
            .order_by("team__name", "user__email")
            .select_related("user")
            .first()
        )
        return manager.user if manager else None
    if token.successor_rule == SuccessorRule.NAMED:
        chosen = token.successor_id
    else:
        chosen = token.created_by_id
    return eligible.filter(pk=chosen).first() if chosen else None
