"""The Celery application. Tasks carry ids, never bytes or secrets (JSON only)."""

from __future__ import annotations

import os

from celery import Celery

from securedrive import redis_transport

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "securedrive.settings")
# A Redis restart must not kill the worker (celery/kombu 5.7.0 bug, see the module).
redis_transport.register()

app = Celery("securedrive")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _broker_folders_create(sender: Celery, **kwargs: object) -> None:
    """The embedded folder broker needs its folders before the first message."""
    from pathlib import Path

    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if key in options:
            Path(options[key]).mkdir(mode=0o700, parents=True, exist_ok=True)
