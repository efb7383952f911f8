"""The Celery application. Tasks carry ids, never bytes or secrets (JSON only)."""

from __future__ import annotations

import os

from celery import Celery

from securedrive import broker

broker.register()

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "securedrive.settings")

app = Celery("securedrive")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
