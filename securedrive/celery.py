"""The Celery application. Tasks carry ids, never bytes or secrets (JSON only)."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import beat_init, worker_init

from securedrive import broker, redis_transport

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "securedrive.settings")
# The embedded broker (sqlite-broker://, securedrive/broker.py).
broker.register()
# A Redis restart must not kill the worker (celery/kombu 5.7.0 bug, see the module).
redis_transport.register()

app = Celery("securedrive")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@beat_init.connect
def _database_role_check(**kwargs: object) -> None:
    """Production workers and beat refuse a database role that could switch the audit
    trigger off (securedrive/database_roles.py), as the web process does."""
    import django
    from django.apps import apps
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    if not apps.ready:
        django.setup()
    if not settings.PRODUCTION:
        return
    from securedrive.database_roles import production_start_refuse_unsafe

    try:
        production_start_refuse_unsafe()
    except ImproperlyConfigured as error:
        # Celery logs and swallows exceptions raised by signal receivers: exit instead.
        raise SystemExit(f"{error}") from error
