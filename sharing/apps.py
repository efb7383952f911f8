from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "sharing"
    verbose_name = "Sharing"

    def ready(self) -> None:
        from accounts.offboarding import offboarding_planned
        from audit import resolvers
        from sharing.audit_lookups import access_now, channels_lookup
        from sharing.services.offboarding import (
            shares_received_offboarding_plan,
            sharing_offboarding_plan,
        )

        # A leaver's links, transfers and file requests stop in the same transaction,
        # and the shares made to them are removed: two steps of the offboarding plan.
        offboarding_planned.connect(
            sharing_offboarding_plan, dispatch_uid="sharing.sharing_offboarding_plan"
        )
        offboarding_planned.connect(
            shares_received_offboarding_plan,
            dispatch_uid="sharing.shares_received_offboarding_plan",
        )
        # The audit console names the links and transfers outside people used.
        resolvers.register(channels=channels_lookup, access_now=access_now)
