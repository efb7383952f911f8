"""SecureDrive project package: settings, URLs, Celery app, WSGI entry point."""

from securedrive.celery import app as celery_app

__all__ = ["celery_app"]
