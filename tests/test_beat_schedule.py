"""Periodic tasks are one table (settings.BEAT_TASKS), each naming a task that exists."""

from __future__ import annotations

import subprocess
from pathlib import Path

from django.conf import settings

from securedrive.celery import app

ROOT = Path(__file__).resolve().parent.parent


def test_every_periodic_task_names_a_registered_task() -> None:
    app.loader.import_default_modules()
    names = [name for name, _task, _every, _kwargs in settings.BEAT_TASKS]
    assert len(names) == len(set(names))
    assert [task for _name, task, _every, _kw in settings.BEAT_TASKS if task not in app.tasks] == []
    assert set(settings.CELERY_BEAT_SCHEDULE) == set(names)


def test_the_schedule_is_built_in_one_place() -> None:
    assigned = subprocess.run(
        ["git", "grep", "-n", "CELERY_BEAT_SCHEDULE\\[", "--", "*.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert assigned == []
