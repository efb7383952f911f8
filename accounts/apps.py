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
