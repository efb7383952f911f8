from django.apps import AppConfig


class ImagingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "imaging"
    verbose_name = "Imaging"

    def ready(self) -> None:
        # A version made readable (clean scan verdict, or a copy of a clean one) is
        # indexed after its transaction commits: imaging listens, files knows nothing.
        from imaging import receivers  # noqa: F401
