"""Alerts in words, in the reader's language (issue #14, item 7): who (a name and an
e-mail address, or the address typed at sign-in), which files (by name), how many and
over how long; never an account id or a version's uuid.

An alert stores its facts (rule, subject, the first and last event it cites) and an
English ``summary`` for log forwarding; the console and the e-mails describe it again
from the events it cites, in the active language (``translation.override`` for an
e-mail), with the names resolved as the console's rows are (audit.readable).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections import Counter

from django.conf import settings
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audit import floods, resolvers
from audit.actions import Action
from audit.models import AlertRule, AuditAlert, AuditEvent
from audit.readable import Readable, readable_events
from audit.selectors import events_from_address
from core.ratelimit import address_counted

# Names listed in one alert's sentence; the rest are counted ("and 4 more").
FILES_NAMED_MAX = 3
EVENTS_READ_MAX = 50


def _is_address(text: str) -> bool:
    """An address, or a network as the per-address limits count an IPv6 client (its /64,
    core.ratelimit.address_counted)."""
    try:
        ipaddress.ip_network(text)
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
            events = events_from_address(events, alert.subject)
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


def alert_in_words(alert: AuditAlert, rows: list[Readable], *, files_named: bool = True) -> str:
    """``files_named`` False: for a reader who is not an auditor, no file's name or
    path (a site administrator reads who and how many, not which patients' files)."""
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
        if "/" in alert.subject and _is_address(alert.subject):  # an IPv6 client's /64
            return ngettext(
                "%(count)d failed sign-in from the network %(network)s in %(minutes)d minutes",
                "%(count)d failed sign-ins from the network %(network)s in %(minutes)d minutes",
                count,
            ) % {"count": count, "network": alert.subject, "minutes": minutes}
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
        what = (_files(rows) if files_named else "") or _("a file")
        if files_named and row is not None and row.path_then:
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
    files = _files(rows) if files_named else ""
    return _("%(alert)s: %(files)s") % {"alert": text, "files": files} if files else text


# Addresses listed in a sentence about refused requests; the rest are counted.
ADDRESSES_NAMED_MAX = 3


def _refused_cited(alert: AuditAlert) -> list[AuditEvent]:
    """The events an alert of refused requests cites: its target's, first to last."""
    return [
        event
        for event in floods.refusal_events(
            sequence__gte=alert.first_sequence, sequence__lte=alert.last_sequence
        )
        if floods.refusal_group(event) == alert.subject
    ]


def _refused_where(alert: AuditAlert, events: list[AuditEvent], *, files_named: bool) -> str:
    """What the refused requests were aimed at: "link “Scanner Dupont.pdf”", "account
    Alice Martin (alice.martin@…)", or the endpoint's name ("sign-in")."""
    from audit.alerts import refused_target_name

    kind, _separator, ident = alert.subject.partition(":")
    if kind == "endpoint":
        endpoint = str(floods.ENDPOINTS.get(ident, ident))
        names: list[str] = []
        for event in events:
            label = event.actor_label
            # Sign-in is limited per address, whatever account is tried: the first refusal
            # of each address names the account it tried (typed, so maybe no one's). A
            # limit counted per person (the API, uploads in progress) names that person.
            named = event.action == Action.ACCOUNTS_LOGIN or bool(event.actor_id)
            if named and label and label not in names:
                names.append(label)
        if not names:
            return endpoint
        pattern = (
            _("%(endpoint)s as %(accounts)s")
            if ident == "accounts.sign_in"
            else _("%(endpoint)s by %(accounts)s")
        )
        return pattern % {"endpoint": endpoint, "accounts": _named(names, ADDRESSES_NAMED_MAX)}
    if not files_named and kind != "accounts.user":
        # A link or file request is named by its file or title: its kind and id only.
        return _("%(kind)s #%(id)s") % {"kind": kind, "id": ident}
    name = refused_target_name(alert.subject, events)
    if kind == "accounts.user":
        person = resolvers.people([ident]).get(ident)
        if person is not None:
            name = _("%(name)s (%(email)s)") % {"name": person.name, "email": person.email}
    target = floods.TARGETS.get(kind)
    if target is None or name == alert.subject:
        return _("%(kind)s #%(id)s") % {"kind": kind, "id": ident}
    return str(target) % {"name": name}


def _named(names: list[str], most: int) -> str:
    """ "a, b, c and 4 more"."""
    shown = ", ".join(names[:most])
    more = len(names) - most
    if more > 0:
        shown = ngettext("%(names)s and %(count)d more", "%(names)s and %(count)d more", more) % {
            "names": shown,
            "count": more,
        }
    return shown


def _moment(when: dt.datetime) -> str:
    return date_format(timezone.localtime(when), "SHORT_DATETIME_FORMAT")


def refused_in_words(
    alert: AuditAlert, events: list[AuditEvent], *, files_named: bool = True
) -> str:
    """ "240 requests refused on link “Bilan sanguin.pdf” from 48 addresses (198.51.100.3,
    198.51.100.4, 198.51.100.5 and 45 more), between 07/12/2026 10:00 and 10:11 (…)"."""
    by_address: Counter[str] = Counter()
    for event in events:
        if event.ip_address:
            # As the limits count them: an IPv6 client's network ("2001:db8:7:7::/64"),
            # whichever of its addresses each refusal came from.
            by_address[address_counted(event.ip_address)] += floods.refusals_counted(event)
    # The busiest first; equal ones in the order they came (Counter keeps insertion order).
    addresses = [address for address, _count in by_address.most_common()]
    shown = _named(addresses, ADDRESSES_NAMED_MAX)
    requests = ngettext(
        "%(count)d request refused", "%(count)d requests refused", alert.event_count
    ) % {"count": alert.event_count}
    sources = ngettext(
        "from %(count)d address (%(addresses)s)",
        "from %(count)d addresses (%(addresses)s)",
        len(addresses),
    ) % {"count": len(addresses), "addresses": shown}
    where = _refused_where(alert, events, files_named=files_named)
    if not events:  # purged since (retention): the count is all that is left
        return _("%(requests)s on %(where)s") % {"requests": requests, "where": where}
    start = events[0].occurred_at
    started = events[0].details.get("started_at") if isinstance(events[0].details, dict) else None
    if isinstance(started, str):
        # A window's count is dated at its end; its requests began with the window.
        start = min(start, dt.datetime.fromisoformat(started))
    return _("%(requests)s on %(where)s %(sources)s, between %(start)s and %(end)s (%(zone)s)") % {
        "requests": requests,
        "where": where,
        "sources": sources,
        "start": _moment(start),
        "end": _moment(alert.last_occurred_at or events[-1].occurred_at),
        "zone": timezone.get_current_timezone_name(),
    }


def alerts_in_words(alerts: list[AuditAlert], *, files_named: bool = True) -> dict[int, str]:
    """Each alert's sentence in the active language, by alert id (one read per alert of
    the events it cites, one batch of names for them all). ``files_named`` False: no
    file's name, path or link's file (``alert_in_words``)."""
    refused = [alert for alert in alerts if alert.rule == AlertRule.REFUSAL_FLOOD]
    others = [alert for alert in alerts if alert.rule != AlertRule.REFUSAL_FLOOD]
    cited = {alert.pk: _cited(alert) for alert in others}
    rows = readable_events([event for events in cited.values() for event in events])
    by_sequence = {row.sequence: row for row in rows}
    words = {
        alert.pk: alert_in_words(
            alert,
            [by_sequence[event.sequence] for event in cited[alert.pk]],
            files_named=files_named,
        )
        for alert in others
    }
    for alert in refused:
        words[alert.pk] = refused_in_words(alert, _refused_cited(alert), files_named=files_named)
    return words
