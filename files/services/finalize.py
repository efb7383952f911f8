"""Finalize: take a new version through the scanner and record its verdict.

State lives in the database, not in the broker (FIELD-NOTES): a version is claimed with
a conditional UPDATE that stamps ``scanned_at`` with the claim time, and the verdict is
written only if that claim is still the latest. Running the task twice, or a redelivered
task taking over from a killed worker, therefore records one verdict; a version that has
one is never scanned again. Failing closed: an unreachable scanner leaves the version
``pending`` (retried), never ``available``.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from audit.models import Outcome
from files.crypto import BlobIntegrityError
from files.envelope import EnvelopeError
from files.models import FileVersion, ScanStatus
from files.scanning import ScannerDisabled, ScanVerdict, scanner_client, version_content_scan
from files.services.common import record
from files.services.versions import version_integrity_failure_record
from files.storage import BlobMissingError

logger = logging.getLogger(__name__)

CLAIMABLE = (ScanStatus.PENDING, ScanStatus.SCANNING, ScanStatus.SCAN_FAILED)


def version_finalize_on_commit(version: FileVersion) -> None:
    """Enqueue the finalize task once the transaction creating ``version`` commits."""
    from files import tasks

    version_id = str(version.pk)
    # robust: a broker outage must not fail the upload; the sweeper re-enqueues it.
    transaction.on_commit(lambda: tasks.version_finalize.delay(version_id), robust=True)


def _claim(version_id: uuid.UUID | str) -> dt.datetime | None:
    """Take the version for this run, or None if it has a verdict (or is gone).

    ``scanning`` is claimable too: after a kill -9 the redelivered task must take over
    from the dead one; the claim time makes the dead run's late verdict (if it ever
    wakes up) a no-op.
    """
    claimed_at = timezone.now()
    updated = FileVersion.objects.filter(
        pk=version_id,
        scan_status__in=CLAIMABLE,
        integrity_failed=False,
        shredded_at__isnull=True,
    ).update(scan_status=ScanStatus.SCANNING, scanned_at=claimed_at)
    return claimed_at if updated else None


def _verdict_write(
    *,
    version_id: uuid.UUID | str,
    claimed_at: dt.datetime,
    status: ScanStatus,
    outcome: str,
    details: dict[str, Any],
    extra_fields: dict[str, Any] | None = None,
) -> FileVersion | None:
    """Record the verdict if our claim still holds, with its audit event, atomically."""
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
        fields = ["scan_status", "scanned_at"]
        for name, value in (extra_fields or {}).items():
            setattr(version, name, value)
            fields.append(name)
        version.save(update_fields=fields)
        record(
            "files.version.scan",
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
    """Give the claim back (scanner unreachable): "waiting for virus scan" again."""
    FileVersion.objects.filter(
        pk=version_id, scan_status=ScanStatus.SCANNING, scanned_at=claimed_at
    ).update(scan_status=ScanStatus.PENDING)


def _content_type(sniffed: str) -> str:
    """libmagic's type as stored on a version (as files.uploads.content_type_detect)."""
    if not sniffed or sniffed in {"application/x-empty", "inode/x-empty"}:
        return "application/octet-stream"
    return sniffed[:255]


def version_finalize(*, version_id: uuid.UUID | str) -> str | None:
    """Scan one version and record its verdict; returns the new status, or None when
    there was nothing to do (already judged, scanner disabled, or another run holds it).

    Raises ``ClamdError`` when clamd cannot be reached: the version is back to
    ``pending`` and the task retries.
    """
    try:
        client = scanner_client()
    except ScannerDisabled:
        return None  # embedded mode without clamd: stays "waiting for virus scan"
    claimed_at = _claim(version_id)
    if claimed_at is None:
        return None
    version = FileVersion.objects.select_related("file", "uploaded_by").get(pk=version_id)
    try:
        report = version_content_scan(version=version, client=client)
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
        policy = str(settings.SECUREDRIVE_SCAN_OVERSIZE_POLICY)
        details.update(reason=report.reason, policy=policy)
        if policy == "allow":
            status, outcome = ScanStatus.NOT_SCANNED, Outcome.SUCCESS
        else:
            # No threat was found: nothing could be fully checked. Blocked, not
            # quarantined, so that nobody is told of a virus that was never seen.
            status, outcome = ScanStatus.BLOCKED, Outcome.DENIED
    else:
        status, outcome = ScanStatus.AVAILABLE, Outcome.SUCCESS
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
    if status in (ScanStatus.QUARANTINED, ScanStatus.BLOCKED):
        quarantine_notification_send(
            version=judged, signature=report.signature, reason=report.reason
        )
    return str(status)


def version_scan_give_up(*, version_id: uuid.UUID | str, error: BaseException) -> None:
    """The task ran out of retries or time: "scan failed" (never available), audited."""
    with transaction.atomic():
        version = (
            FileVersion.objects.select_for_update(no_key=True)
            .filter(pk=version_id, scan_status__in=(ScanStatus.PENDING, ScanStatus.SCANNING))
            .first()
        )
        if version is None:
            return
        version.scan_status = ScanStatus.SCAN_FAILED
        version.scanned_at = timezone.now()
        version.save(update_fields=["scan_status", "scanned_at"])
        record(
            "files.version.scan",
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
    """Versions with no verdict whose last attempt is older than the threshold.

    A version ``scanning`` counts as stuck only once the task's hard time limit has
    passed since its claim: before that its run may still be alive (a large file), and
    re-enqueueing it would start a second scan that takes the claim over, again and
    again for any scan longer than the threshold.
    """
    now = timezone.now()
    threshold = now - dt.timedelta(minutes=older_than_minutes)
    running_threshold = min(
        threshold, now - dt.timedelta(seconds=int(settings.SECUREDRIVE_SCAN_TIME_LIMIT_S))
    )
    return [
        str(pk)
        for pk in FileVersion.objects.annotate(last_attempt=Coalesce("scanned_at", "created_at"))
        .filter(
            Q(scan_status__in=(ScanStatus.PENDING, ScanStatus.SCAN_FAILED))
            | Q(scan_status=ScanStatus.SCANNING, last_attempt__lt=running_threshold),
            last_attempt__lt=threshold,
            integrity_failed=False,
            shredded_at__isnull=True,
        )
        .order_by("last_attempt")
        .values_list("pk", flat=True)[:limit]
    ]


def quarantine_notification_send(*, version: FileVersion, signature: str, reason: str) -> None:
    """Tell the uploader that a version was quarantined (a threat found) or blocked by
    policy (not fully checkable); never the content itself."""
    user = version.uploaded_by
    if user is None or not user.email:
        return
    context = {
        "user": user,
        "file_name": version.file.name,
        "number": version.number,
        "signature": signature,
        "reason": reason,
        "site_url": settings.SITE_URL,
        "file_url": settings.SITE_URL.rstrip("/") + reverse("files:file", args=[version.file_id]),
    }
    try:
        with translation.override(user.email_language):
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
