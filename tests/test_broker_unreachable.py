"""A hung Redis must not hold the site: enqueueing a task gives up within seconds.

Redis is also the Celery broker. A broker that accepts the connection and then never
answers (a stuck server, a half-open path after a failover) used to hold every request
that enqueues a task for ever: kombu waits without a timeout by default. An upload's
last PATCH, a share or a deactivation enqueue one after their commit. With the
configured timeout (``SECUREDRIVE_BROKER_TIMEOUT_S``, 2 s) and one retry, the enqueue
fails within seconds with kombu's ``OperationalError``, which the callers' robust
``on_commit`` logs, and the request goes on (the sweeper enqueues the finalisation
again later).

As tests/test_cache_unreachable.py does, the enqueue runs in a process of its own with
the settings an operator's environment gives, against a real silent TCP listener.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from tests.conftest import PASSWORD, user_create
from tests.helpers import client_signed_in, totp_device_confirmed
from tests.test_cache_unreachable import hung_redis  # noqa: F401  (fixture)
from tests.test_health import closed_port

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import time, django
django.setup()
from files import tasks
started = time.monotonic()
try:
    tasks.version_finalize.delay(1)
    print("sent")
except Exception as error:
    print("refused", type(error).__module__ + "." + type(error).__name__)
print("enqueue", round(time.monotonic() - started, 1))
"""


def test_a_hung_broker_fails_an_enqueue_within_seconds_instead_of_hanging(
    hung_redis: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SECUREDRIVE_") and key != "DJANGO_SETTINGS_MODULE"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="securedrive.settings",
        SECUREDRIVE_DATA_DIR=str(tmp_path),
        SECUREDRIVE_REDIS_URL=hung_redis,
    )
    started = time.monotonic()
    try:
        answer = subprocess.run(
            [sys.executable, "-c", PROBE],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"still enqueueing on the hung broker after {time.monotonic() - started:.0f} s")
    assert answer.returncode == 0, answer.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in answer.stdout.splitlines() if " " in line)
    # The error the callers' on_commit(robust=True) catches and logs: the request goes on.
    assert lines["refused"] == "kombu.exceptions.OperationalError"
    # Two attempts of the configured 2 s, not kombu's default of waiting for ever.
    assert float(lines["enqueue"]) < 10


def broker_down(celery_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real Celery app, sending to a Redis that is down (as tests/test_health.py
    does), through connection and producer pools made for it alone (the ones cached by
    earlier tests would still point at the suite's broker)."""
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    monkeypatch.setitem(celery_app.conf, "broker_url", f"redis://127.0.0.1:{closed_port()}/0")
    monkeypatch.setattr(celery_app, "_pool", None)
    monkeypatch.setattr(celery_app.amqp, "_producer_pool", None)


@pytest.mark.django_db(transaction=True)
def test_signing_in_from_a_new_device_with_the_broker_down_still_signs_in(
    owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alice signs in from a new ward PC while Redis is down. The e-mail telling her of
    the new device is a task, enqueued after the sign-in commits; the enqueue failed
    and, unlike every other enqueue, was not guarded: the sign-in ended on an error
    page. Now the failure is logged and she goes on to her second factor (the e-mail is
    lost, as any task is while the broker is down)."""
    from securedrive.celery import app as celery_app

    client_signed_in(owner, user_agent="Firefox/140 (office PC)")  # an earlier device
    totp_device_confirmed(owner)
    broker_down(celery_app, monkeypatch)

    response = Client().post(
        "/accounts/login/",
        {"username": owner.email, "password": PASSWORD},
        HTTP_USER_AGENT="Firefox/140 (ward PC 12)",
        REMOTE_ADDR="10.1.2.3",
    )

    assert response.status_code == 302  # on to the second factor, not an error page
    assert AuditEvent.objects.filter(action=Action.ACCOUNTS_LOGIN).count() == 2


@pytest.mark.django_db(transaction=True)
def test_an_auditor_asking_for_a_verification_with_the_broker_down_is_told_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ "Verify now" enqueues the verification. With Redis down the enqueue raised out of
    the view: an error page. Now the auditor is told the request could not be queued,
    and the log says so."""
    from securedrive.celery import app as celery_app

    auditor = user_create("ines.audit@hopital.example", full_name="Inès Audit", is_auditor=True)
    client = client_signed_in(auditor)
    broker_down(celery_app, monkeypatch)

    response = client.post("/audit/integrity/verify/", {"confirm": "on"})

    assert response.status_code == 302
    page = client.get("/audit/integrity/").content.decode()
    assert "could not be requested" in page
    failed = AuditEvent.objects.get(action=Action.AUDIT_VERIFICATION_REQUEST, outcome="error")
    assert failed.details == {"full": False, "reason": "task queue unreachable"}
