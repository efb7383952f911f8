from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "sharing"
    verbose_name = "Sharing"

    def ready(self) -> None:
        from accounts.offboarding import user_deactivated
        from audit import resolvers
        from sharing.audit_lookups import access_now, channels_lookup
        from sharing.services.offboarding import sharing_revoke_for_leaver

        # A leaver's links, transfers and file requests stop in the same transaction.
        user_deactivated.connect(
            sharing_revoke_for_leaver, dispatch_uid="sharing.sharing_revoke_for_leaver"
        )
        # The audit console names the links and transfers outside people used.
        resolvers.register(channels=channels_lookup, access_now=access_now)
