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
        from accounts.offboarding import user_deactivated
        from sso import signals  # noqa: F401  (connects the receivers)
        from sso.account_link import account_links_revoke_for_leaver

        # A link sent before a departure must not open the account after a reactivation.
        user_deactivated.connect(
            account_links_revoke_for_leaver, dispatch_uid="sso.account_links_revoke_for_leaver"
        )
