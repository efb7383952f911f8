"""Alert rules over the audit log, evaluated by a beat task on the events it has not read.

Rules read only the log (actions, outcomes, details), never other apps' tables, so
an alert can always be explained from the events it cites. Thresholds are settings
(AUDIT_ALERT_*, docs/audit.md). Each run claims the cursor row with SELECT ... FOR
UPDATE and advances it in the same transaction that stores the alerts: running twice,
or on two workers, never raises the same alert twice. The actions a rule watches are
entries of the catalogue (audit/actions.py), and summaries name them by their label.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audit import floods, resolvers
from audit.actions import Action
from audit.models import AlertCursor, AlertRule, AuditAlert, AuditEvent, Outcome
from audit.selectors import events_from_address
from core.ratelimit import address_counted

DOWNLOAD = Action.FILES_VERSION_DOWNLOAD
LOGIN = Action.ACCOUNTS_LOGIN
BATCH = 5000


def _recent_alert(rule: str, subject: str, since: dt.datetime) -> bool:
    return AuditAlert.objects.filter(
        rule=rule, subject=subject, last_occurred_at__gte=since
    ).exists()


def _alert(
    rule: str, subject: str, events: list[AuditEvent], summary: str, *, count: int | None = None
) -> AuditAlert:
    """``count``: what the alert counts when it is not its events (refused requests)."""
    return AuditAlert.objects.create(
        raised_at=timezone.now(),
        rule=rule,
        subject=subject[:320],
        first_sequence=events[0].sequence,
        last_sequence=events[-1].sequence,
        last_occurred_at=events[-1].occurred_at,
        event_count=len(events) if count is None else count,
        summary=summary,
    )


def _bursts(
    new: Iterable[AuditEvent],
    *,
    rule: str,
    key: str,
    action: Action,
    outcome: Outcome | None,
    count: int,
    window_s: float,
    describe: str = "",
) -> list[AuditAlert]:
    """Subjects with at least ``count`` matching events within ``window_s`` seconds.

    By ``ip_address``, the subject is the address as the per-address limits count it: an
    IPv6 client's /64 network (core.ratelimit.address_counted), whichever of its 2^64
    addresses each attempt came from."""
    by_address = key == "ip_address"
    latest: dict[str, AuditEvent] = {}
    for event in new:
        if event.action == action and (outcome is None or event.outcome == outcome):
            subject = getattr(event, key)
            if subject:
                latest[address_counted(subject) if by_address else subject] = event
    raised = []
    window = dt.timedelta(seconds=window_s)
    what = f"events '{action.label}'" + (f" ({outcome.label})" if outcome else "")
    if describe:
        what = f"{what} {describe}"
    for subject, last in latest.items():
        since = last.occurred_at - window
        matching = AuditEvent.objects.filter(
            action=action,
            occurred_at__gte=since,
            occurred_at__lte=last.occurred_at,
            sequence__lte=last.sequence,
            **({"outcome": outcome} if outcome else {}),
        )
        matching = (
            events_from_address(matching, subject)
            if by_address
            else matching.filter(**{key: subject})
        )
        events = list(matching.order_by("sequence"))
        if len(events) >= count and not _recent_alert(rule, subject, since):
            label = events[-1].actor_label or subject
            raised.append(
                _alert(
                    rule,
                    subject,
                    events,
                    f"{label}: {len(events)} {what} within {int(window_s // 60)} min",
                )
            )
    return raised


def _outside_hours(new: Iterable[AuditEvent]) -> list[AuditAlert]:
    zone = ZoneInfo(settings.AUDIT_ALERT_WORKING_TIMEZONE)
    start, end = settings.AUDIT_ALERT_WORKING_HOURS
    by_actor: dict[str, list[AuditEvent]] = defaultdict(list)
    for event in new:
        if event.action != DOWNLOAD or event.outcome != Outcome.SUCCESS:
            continue
        local = event.occurred_at.astimezone(zone)
        if local.weekday() >= 5 or not start <= local.hour < end:
            by_actor[event.actor_id or event.actor_label].append(event)
    return [
        _alert(
            AlertRule.OUTSIDE_HOURS,
            subject,
            events,
            f"{events[-1].actor_label or subject}: {len(events)} download(s) outside working "
            f"hours ({start:02d}:00-{end:02d}:00 {zone.key}, Monday-Friday)",
        )
        for subject, events in by_actor.items()
    ]


def _quarantined(new: Iterable[AuditEvent]) -> list[AuditAlert]:
    return [
        _alert(
            AlertRule.QUARANTINED_ACCESS,
            event.actor_id or event.actor_label,
            [event],
            f"{event.actor_label}: tried to download {event.details['reason']} "
            f"{event.target_type} {event.target_id}",
        )
        for event in new
        if event.action == DOWNLOAD
        and isinstance(event.details, dict)
        # Blocked: the scanner could not see everything in it, so it is as suspect.
        and event.details.get("reason") in ("quarantined", "blocked")
    ]


def _refusal_floods(new: Iterable[AuditEvent]) -> list[AuditAlert]:
    """Targets (a link, an account; an endpoint when the refusals name none) refused at
    least ``AUDIT_ALERT_REFUSALS_COUNT`` requests by a rate limit within
    ``AUDIT_ALERT_REFUSALS_WINDOW_S``, whatever the addresses they came from.

    Each source is on record twice per 10 minutes at most (audit/floods.py): its first
    refusal, then one count. A guesser at one address shows in its count; a botnet
    trying a few passwords from each of its addresses shows only in the sum, which is
    what this rule adds up, from the log alone (``floods.refusals_counted``)."""
    latest: dict[str, AuditEvent] = {}
    for event in new:
        group = floods.refusal_group(event)
        if group:
            latest[group] = event
    if not latest:
        return []
    window = dt.timedelta(seconds=settings.AUDIT_ALERT_REFUSALS_WINDOW_S)
    by_group: dict[str, list[AuditEvent]] = defaultdict(list)
    for event in floods.refusal_events(
        occurred_at__gte=min(event.occurred_at for event in latest.values()) - window,
        sequence__lte=max(event.sequence for event in latest.values()),
    ):
        by_group[floods.refusal_group(event)].append(event)
    raised = []
    for group, last in latest.items():
        since = last.occurred_at - window
        events = [
            event
            for event in by_group[group]
            if since <= event.occurred_at <= last.occurred_at and event.sequence <= last.sequence
        ]
        refused = sum(floods.refusals_counted(event) for event in events)
        if refused < settings.AUDIT_ALERT_REFUSALS_COUNT:
            continue
        told = (
            AuditAlert.objects.filter(
                rule=AlertRule.REFUSAL_FLOOD, subject=group, last_occurred_at__gte=since
            )
            .order_by("-event_count")
            .first()
        )
        # Told already within the window: again only once it has at least doubled. A
        # window's count arrives when the window ends, so the first alert may have seen
        # a botnet's first refusals alone; a flood that goes on grows the count, and a
        # doubling is worth an e-mail (a few per attack, not one per run).
        if told is not None and refused < 2 * told.event_count:
            continue
        # As the limits count them: an IPv6 client's /64 is one, whichever addresses of it
        # its refusals came from (core.ratelimit.address_counted).
        addresses = {address_counted(event.ip_address) for event in events if event.ip_address}
        name = refused_target_name(group, events)
        alert = _alert(
            AlertRule.REFUSAL_FLOOD,
            group,
            events,
            f"{refused} requests refused by a rate limit on {name} from {len(addresses)} "
            f"address(es) within {int(window.total_seconds() // 60)} min",
            count=refused,  # requests, not events: two events may stand for thousands
        )
        raised.append(alert)
    return raised


def refused_target_name(group: str, events: list[AuditEvent]) -> str:
    """The target of refused requests by name, in no one's language: a link's or an
    account's name as the flood events wrote it ("Scanner Dupont.pdf"), else as it is
    now, else its kind and id; an endpoint by its code."""
    kind, _separator, ident = group.partition(":")
    if kind == "endpoint":
        return ident
    for event in reversed(events):
        details = event.details if isinstance(event.details, dict) else {}
        if event.action == Action.RATELIMIT_FLOOD and details.get("name"):
            return str(details["name"])
    # Only first refusals so far (their windows' counts come when the windows end): the
    # link or file request as it is now, by the lookups the console uses.
    channel_kind = {"sharing.link": "link", "sharing.request": "request"}.get(kind)
    if channel_kind is not None:
        channel = resolvers.channels(channel_kind, [ident]).get(ident)
        if channel is not None:
            return channel.target or channel.name or channel.transfer or group
    return group


def alerts_evaluate() -> list[AuditAlert]:
    """Apply every rule to the events not yet evaluated; e-mail what was raised."""
    with transaction.atomic():
        AlertCursor.objects.get_or_create(name="rules")
        cursor = AlertCursor.objects.select_for_update().get(name="rules")
        new = list(
            AuditEvent.objects.filter(sequence__gt=cursor.last_sequence).order_by("sequence")[
                :BATCH
            ]
        )
        if not new:
            return []
        raised = [
            *_bursts(
                new,
                rule=AlertRule.MANY_DOWNLOADS,
                key="actor_id",
                action=DOWNLOAD,
                outcome=Outcome.SUCCESS,
                count=settings.AUDIT_ALERT_DOWNLOADS_COUNT,
                window_s=settings.AUDIT_ALERT_DOWNLOADS_WINDOW_S,
            ),
            *_outside_hours(new),
            *_bursts(
                new,
                rule=AlertRule.FAILED_LOGINS,
                key="actor_label",
                action=LOGIN,
                outcome=Outcome.DENIED,
                count=settings.AUDIT_ALERT_FAILED_LOGINS_COUNT,
                window_s=settings.AUDIT_ALERT_FAILED_LOGINS_WINDOW_S,
            ),
            *_bursts(
                new,
                rule=AlertRule.FAILED_LOGINS,
                key="ip_address",
                action=LOGIN,
                outcome=Outcome.DENIED,
                count=settings.AUDIT_ALERT_FAILED_LOGINS_COUNT,
                window_s=settings.AUDIT_ALERT_FAILED_LOGINS_WINDOW_S,
                describe="from this address",
            ),
            *_quarantined(new),
            *_refusal_floods(new),
        ]
        cursor.last_sequence = new[-1].sequence
        cursor.save(update_fields=["last_sequence"])
        if raised:
            transaction.on_commit(lambda: alerts_email(raised))
    return raised


def alerts_email(alerts: list[AuditAlert]) -> None:
    from audit.alert_words import alerts_in_words
    from audit.checkpoints import oversight_recipients

    # Auditors read the files' names, as in the console; a site administrator who is
    # not an auditor reads who did what and how much, to act on the account, never
    # which files (names of patients; separation of duties, docs/audit.md).
    readers = [
        (language, recipients, files_named)
        for files_named in (True, False)
        for language, recipients in oversight_recipients(auditors=files_named).items()
    ]
    for language, recipients, files_named in readers:
        with translation.override(language):
            subject = ngettext(
                "[SecureDrive] %(count)d audit alert",
                "[SecureDrive] %(count)d audit alerts",
                len(alerts),
            ) % {"count": len(alerts)}
            # In the reader's language only, naming people (and files, for auditors).
            words = alerts_in_words(alerts, files_named=files_named)
            lines = "\n".join(
                "- "
                + _("%(rule)s: %(alert)s")
                % {"rule": alert.get_rule_display(), "alert": words[alert.pk]}
                for alert in alerts
            )
            console = _("Console: %(url)s") % {"url": f"{settings.SITE_URL}/audit/alerts/"}
        send_mail(
            subject=subject,
            message=f"{lines}\n\n{console}\n",
            from_email=None,
            recipient_list=recipients,
        )
