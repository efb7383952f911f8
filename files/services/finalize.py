"""Finalize: take a new version through the scanner and record its verdict.

State lives in the database, not in the broker (FIELD-NOTES). A run **claims** a version
with a conditional UPDATE that stamps ``scanned_at`` with the claim time and gives it a
**lease** (``scan_lease_until``), renewed while the scan progresses; the verdict is
written only if that claim is still the version's (``WHERE scan_status = 'scanning' AND
scanned_at = <claim>``). So:

- a version is scanned by one live run at a time: ``scanning`` is claimable only once
  its lease has run out (its run was killed), and the sweeper re-enqueues exactly those;
- a run that finds its claim taken over (it stalled past its lease) stops and writes
  nothing; running the task twice records one verdict; a judged version is never
  scanned again.

Failing closed: an unreachable scanner leaves the version ``pending`` (retried), never
``available``. Database errors (PostgreSQL restarting) are transient: the heartbeat
skips a renewal, the task retries (files/tasks.py); neither becomes a verdict.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import User
from audit.actions import Action
from audit.models import Outcome
from files.crypto import BlobIntegrityError
from files.envelope import EnvelopeError
from files.models import FileVersion, ScanStatus
from files.scan_policy import scan_policy_for_version
from files.scanning import (
    ScannerDisabled,
    ScanPolicy,
    ScanVerdict,
    scanner_client,
    version_content_scan,
)
from files.services.common import record
from files.services.versions import version_integrity_failure_record
from files.storage import BlobMissingError

logger = logging.getLogger(__name__)

# A lost database connection (PostgreSQL restarting): worth retrying, never a verdict.
DATABASE_TRANSIENT_ERRORS = (OperationalError, InterfaceError)


class ScanClaimHeld(Exception):
    """Another run holds a live lease on the version: it will record the verdict."""

    def __init__(self, retry_in_s: float) -> None:
        super().__init__(f"claimed by a live run for {retry_in_s:.0f} more seconds")
        self.retry_in_s = retry_in_s


class ScanClaimLost(Exception):
    """This run's lease ran out and another run took the version over."""


def version_finalize_on_commit(version: FileVersion) -> None:
    """Enqueue the finalize task once the transaction creating ``version`` commits."""
    from files import tasks

    version_id = str(version.pk)
    # robust: a broker outage must not fail the upload; the sweeper re-enqueues it.
    transaction.on_commit(lambda: tasks.version_finalize.delay(version_id), robust=True)


def version_thumbnail_on_commit(version: FileVersion) -> None:
    """Once the verdict is committed, a worker draws the thumbnail (files/thumbnails.py)."""
    from files import tasks

    version_id = str(version.pk)
    transaction.on_commit(lambda: tasks.version_thumbnail_make.delay(version_id), robust=True)


def _lease_s() -> float:
    return float(settings.SCAN_LEASE_S)


def _lease_run_out(now: dt.datetime) -> Q:
    """``scanning`` with no live run: its lease ran out (or predates leases)."""
    return Q(
        Q(scan_lease_until__lt=now) | Q(scan_lease_until__isnull=True),
        scan_status=ScanStatus.SCANNING,
    )


def _claimable(now: dt.datetime) -> Q:
    """No verdict yet, and no live run."""
    return Q(scan_status__in=(ScanStatus.PENDING, ScanStatus.SCAN_FAILED)) | _lease_run_out(now)


@dataclass
class _Claim:
    """This run's claim on a version, renewed (at most every quarter lease) as the scan
    progresses. The renewal is conditional on the claim, so a run whose lease ran out
    and was taken over learns it at its next renewal and stops."""

    version_id: uuid.UUID | str
    claimed_at: dt.datetime

    def _renewal_due_at(self, now: dt.datetime) -> dt.datetime:
        return now + dt.timedelta(seconds=_lease_s() / 4)

    def __post_init__(self) -> None:
        self.next_renewal = self._renewal_due_at(self.claimed_at)

    def renew_if_due(self) -> None:
        now = timezone.now()
        if now < self.next_renewal:
            return
        self.next_renewal = self._renewal_due_at(now)
        try:
            renewed = FileVersion.objects.filter(
                pk=self.version_id, scan_status=ScanStatus.SCANNING, scanned_at=self.claimed_at
            ).update(scan_lease_until=now + dt.timedelta(seconds=_lease_s()))
        except DATABASE_TRANSIENT_ERRORS:
            # PostgreSQL is restarting: skip this renewal and reconnect at the next; the
            # lease outlasts a few missed ones.
            logger.warning("scan lease of version %s not renewed (database)", self.version_id)
            if not connection.in_atomic_block:
                connection.close()
            return
        if not renewed:
            raise ScanClaimLost(str(self.version_id))


