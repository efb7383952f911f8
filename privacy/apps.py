from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """GDPR duties across apps: a person's data export and the erasure of their content.

    It sits above sharing (sharing → files → accounts), because an export gathers all
    of them; nothing imports it.
    """

    name = "privacy"
    verbose_name = "Privacy"
