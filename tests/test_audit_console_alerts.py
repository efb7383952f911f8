"""Alert rules: the beat task reads new events and tells admins and auditors what to look at.

Times are given to each event (``occurred_at``), not slept: a Tuesday morning in Paris
is working time, a Saturday night is not.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core import mail

from accounts.models import User
from audit import services as audit
from audit.actions import Action
from audit.context import RequestContext
from audit.models import AlertRule, AuditAlert, Outcome
from audit.tasks import alerts_evaluate
from tests.conftest import user_create
from tests.helpers import client_signed_in

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")
TUESDAY_MORNING = dt.datetime(2026, 11, 17, 10, 0, tzinfo=PARIS)
SATURDAY_NIGHT = dt.datetime(2026, 11, 21, 3, 0, tzinfo=PARIS)


@pytest.fixture
def auditor(db: None) -> User:
    return user_create(
        "audrey.auditor@hopital.example", full_name="Audrey Auditor", is_auditor=True
    )


@pytest.fixture(autouse=True)
def thresholds(settings: Any) -> None:
    settings.AUDIT_ALERT_DOWNLOADS_COUNT = 5
    settings.AUDIT_ALERT_DOWNLOADS_WINDOW_S = 600
    settings.AUDIT_ALERT_FAILED_LOGINS_COUNT = 5
    settings.AUDIT_ALERT_FAILED_LOGINS_WINDOW_S = 900
    settings.AUDIT_ALERT_WORKING_TIMEZONE = "Europe/Paris"
    settings.AUDIT_ALERT_WORKING_HOURS = (7, 20)


def downloads(person: User, start: dt.datetime, count: int, *, every_s: int = 60) -> None:
    for index in range(count):
        audit.record(
            action=Action.FILES_VERSION_DOWNLOAD,
            actor=person,
            target_type="files.version",
            target_id=100 + index,
            details={"file": 100 + index, "name": f"scan-{index}.pdf", "number": 1},
            occurred_at=start + dt.timedelta(seconds=every_s * index),
        )


def evaluate(capture: Any) -> list[AuditAlert]:
    before = set(AuditAlert.objects.values_list("pk", flat=True))
    with capture(execute=True):
        alerts_evaluate.delay()
    return list(AuditAlert.objects.exclude(pk__in=before).order_by("pk"))


def test_many_downloads_in_ten_minutes_alert_admins_and_auditors_once(
    owner: User, auditor: User, site_admin: User, django_capture_on_commit_callbacks: Any
) -> None:
    downloads(owner, TUESDAY_MORNING, 5)
    [alert] = evaluate(django_capture_on_commit_callbacks)
    assert (alert.rule, alert.subject, alert.event_count) == (
        AlertRule.MANY_DOWNLOADS,
        str(owner.pk),
        5,
    )
    assert owner.email in alert.summary
    by_reader = {tuple(message.to): message.body for message in mail.outbox}
    assert set(by_reader) == {(auditor.email,), (site_admin.email,)}
    body = by_reader[(auditor.email,)]
    # People and files by name, never an id (issue #14, item 7).
    assert (
        "many downloads in a short time: Alice Martin (alice.martin@hopital.example) "
        "downloaded 5 files in 10 minutes: “scan-0.pdf”, “scan-1.pdf”, “scan-2.pdf” "
        "and 2 more"
    ) in body
    assert "files.version" not in body
    assert f"user {owner.pk}" not in body
    # Sam, an administrator, acts on the account: who and how many, never which files
    # (patients' names are not his to read; the auditor reads them in the console).
    admin_body = by_reader[(site_admin.email,)]
    assert (
        "many downloads in a short time: Alice Martin (alice.martin@hopital.example) "
        "downloaded 5 files in 10 minutes\n"
    ) in admin_body
    assert "scan-" not in admin_body
    # The same burst goes on: no second alert for the same window; nothing re-read.
    downloads(owner, TUESDAY_MORNING + dt.timedelta(minutes=5), 2)
    assert evaluate(django_capture_on_commit_callbacks) == []
    assert evaluate(django_capture_on_commit_callbacks) == []


def test_alert_emails_go_out_in_each_readers_language(
    owner: User, auditor: User, site_admin: User, django_capture_on_commit_callbacks: Any
) -> None:
    User.objects.filter(pk=auditor.pk).update(language="fr")
    downloads(owner, TUESDAY_MORNING, 5)
    evaluate(django_capture_on_commit_callbacks)
    by_reader = {message.to[0]: message for message in mail.outbox}
    assert set(by_reader) == {auditor.email, site_admin.email}
    assert by_reader[auditor.email].subject == "[SecureDrive] 1 alerte d\u2019audit"
    french = by_reader[auditor.email].body
    assert "nombreux téléchargements en peu de temps\u00a0: Alice Martin" in french
    assert "a téléchargé 5 fichiers en 10 minutes" in french
    for english in ("downloaded", "files in", "minutes:", "Console:", "more"):
        assert english not in french, english
    assert by_reader[site_admin.email].subject == "[SecureDrive] 1 audit alert"
    assert "téléchargé" not in by_reader[site_admin.email].body


def test_a_few_downloads_spread_out_raise_nothing(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    downloads(owner, TUESDAY_MORNING, 6, every_s=300)
    assert evaluate(django_capture_on_commit_callbacks) == []
    assert mail.outbox == []


def test_downloads_outside_working_hours(
    owner: User, auditor: User, django_capture_on_commit_callbacks: Any
) -> None:
    downloads(owner, SATURDAY_NIGHT, 2)
    [alert] = evaluate(django_capture_on_commit_callbacks)
    assert alert.rule == AlertRule.OUTSIDE_HOURS
    assert "2 download(s) outside working hours" in alert.summary
    page = client_signed_in(auditor).get("/audit/alerts/").content.decode()
    assert (
        "Alice Martin (alice.martin@hopital.example) downloaded 2 files outside working "
        "hours (07:00 to 20:00, Europe/Paris, Monday to Friday): “scan-0.pdf”, “scan-1.pdf”"
    ) in page


def test_repeated_failed_sign_ins(auditor: User, django_capture_on_commit_callbacks: Any) -> None:
    for minute in range(5):
        audit.record(
            action=Action.ACCOUNTS_LOGIN,
            outcome=Outcome.DENIED,
            actor_label="alice.martin@hopital.example",
            details={"reason": "invalid credentials"},
            occurred_at=TUESDAY_MORNING + dt.timedelta(minutes=minute),
        )
    [alert] = evaluate(django_capture_on_commit_callbacks)
    assert (alert.rule, alert.subject) == (AlertRule.FAILED_LOGINS, "alice.martin@hopital.example")
    assert "5 failed sign-ins as alice.martin@hopital.example in 15 minutes" in mail.outbox[0].body


def test_failed_sign_ins_from_one_ipv6_network_are_told_as_one_address(
    auditor: User, django_capture_on_commit_callbacks: Any
) -> None:
    """One wrong password at each of five accounts, each from a new address of one /64:
    no account and no single address reached five, but the network did. The alert names
    the network; each event keeps its own address."""
    for minute in range(5):
        audit.record(
            action=Action.ACCOUNTS_LOGIN,
            outcome=Outcome.DENIED,
            actor_label=f"staff{minute}@hopital.example",
            details={"reason": "invalid credentials"},
            request=RequestContext(ip_address=f"2001:db8:66:1:{minute + 1:x}::9"),
            occurred_at=TUESDAY_MORNING + dt.timedelta(minutes=minute),
        )
    [alert] = evaluate(django_capture_on_commit_callbacks)
    assert (alert.rule, alert.subject) == (AlertRule.FAILED_LOGINS, "2001:db8:66:1::/64")
    assert alert.event_count == 5
    assert (
        "5 failed sign-ins from the network 2001:db8:66:1::/64 in 15 minutes" in mail.outbox[0].body
    )


def test_attempt_to_download_a_quarantined_file(
    owner: User, auditor: User, django_capture_on_commit_callbacks: Any
) -> None:
    audit.record(
        action=Action.FILES_VERSION_DOWNLOAD,
        outcome=Outcome.DENIED,
        actor=owner,
        target_type="files.version",
        target_id=9,
        details={"file": 3, "number": 1, "reason": "quarantined"},
        occurred_at=TUESDAY_MORNING,
    )
    [alert] = evaluate(django_capture_on_commit_callbacks)
    assert alert.rule == AlertRule.QUARANTINED_ACCESS
    assert "quarantined files.version 9" in alert.summary
    assert (
        "Alice Martin (alice.martin@hopital.example) tried to download a file: quarantined "
        "by the virus scanner"
    ) in mail.outbox[0].body


def test_attempt_to_download_a_file_blocked_by_the_scanning_policy(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    for target, reason in ((10, "blocked"), (11, "not_scanned_yet")):
        audit.record(
            action=Action.FILES_VERSION_DOWNLOAD,
            outcome=Outcome.DENIED,
            actor=owner,
            target_type="files.version",
            target_id=target,
            details={"file": 4, "number": 1, "reason": reason},
            occurred_at=TUESDAY_MORNING,
        )
    [alert] = evaluate(django_capture_on_commit_callbacks)
    assert alert.rule == AlertRule.QUARANTINED_ACCESS
    assert "blocked files.version 10" in alert.summary


def test_alerts_are_listed_for_auditors_only(
    owner: User, auditor: User, site_admin: User, django_capture_on_commit_callbacks: Any
) -> None:
    downloads(owner, SATURDAY_NIGHT, 1)
    [alert] = evaluate(django_capture_on_commit_callbacks)
    page = client_signed_in(auditor).get("/audit/alerts/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Alice Martin (alice.martin@hopital.example) downloaded 1 file outside" in text
    assert f"user {owner.pk}" not in text
    assert alert.summary not in text  # the stored English summary is for log forwarding
    assert client_signed_in(site_admin).get("/audit/alerts/").status_code == 403


def test_a_quarantine_alert_names_the_file_to_auditors_only(
    owner: User, auditor: User, site_admin: User, django_capture_on_commit_callbacks: Any
) -> None:
    audit.record(
        action=Action.FILES_VERSION_DOWNLOAD,
        outcome=Outcome.DENIED,
        actor=owner,
        target_type="files.version",
        target_id=9,
        details={
            "file": 3,
            "number": 1,
            "reason": "quarantined",
            "name": "Dupont Marie - echo.jpg",
            "path": "/Cardiologie/Dupont Marie - echo.jpg",
        },
        occurred_at=TUESDAY_MORNING,
    )
    evaluate(django_capture_on_commit_callbacks)
    by_reader = {message.to[0]: message.body for message in mail.outbox}
    assert "Dupont Marie - echo.jpg" in by_reader[auditor.email]
    assert "Dupont" not in by_reader[site_admin.email]
    assert (
        "Alice Martin (alice.martin@hopital.example) tried to download a file"
        in (by_reader[site_admin.email])
    )
