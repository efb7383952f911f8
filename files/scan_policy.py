"""The scanning policy, per site and per team, and what the scanner can take.

Content that cannot be scanned in one clamd stream (longer than its StreamMaxLength)
is blocked, scanned in overlapping windows, or let through labelled "not fully
scanned": the site chooses, and a team may choose otherwise for its own space
(docs/scanning.md). Changes are audited.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Team, User
from audit import services as audit
from audit.actions import Action
from audit.context import context_from_request
from files.clamd import CLAMAV_SCAN_MAX_BYTES, ClamdError
from files.models import FileVersion, ScanPolicyChoice, ScanPolicySetting
from files.scanning import ScanLimits, ScannerDisabled, scan_limits, scanner_client


def site_scan_policy() -> ScanPolicyChoice:
    row = ScanPolicySetting.objects.filter(site=True).first()
    if row is not None:
        return ScanPolicyChoice(row.policy)
    configured = str(settings.SCAN_OVERSIZE_POLICY)
    return (
        ScanPolicyChoice(configured)
        if configured in ScanPolicyChoice.values
        else ScanPolicyChoice.BLOCK
    )


def scan_policy_for_team(team_id: int | None) -> ScanPolicyChoice:
    """The team's own choice if it made one, else the site's."""
    if team_id is not None:
        row = ScanPolicySetting.objects.filter(team_id=team_id).first()
        if row is not None:
            return ScanPolicyChoice(row.policy)
    return site_scan_policy()


def scan_policy_for_version(version: FileVersion) -> ScanPolicyChoice:
    return scan_policy_for_team(version.file.space.team_id)


def team_scan_policies() -> dict[int, ScanPolicyChoice]:
    return {
        row.team_id: ScanPolicyChoice(row.policy)
        for row in ScanPolicySetting.objects.filter(site=False)
        if row.team_id is not None
    }


def site_scan_policy_set(
    *, actor: User, policy: ScanPolicyChoice, request: HttpRequest | None = None
) -> bool:
    """Set the site's policy; audited with before/after. False when nothing changed."""
    with transaction.atomic():
        before = site_scan_policy()
        row = ScanPolicySetting.objects.select_for_update().filter(site=True).first()
        if row is not None and row.policy == policy:
            return False
        if row is None:
            row = ScanPolicySetting(site=True)
        row.policy, row.updated_at, row.updated_by = policy, timezone.now(), actor
        row.save()
        audit.record(
            action=Action.FILES_SCAN_POLICY_SITE_UPDATE,
            actor=actor,
            target_type="files.scan_policy",
            target_id="site",
            details={"changed": {"policy": {"before": str(before), "after": str(policy)}}},
            request=context_from_request(request) if request is not None else None,
        )
    return True


def team_scan_policy_set(
    *,
    actor: User,
    team: Team,
    policy: ScanPolicyChoice | None,
    request: HttpRequest | None = None,
) -> bool:
    """Set a team's policy, or ``None`` to follow the site's; audited. False when
    nothing changed."""
    with transaction.atomic():
        row = ScanPolicySetting.objects.select_for_update().filter(team=team).first()
        before = row.policy if row is not None else "site"
        after = str(policy) if policy is not None else "site"
        if before == after:
            return False
        if policy is None:
            ScanPolicySetting.objects.filter(team=team).delete()
        else:
            row = row or ScanPolicySetting(team=team)
            row.policy, row.updated_at, row.updated_by = policy, timezone.now(), actor
            row.save()
        audit.record(
            action=Action.FILES_SCAN_POLICY_TEAM_UPDATE,
            actor=actor,
            target_type="accounts.team",
            target_id=team.pk,
            details={"team": team.slug, "changed": {"policy": {"before": before, "after": after}}},
            request=context_from_request(request) if request is not None else None,
        )
    return True


@dataclass
class ScannerStatus:
    """What the admin page and the uploader are told about the scanner."""

    configured: bool
    reachable: bool = False
    version: str = ""
    stats: str = ""
    limits: ScanLimits | None = None
    error: str = ""
    details: dict[str, object] = field(default_factory=dict)


def scanner_status(*, with_stats: bool = False) -> ScannerStatus:
    """clamd's version, STATS and limits, read from clamd itself (never raises)."""
    try:
        client = scanner_client()
    except ScannerDisabled:
        return ScannerStatus(configured=False)
    status = ScannerStatus(configured=True)
    try:
        status.limits = scan_limits(client, fresh=with_stats)  # the admin page: measured now
        status.version = client.version()
        if with_stats:
            status.stats = client.stats()
        status.reachable = True
    except ClamdError as error:
        status.error = str(error)[:300]
    return status


def upload_limits(team_id: int | None) -> dict[str, object]:
    """What the uploader needs before sending a byte (static/securedrive/upload.js):
    the longest file scanned in one stream, and what happens to a longer one here."""
    # If clamd is down; the scan reads clamd's own limit.
    limit = min(int(settings.SCAN_MAX_BYTES), CLAMAV_SCAN_MAX_BYTES)
    with contextlib.suppress(ScannerDisabled, ClamdError):
        limit = scan_limits(scanner_client()).window_bytes  # cached: no clamd round trip
    return {"scan_max_bytes": limit, "scan_policy": str(scan_policy_for_team(team_id))}
