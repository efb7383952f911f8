"""Alerts in words, in the reader's language (issue #14, item 7): who (a name and an
e-mail address, or the address typed at sign-in), which files (by name), how many and
over how long; never an account id or a version's uuid.

An alert stores its facts (rule, subject, the first and last event it cites) and an
English ``summary`` for log forwarding; the console and the e-mails describe it again
from the events it cites, in the active language (``translation.override`` for an
e-mail), with the names resolved as the console's rows are (audit.readable).
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audit import resolvers
from audit.actions import Action
from audit.models import AlertRule, AuditAlert, AuditEvent
from audit.readable import Readable, readable_events

# Names listed in one alert's sentence; the rest are counted ("and 4 more").
FILES_NAMED_MAX = 3
EVENTS_READ_MAX = 50


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _cited(alert: AuditAlert) -> list[AuditEvent]:
    """The events an alert cites (its subject's, between its first and last)."""
    events = AuditEvent.objects.filter(
        sequence__gte=alert.first_sequence, sequence__lte=alert.last_sequence
    )
    if alert.rule in (AlertRule.MANY_DOWNLOADS, AlertRule.OUTSIDE_HOURS):
        events = events.filter(action=Action.FILES_VERSION_DOWNLOAD)
        subject = alert.subject
        events = (
            events.filter(actor_id=subject)
            if subject.isdigit()
            else events.filter(actor_label=subject)
        )
    elif alert.rule == AlertRule.FAILED_LOGINS:
        events = events.filter(action=Action.ACCOUNTS_LOGIN)
        if _is_address(alert.subject):
            events = events.filter(ip_address=alert.subject)
        else:
            events = events.filter(actor_label=alert.subject)
    elif alert.rule == AlertRule.QUARANTINED_ACCESS:
        events = events.filter(sequence=alert.last_sequence)
    else:
        return []
    return list(events.order_by("sequence")[:EVENTS_READ_MAX])


def _person(rows: list[Readable], fallback: str) -> str:
    for row in rows:
        if row.who:
            if row.who_email:
                return _("%(name)s (%(email)s)") % {"name": row.who, "email": row.who_email}
            return row.who
    return fallback


def _files(rows: list[Readable]) -> str:
    names: list[str] = []
    for row in rows:
        if row.what and row.what not in names:
            names.append(row.what)
    if not names:
        return ""
    shown = ", ".join(f"“{name}”" for name in names[:FILES_NAMED_MAX])
    more = len(names) - FILES_NAMED_MAX
    if more > 0:
        shown = ngettext("%(names)s and %(count)d more", "%(names)s and %(count)d more", more) % {
            "names": shown,
            "count": more,
        }
    return shown


def _minutes(seconds: float) -> int:
    return max(1, int(seconds // 60))


def _sign_in_subject(alert: AuditAlert) -> str:
    """The e-mail address typed, with the person's name when an account has it."""
    known = [
        match
        for match in resolvers.people_search(alert.subject, limit=5)
        if match.email.lower() == alert.subject.lower()
    ]
    if known:
        return _("%(name)s (%(email)s)") % {"name": known[0].name, "email": known[0].email}
    return alert.subject


def alert_in_words(alert: AuditAlert, rows: list[Readable]) -> str:
    count = alert.event_count
    if alert.rule == AlertRule.MANY_DOWNLOADS:
        text = ngettext(
            "%(who)s downloaded %(count)d file in %(minutes)d minutes",
            "%(who)s downloaded %(count)d files in %(minutes)d minutes",
            count,
        ) % {
            "who": _person(rows, _("someone")),
            "count": count,
            "minutes": _minutes(settings.AUDIT_ALERT_DOWNLOADS_WINDOW_S),
        }
    elif alert.rule == AlertRule.OUTSIDE_HOURS:
        start, end = settings.AUDIT_ALERT_WORKING_HOURS
        text = ngettext(
            "%(who)s downloaded %(count)d file outside working hours "
            "(%(start)02d:00 to %(end)02d:00, %(zone)s, Monday to Friday)",
            "%(who)s downloaded %(count)d files outside working hours "
            "(%(start)02d:00 to %(end)02d:00, %(zone)s, Monday to Friday)",
            count,
        ) % {
            "who": _person(rows, _("someone")),
            "count": count,
            "start": start,
            "end": end,
            "zone": settings.AUDIT_ALERT_WORKING_TIMEZONE,
        }
    elif alert.rule == AlertRule.FAILED_LOGINS:
        minutes = _minutes(settings.AUDIT_ALERT_FAILED_LOGINS_WINDOW_S)
        if _is_address(alert.subject):
            return ngettext(
                "%(count)d failed sign-in from the address %(address)s in %(minutes)d minutes",
                "%(count)d failed sign-ins from the address %(address)s in %(minutes)d minutes",
                count,
            ) % {"count": count, "address": alert.subject, "minutes": minutes}
        return ngettext(
            "%(count)d failed sign-in as %(who)s in %(minutes)d minutes",
            "%(count)d failed sign-ins as %(who)s in %(minutes)d minutes",
            count,
        ) % {"count": count, "who": _sign_in_subject(alert), "minutes": minutes}
    elif alert.rule == AlertRule.QUARANTINED_ACCESS:
        row = rows[-1] if rows else None
        what = _files(rows) or _("a file")
        if row is not None and row.path_then:
            what = _("%(name)s in %(path)s") % {"name": what, "path": row.path_then}
        return _("%(who)s tried to download %(what)s: %(reason)s") % {
            "who": _person(rows, _("someone")),
            "what": what,
            "reason": (row.note if row is not None and row.note else _("refused")),
        }
    else:
        return _(
            "The audit log failed its integrity check (events #%(first)s to #%(last)s): "
            "see the integrity page."
        ) % {"first": alert.first_sequence, "last": alert.last_sequence}
    files = _files(rows)
    return _("%(alert)s: %(files)s") % {"alert": text, "files": files} if files else text


def alerts_in_words(alerts: list[AuditAlert]) -> dict[int, str]:
    """Each alert's sentence in the active language, by alert id (one read per alert of
    the events it cites, one batch of names for them all)."""
    cited = {alert.pk: _cited(alert) for alert in alerts}
    rows = readable_events([event for events in cited.values() for event in events])
    by_sequence = {row.sequence: row for row in rows}
    return {
        alert.pk: alert_in_words(alert, [by_sequence[event.sequence] for event in cited[alert.pk]])
        for alert in alerts
    }
