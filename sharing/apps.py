from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "sharing"
    verbose_name = "Sharing"

    def ready(self) -> None:
        from accounts.address_change import user_address_changed
        from accounts.offboarding import offboarding_planned
        from accounts.roles import auditor_grant_planned, content_access_listed
        from accounts.services import team_membership_ended
        from accounts.team_leave_preview import team_leave_planned
        from audit import resolvers
        from files.signals import (
            content_move_exposes,
            content_move_planned,
            content_moved_across_spaces,
        )
        from sharing.audit_lookups import access_now, channels_lookup
        from sharing.services.addressed_links import links_to_former_address_withdraw
        from sharing.services.auditor_grant import auditor_grant_plan
        from sharing.services.move_out import (
            links_reaching_destination_planned,
            opened_on_moved_planned,
            opened_on_moved_withdraw,
        )
        from sharing.services.offboarding import (
            links_to_leaver_offboarding_plan,
            shares_received_offboarding_plan,
            sharing_offboarding_plan,
        )
        from sharing.services.shares import (
            shares_end_through_team,
            shares_received_in_words,
            shares_through_team_planned,
        )
        from sharing.services.team_leave import opened_on_team_planned, opened_on_team_withdraw

        # A leaver's links, transfers and file requests stop in the same transaction,
        # and the shares made to them are removed: two steps of the offboarding plan.
        offboarding_planned.connect(
            sharing_offboarding_plan, dispatch_uid="sharing.sharing_offboarding_plan"
        )
        offboarding_planned.connect(
            shares_received_offboarding_plan,
            dispatch_uid="sharing.shares_received_offboarding_plan",
        )
        # What colleagues sent to the leaver's address (transfers, personal links) is
        # withdrawn too: whoever reads that mailbox after her departure opens nothing.
        offboarding_planned.connect(
            links_to_leaver_offboarding_plan,
            dispatch_uid="sharing.links_to_leaver_offboarding_plan",
        )
        # And when a person's address changes, what was sent to the former one: that
        # mailbox may now be someone else's (accounts/address_change.py).
        user_address_changed.connect(
            links_to_former_address_withdraw,
            dispatch_uid="sharing.links_to_former_address_withdraw",
        )
        # Whoever leaves a team (team page, access review, offboarding) keeps no share
        # of the team's files made to them by name.
        team_membership_ended.connect(
            shares_end_through_team, dispatch_uid="sharing.shares_end_through_team"
        )
        # Nor anything she opened to outsiders on the team's files: her links to them,
        # transfers holding them and file requests into its folders are withdrawn.
        team_membership_ended.connect(
            opened_on_team_withdraw, dispatch_uid="sharing.opened_on_team_withdraw"
        )
        # Both named, by their dry runs, on the confirmation before anyone removes her
        # (team page, access review).
        team_leave_planned.connect(
            shares_through_team_planned, dispatch_uid="sharing.shares_through_team_planned"
        )
        team_leave_planned.connect(
            opened_on_team_planned, dispatch_uid="sharing.opened_on_team_planned"
        )
        # And when a file or folder is moved into a space its creator is not of: what
        # she opened to outsiders on it is withdrawn in the move's transaction, and
        # named on the move's confirmation first.
        content_moved_across_spaces.connect(
            opened_on_moved_withdraw, dispatch_uid="sharing.opened_on_moved_withdraw"
        )
        content_move_planned.connect(
            opened_on_moved_planned, dispatch_uid="sharing.opened_on_moved_planned"
        )
        # Moving content into a folder that external links reach opens it to outsiders.
        content_move_exposes.connect(
            links_reaching_destination_planned,
            dispatch_uid="sharing.links_reaching_destination_planned",
        )
        # The auditor role is refused to someone others' files are shared with.
        content_access_listed.connect(
            shares_received_in_words, dispatch_uid="sharing.shares_received_in_words"
        )
        # What a new auditor opened to outsiders on colleagues' files is withdrawn in
        # the grant's transaction, and listed to the approver before she approves.
        auditor_grant_planned.connect(auditor_grant_plan, dispatch_uid="sharing.auditor_grant_plan")
        # The audit console names the links and transfers outside people used.
        resolvers.register(channels=channels_lookup, access_now=access_now)
