from django.apps import AppConfig


class SsoConfig(AppConfig):
    """Signing in with the organisation's identity providers (OpenID Connect).

    It sits above accounts (sso → accounts → audit): it links a provider's subject to an
    account and then signs that account in the way accounts does; accounts imports
    nothing from it.
    """

    name = "sso"
    verbose_name = "Single sign-on"

    def ready(self) -> None:
        from accounts.address_change import user_address_changed
        from accounts.offboarding import offboarding_planned
        from sso import signals  # noqa: F401  (connects the receivers)
        from sso.account_link import (
            account_links_offboarding_plan,
            account_links_revoke_on_address_change,
        )

        # A link sent before a departure must not open the account after a reactivation;
        # a step of the plan, so that the preview and the report name it.
        offboarding_planned.connect(
            account_links_offboarding_plan, dispatch_uid="sso.account_links_offboarding_plan"
        )
        # And one sent to an address that is no longer the person's (accounts/address_change.py).
        user_address_changed.connect(
            account_links_revoke_on_address_change,
            dispatch_uid="sso.account_links_revoke_on_address_change",
        )