def _claim(version_id: uuid.UUID | str) -> _Claim | None:
    """Take the version for this run; None if it has a verdict (or is gone).

    Raises ``ScanClaimHeld`` while another run's lease is alive: after a kill -9 the
    redelivered task waits for the dead run's lease to run out instead of scanning
    alongside a run that may still be alive.
    """
    now = timezone.now()
    updated = FileVersion.objects.filter(
        _claimable(now),
        pk=version_id,
        integrity_failed=False,
        shredded_at__isnull=True,
    ).update(
        scan_status=ScanStatus.SCANNING,
        scanned_at=now,
        scan_lease_until=now + dt.timedelta(seconds=_lease_s()),
    )
    if updated:
        return _Claim(version_id=version_id, claimed_at=now)
    lease_until = (
        FileVersion.objects.filter(pk=version_id, scan_status=ScanStatus.SCANNING)
        .values_list("scan_lease_until", flat=True)
        .first()
    )
    if lease_until is not None:
        raise ScanClaimHeld(max(0.0, (lease_until - now).total_seconds()))
    return None


def _verdict_write(
    *,
    version_id: uuid.UUID | str,
    claimed_at: dt.datetime,
    status: ScanStatus,
    outcome: str,
    details: dict[str, Any],
    extra_fields: dict[str, Any] | None = None,
) -> FileVersion | None:
    """Record the verdict if our claim still holds, with its audit event, atomically:
    one version, one verdict event, whatever ran twice."""
    if not connection.in_atomic_block:
        # The connection may have died with a PostgreSQL restart during the scan:
        # checked (and reopened) before the write rather than failing it.
        connection.close_if_unusable_or_obsolete()
    with transaction.atomic():
        version = (
            FileVersion.objects.select_for_update(no_key=True)
            .filter(pk=version_id, scan_status=ScanStatus.SCANNING, scanned_at=claimed_at)
            .first()
        )
        if version is None:
            return None  # another run took over; it records the verdict
        version.scan_status = status
        version.scanned_at = timezone.now()
        version.scan_lease_until = None
        fields = ["scan_status", "scanned_at", "scan_lease_until"]
        for name, value in (extra_fields or {}).items():
            setattr(version, name, value)
            fields.append(name)
        version.save(update_fields=fields)
        record(
            Action.FILES_VERSION_SCAN,
            actor=None,
            target=version,
            outcome=outcome,
            file=version.file_id,
            number=version.number,
            status=str(status),
            **details,
        )
    return version


def _release(version_id: uuid.UUID | str, claimed_at: dt.datetime) -> None:
    """Give the claim back (scanner unreachable): "waiting for virus scan" again. With
    the database unreachable too, the lease runs out on its own."""
    try:
        FileVersion.objects.filter(
            pk=version_id, scan_status=ScanStatus.SCANNING, scanned_at=claimed_at
        ).update(scan_status=ScanStatus.PENDING, scan_lease_until=None)
    except DATABASE_TRANSIENT_ERRORS:
        logger.warning("scan claim of version %s left to expire (database)", version_id)


def _content_type(sniffed: str) -> str:
    """libmagic's type as stored on a version (as files.uploads.content_type_detect)."""
    if not sniffed or sniffed in {"application/x-empty", "inode/x-empty"}:
        return "application/octet-stream"
    return sniffed[:255]


