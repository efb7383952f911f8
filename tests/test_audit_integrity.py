"""Integrity that is never "not verified yet" (issue #14, item 5).

Audrey (an auditor) opens the integrity page after a restart and sees when the log was
last verified, what that covered, and can ask for a verification now; Sam (a site
administrator without the auditor role) cannot. Monitoring sees a late verification.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import time_machine
from celery.signals import worker_ready
from django.test import Client
from django.utils import timezone

from accounts.models import User
from audit import services as audit
from audit.actions import Action
from audit.models import AuditEvent, ChainVerification
from audit.tasks import audit_log_verify_and_alert, checkpoint_write_due
from securedrive.heartbeat import worker_heartbeat_record
from tests.conftest import user_create
from tests.helpers import client_signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def auditor(db: None) -> User:
    return user_create(
        "audrey.auditor@hopital.example", full_name="Audrey Auditor", is_auditor=True
    )


@pytest.fixture(autouse=True)
def audit_folders(settings: Any, tmp_path: Path) -> None:
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.AUDIT_SIGNING_KEY_FILE = tmp_path / "secrets" / "audit_signing_key.pem"
    settings.AUDIT_CHECKPOINT_S3_BUCKET = ""


def sign_ins(person: User, count: int) -> None:
    for _ in range(count):
        audit.record(action=Action.ACCOUNTS_LOGIN, actor=person)


def test_a_worker_starting_verifies_the_log_at_once(owner: User) -> None:
    sign_ins(owner, 3)
    assert not ChainVerification.objects.exists()
    worker_ready.send(sender=None)
    verification = ChainVerification.objects.get()
    assert verification.intact
    assert verification.head_sequence == 3


def test_each_new_checkpoint_is_verified(owner: User) -> None:
    sign_ins(owner, 4)
    checkpoint_write_due.delay()
    verification = ChainVerification.objects.get()
    assert (verification.intact, verification.checkpoint_size) == (True, 4)
    checkpoint_write_due.delay()  # nothing new: no checkpoint, no second run
    assert ChainVerification.objects.count() == 1


def test_integrity_page_says_when_in_paris_time_and_what_was_covered(
    auditor: User, owner: User
) -> None:
    with time_machine.travel(dt.datetime(2026, 7, 14, 8, 5, tzinfo=dt.UTC), tick=False):
        sign_ins(owner, 5)
        audit_log_verify_and_alert.delay(full=True)
        page = client_signed_in(auditor).get("/audit/integrity/").content.decode()
    assert "2026-07-14 10:05:00 CEST" in page  # 08:05 UTC, summer time in Paris
    assert "5 events verified (#1 to #5)" in page
    assert "full run" in page
    assert "stale" not in page


def test_verify_now_asks_for_confirmation_and_is_audited(auditor: User, owner: User) -> None:
    sign_ins(owner, 2)
    client = client_signed_in(auditor)
    assert client.get("/audit/integrity/verify/").status_code == 405
    refused = client.post("/audit/integrity/verify/", {})
    assert refused.status_code == 400
    assert not ChainVerification.objects.exists()
    response = client.post("/audit/integrity/verify/", {"confirm": "on"})
    assert response.status_code == 302
    requested = AuditEvent.objects.get(action=Action.AUDIT_VERIFICATION_REQUEST)
    assert (requested.actor_id, requested.details) == (str(auditor.pk), {"full": False})
    verification = ChainVerification.objects.get()
    assert verification.intact
    assert verification.head_sequence == requested.sequence
    page = client.get("/audit/integrity/").content.decode()
    assert "Verification requested" in page


def test_only_auditors_may_ask_for_a_verification(site_admin: User, owner: User) -> None:
    response = client_signed_in(site_admin).post("/audit/integrity/verify/", {"confirm": "on"})
    assert response.status_code == 403
    assert not ChainVerification.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.AUDIT_VERIFICATION_REQUEST).exists()
    assert Client().post("/audit/integrity/verify/", {"confirm": "on"}).status_code == 302


def test_stale_verification_warns_on_the_page_and_on_healthz(
    auditor: User, owner: User, settings: Any
) -> None:
    settings.AUDIT_VERIFY_INTERVAL_S = 3600.0
    sign_ins(owner, 2)
    audit_log_verify_and_alert.delay()
    worker_heartbeat_record()
    fresh = Client().get("/healthz").json()["checks"]["audit_verification"]
    assert fresh["status"] == "ok"
    later = timezone.now() + dt.timedelta(hours=2, minutes=1)
    with time_machine.travel(later, tick=False):
        worker_heartbeat_record()
        health = Client().get("/healthz")
        page = client_signed_in(auditor).get("/audit/integrity/").content.decode()
    assert health.status_code == 200  # a warning, not an outage
    body = health.json()
    assert body["status"] == "degraded"
    assert body["checks"]["audit_verification"]["status"] == "warning"
    assert 'id="audit-verification-stale"' in page


def test_never_verified_is_a_warning_not_a_quiet_grey_box(auditor: User) -> None:
    worker_heartbeat_record()
    check = Client().get("/healthz").json()["checks"]["audit_verification"]
    assert check["status"] == "warning"
    page = client_signed_in(auditor).get("/audit/integrity/").content.decode()
    assert "No verification has run since start-up" in page
    assert "alert-warning" in page


def test_checkpoints_that_disappear_fail_the_verification(
    owner: User, settings: Any, mailoutbox: list[Any]
) -> None:
    """The checkpoint folder is wiped (a container recreated without a volume, or
    someone covering their tracks) and the newest events deleted. The chain alone would
    look intact; the run remembers the checkpoint it verified last and says they went."""
    from audit.checkpoints import audit_log_verify_and_alert as verify_and_alert
    from tests.test_audit_chain import tamper

    sign_ins(owner, 4)
    checkpoint_write_due.delay()
    assert ChainVerification.objects.get().checkpoint_size == 4
    for path in Path(settings.AUDIT_CHECKPOINT_DIR).iterdir():
        path.chmod(0o600)
        path.unlink()
    tamper("DELETE FROM audit_auditevent WHERE sequence > 2")

    verification = verify_and_alert(full=True)

    assert not verification.intact
    assert "signed checkpoints missing" in verification.message
    assert "4" in verification.message
