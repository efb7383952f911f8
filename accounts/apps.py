from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import signals  # noqa: F401  (connects audit receivers)
        from accounts.audit_lookups import people_lookup, people_search
        from audit import resolvers

        # The audit console names people; audit imports no app (audit/resolvers.py).
        resolvers.register(people=people_lookup, people_search=people_search)
        # Authenticator apps' secrets are wrapped by the keyring too, and recovery codes
        # are hashed under one of its keys (core/keys.py, accounts/key_dependents.py).
        from accounts import key_dependents
        from core.keys import kek_dependents_register, kek_users_register

        kek_users_register(_authenticator_app_kek_ids)
        kek_users_register(key_dependents.recovery_code_kek_ids)
        kek_dependents_register(key_dependents.AuthenticatorAppSecrets())
        kek_dependents_register(key_dependents.RecoveryCodes())


def _authenticator_app_kek_ids() -> set[str]:
    from accounts.totp import AuthenticatorApp

    return set(AuthenticatorApp.objects.values_list("kek_id", flat=True).distinct())