def version_finalize(*, version_id: uuid.UUID | str) -> str | None:
    """Scan one version and record its verdict; returns the new status, or None when
    there was nothing to do (already judged, scanner disabled, or another run holds it).

    Raises ``ClamdError`` when clamd cannot be reached (the version is back to
    ``pending``), a database error when PostgreSQL is (the lease runs out), and
    ``ScanClaimHeld`` while another run's lease is alive: the task retries each.
    """
    try:
        client = scanner_client()
    except ScannerDisabled:
        return None  # embedded mode without clamd: stays "waiting for virus scan"
    claim = _claim(version_id)
    if claim is None:
        return None
    claimed_at = claim.claimed_at
    try:
        version = FileVersion.objects.select_related("file__space", "uploaded_by").get(
            pk=version_id
        )
        policy = ScanPolicy(str(scan_policy_for_version(version)))
        report = version_content_scan(
            version=version, client=client, progress=claim.renew_if_due, policy=policy
        )
    except (BlobIntegrityError, BlobMissingError, EnvelopeError) as error:
        version_integrity_failure_record(version=version, actor=None, error=error, during="scan")
        _verdict_write(
            version_id=version_id,
            claimed_at=claimed_at,
            status=ScanStatus.SCAN_FAILED,
            outcome=Outcome.ERROR,
            details={"reason": "integrity_failed", "error": type(error).__name__},
        )
        return str(ScanStatus.SCAN_FAILED)
    except ScanClaimLost:
        logger.warning("version %s: scan stopped, its claim was taken over", version_id)
        return None
    except BaseException:
        _release(version_id, claimed_at)
        raise

    details: dict[str, Any] = {"sha256": report.sha256, "sniffed_type": report.sniffed_type}
    details.update(report.details)
    extra: dict[str, Any] = {}
    if not version.sha256:
        # tus uploads seal bytes as they arrive across requests and cannot hash them
        # there (files/tus.py): this first decryption records the digest and type.
        extra["sha256"] = report.sha256
    if version.plaintext_crc32 is None and report.verdict is not ScanVerdict.INTEGRITY_FAILED:
        # Recorded once here, where every byte is decrypted anyway, so that a ZIP of the
        # version need not compute it (sharing/services/archives.py).
        extra["plaintext_crc32"] = report.crc32
    if not version.content_type:
        extra["content_type"] = _content_type(report.sniffed_type)
    if report.verdict is ScanVerdict.INTEGRITY_FAILED:
        mismatch = BlobIntegrityError(None, "plaintext does not match the recorded SHA-256")
        version_integrity_failure_record(version=version, actor=None, error=mismatch, during="scan")
        status, outcome = ScanStatus.SCAN_FAILED, Outcome.ERROR
        details["reason"] = report.reason
    elif report.verdict is ScanVerdict.INFECTED:
        status, outcome = ScanStatus.QUARANTINED, Outcome.DENIED
        details["signature"] = report.signature
    elif report.verdict is ScanVerdict.UNINSPECTABLE:
        details.update(reason=report.reason, policy=str(policy))
        if policy is ScanPolicy.ALLOW:
            status, outcome = ScanStatus.NOT_SCANNED, Outcome.SUCCESS
        else:
            # No threat was found: nothing could be fully checked. Blocked, not
            # quarantined, so that nobody is told of a virus that was never seen.
            status, outcome = ScanStatus.BLOCKED, Outcome.DENIED
    else:
        status, outcome = ScanStatus.AVAILABLE, Outcome.SUCCESS
    extra["scan_note"] = _scan_note(report.signature, details)
    judged = _verdict_write(
        version_id=version_id,
        claimed_at=claimed_at,
        status=status,
        outcome=outcome,
        details=details,
        extra_fields=extra,
    )
    if judged is None:
        return None
    if status in (ScanStatus.AVAILABLE, ScanStatus.NOT_SCANNED):
        version_thumbnail_on_commit(judged)
    if status in (ScanStatus.QUARANTINED, ScanStatus.BLOCKED):
        quarantine_notification_send(
            version=judged, signature=report.signature, reason=report.reason
        )
    return str(status)


def _scan_note(signature: str, details: dict[str, Any]) -> dict[str, Any]:
    """What the people who see the version are told (files/scan_notes.py)."""
    keys = (
        "reason",
        "policy",
        "member",
        "scan_windows",
        "scan_max_bytes",
        "archive_members_windowed",
    )
    note = {key: details[key] for key in keys if details.get(key) not in (None, "")}
    if signature:
        note["signature"] = signature
    return note


