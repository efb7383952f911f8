from django.apps import AppConfig


class SecureDriveConfig(AppConfig):
    name = "securedrive"
    verbose_name = "SecureDrive"

    def ready(self) -> None:
        from securedrive import checks  # noqa: F401  (registers the database role check)