def version_scan_give_up(
    *, version_id: uuid.UUID | str, error: BaseException, run_killed: bool = False
) -> None:
    """The task ran out of retries or time: "scan failed" (never available), audited.

    Never over another run's live lease (that run records the verdict), unless the lease
    is this failed run's own and the run was killed (``run_killed``: hard time limit).
    """
    not_held = Q(scan_status=ScanStatus.PENDING) | _lease_run_out(timezone.now())
    if run_killed:
        not_held |= Q(scan_status=ScanStatus.SCANNING)
    with transaction.atomic():
        version = (
            FileVersion.objects.select_for_update(no_key=True)
            .filter(not_held, pk=version_id)
            .first()
        )
        if version is None:
            return
        version.scan_status = ScanStatus.SCAN_FAILED
        version.scanned_at = timezone.now()
        version.scan_lease_until = None
        version.save(update_fields=["scan_status", "scanned_at", "scan_lease_until"])
        record(
            Action.FILES_VERSION_SCAN,
            actor=None,
            target=version,
            outcome=Outcome.ERROR,
            file=version.file_id,
            number=version.number,
            status=str(ScanStatus.SCAN_FAILED),
            reason=type(error).__name__,
            error=str(error)[:300],
        )


def versions_stuck_select(*, older_than_minutes: int, limit: int = 500) -> list[str]:
    """Versions with no verdict and no live run: ``pending`` or ``scan_failed`` whose
    last attempt is older than the threshold (a fresh upload's own task is on its way),
    and ``scanning`` ones whose lease has run out (their run was killed).

    A live scan renews its lease, so it is never re-enqueued however long it takes.
    """
    now = timezone.now()
    threshold = now - dt.timedelta(minutes=older_than_minutes)
    return [
        str(pk)
        for pk in FileVersion.objects.annotate(last_attempt=Coalesce("scanned_at", "created_at"))
        .filter(
            Q(
                scan_status__in=(ScanStatus.PENDING, ScanStatus.SCAN_FAILED),
                last_attempt__lt=threshold,
            )
            | _lease_run_out(now),
            integrity_failed=False,
            shredded_at__isnull=True,
        )
        .order_by("last_attempt")
        .values_list("pk", flat=True)[:limit]
    ]


def _verdict_reader(version: FileVersion) -> User | None:
    from files.selectors import Permission, file_permission  # selectors import services

    space_owner = version.file.space.owner if version.file.space.owner_id else None
    for person in (version.uploaded_by, space_owner):
        if (
            person is not None
            and person.email
            and User.objects.filter(pk=person.pk, is_active=True).exists()
            and file_permission(actor=person, file=version.file) >= Permission.VIEW
        ):
            return person
    return None


def quarantine_notification_send(*, version: FileVersion, signature: str, reason: str) -> None:
    """Tell the uploader that a version was quarantined (a threat found) or blocked by
    policy (not fully checkable); never the content itself. An uploader who has left
    since (deactivated, or no longer able to read the file: a team left) is not told a
    file name of the hospital's any more: the owner of the personal space it is in now
    (the successor who received it) is, if any."""
    user = _verdict_reader(version)
    if user is None:
        return
    context = {
        "user": user,
        # Someone else's upload (the successor's now): said so, by name.
        "uploader_name": (
            version.uploaded_by.get_full_name() or version.uploaded_by.email
            if version.uploaded_by is not None and version.uploaded_by.pk != user.pk
            else ""
        ),
        "file_name": version.file.name,
        "number": version.number,
        "signature": signature,
        "reason": reason,
        "site_url": settings.SITE_URL,
        "file_url": settings.SITE_URL.rstrip("/") + reverse("files:file", args=[version.file_id]),
    }
    try:
        with translation.override(user.email_language):
            context["explanation"] = version.scan_explanation
            if version.scan_status == ScanStatus.BLOCKED:
                subject = _("A file you uploaded to SecureDrive was blocked by policy")
                template = "files/email/blocked_notification.txt"
            else:
                subject = _("A file you uploaded to SecureDrive was quarantined")
                template = "files/email/quarantine_notification.txt"
            message = render_to_string(template, context)
        send_mail(subject=subject, message=message, from_email=None, recipient_list=[user.email])
    except OSError:
        # The verdict is committed and shown in the UI; a mail outage must not undo it.
        logger.warning("quarantine notification for version %s not sent", version.pk)
