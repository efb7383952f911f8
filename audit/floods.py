"""Requests refused by a rate limit, on record without flooding the record.

A limit refuses what comes too fast: a scanner walking link tokens, a script stuck in a
loop, someone hammering a sign-in page or a link's password. Each refusal used to write
an audit event, and each event takes the hash chain's one lock and is kept for years:
anyone on the internet could write thousands a second into the log, slow every other
event down and drown the ones that matter (docs/rate-limits.md).

So every limiter calls :func:`rate_limited_record`. Per endpoint, source (an address,
or a signed-in person) and target (a link, an account) and per ``WINDOW``:

* the **first** refusal is recorded at once, by the endpoint's own event (``record``),
  with ``next_not_recorded``: an operator sees the attack start at once;
* the next ones only add one to the window's count (``RefusalFlood``, a row update:
  no audit event, no lock on the chain);
* when the window has ended, one ``ratelimit.flood`` event says how many were refused
  ("142 requests refused from 203.0.113.9 on link “Scanner Dupont.pdf” in 10
  minutes"), written by the next refusal for the same key or by the beat task
  ``audit.tasks.refusal_floods_close``, whichever comes first. A window with only its
  first refusal needs no second event.

A flood still spanning windows is one event at the start of each and one count at the
end of each: two events per 10 minutes per source, whatever its rate.

Per source, a botnet's few tries from each of many addresses stay small; the alert rule
``refusal_flood`` (audit/alerts.py) adds them up per target (``refusal_group``) across
every source, from these events alone: each first refusal says its endpoint and target.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from audit import services
from audit.actions import Action
from audit.context import RequestContext
from audit.models import AuditEvent, Outcome, RefusalFlood
from core.ratelimit import address_counted

WINDOW = dt.timedelta(minutes=10)
# Summarised windows kept this long (a working table, not the log): then deleted.
KEEP_SUMMARISED = dt.timedelta(days=1)

# The endpoints' names in the console ("on share-link pages").
ENDPOINTS: dict[str, Promise] = {
    "sharing.link": _("share-link pages"),
    "sharing.link.guess": _("share-link passwords and e-mail codes"),
    "sharing.link.code": _("e-mail codes asked for on a share link"),
    "sharing.request.page": _("file-request pages"),
    Action.SHARING_REQUEST_UPLOAD: _("file-request uploads"),  # its limiter's group
    # The cap on one person's uploads in progress (files/tus.py).
    Action.FILES_UPLOAD_START: _("new uploads (too many in progress)"),
    "accounts.invitation": _("invitation pages"),
    "accounts.sign_in": _("sign-in"),
    "accounts.mfa": _("second-factor codes"),
    "accounts.mfa.device": _("second-factor codes"),
    # Not a rate limit: the refused set-up of a first device, which every page of a
    # password-only session leads to (accounts/mfa.py: first_device_refused_record).
    "accounts.mfa.enrol": _("set-up of a first second-factor device"),
    "accounts.setup": _("password set-up links"),
    "sso.provider_sign_in": _("sign-in with the identity provider"),
    "sso.backchannel": _("logouts from the identity provider"),
    "api": _("the API"),
    "scim": _("the directory API (SCIM)"),
    "healthz": _("health probes"),
}
# Counted like a limit's refusals (to keep the log short) but no sign of an attack: the
# same refusal of a person's own action, repeated by her clicks and reloads. The first
# device refused to a password-only session (accounts/mfa.py) is where every page of
# that session leads: 40 reloads would raise the ``refusal_flood`` alert on her account,
# meant for guessers and botnets, and add to a real attack's count on it. A thief's
# wrong codes on that account are counted under their own endpoints and still raise it.
NOT_ATTACK_SIGNALS = frozenset({"accounts.mfa.enrol"})
# What a target is, in the console ("on link “Scanner Dupont.pdf”").
TARGETS: dict[str, Promise] = {
    "sharing.link": _("link “%(name)s”"),
    "sharing.request": _("file request “%(name)s”"),
    "accounts.user": _("account %(name)s"),
    "accounts.invitation": _("invitation for %(name)s"),
}


@dataclass(frozen=True)
class _Actor:
    pk: str
    email: str


def _window_key(endpoint: str, source: str, target_type: str, target_id: str) -> str:
    return hashlib.sha256(f"{endpoint}\n{source}\n{target_type}\n{target_id}".encode()).hexdigest()


def rate_limited_record(
    *,
    endpoint: str,
    source: str,
    record: Callable[[dict[str, Any]], AuditEvent | None],
    ip_address: str = "",
    target_type: str = "",
    target_id: object = "",
    target_name: str = "",
    actor: Any = None,
    actor_label: str = "",
) -> bool:
    """A request ``endpoint`` refused by its rate limit: on record once per window.

    ``source``: who the limit counts (an address, ``user:<id>``); ``ip_address`` the
    address the request came from. ``record(details)`` writes the endpoint's own event
    for the first refusal of a window, with ``details`` merged into its own; it is not
    called for the next ones, which are counted. Returns whether it was called."""
    key = _window_key(endpoint, source, target_type, str(target_id))
    now = timezone.now()
    with transaction.atomic():
        if _count(key, now):
            return False
        refusal_floods_close(key=key, now=now)
        try:
            with transaction.atomic():  # a savepoint: a concurrent opener wins
                flood = RefusalFlood.objects.create(
                    window_key=key,
                    endpoint=endpoint[:100],
                    source=source[:64],
                    actor_id="" if actor is None else str(actor.pk),
                    actor_label=(getattr(actor, "email", "") if actor is not None else "")
                    or actor_label[:320],
                    target_type=target_type[:100],
                    target_id=str(target_id)[:100],
                    target_name=target_name[:300],
                    ip_address=ip_address[:45],
                    started_at=now,
                    ends_at=now + WINDOW,
                )
        except IntegrityError:
            _count(key, now)
            return False
        event = record(
            {
                "next_not_recorded": True,
                "flood_window_minutes": _minutes(WINDOW),
                # What the alert rule adds refusals up by, across sources (audit/alerts.py).
                "flood_endpoint": endpoint,
                **({"flood_target": f"{target_type}:{target_id}"} if target_type else {}),
            }
        )
        if event is not None:
            RefusalFlood.objects.filter(pk=flood.pk).update(first_sequence=event.sequence)
    return True


def _count(key: str, now: dt.datetime) -> bool:
    """One more refusal in the open window of ``key``; False when none is open."""
    return bool(
        RefusalFlood.objects.filter(
            window_key=key, summarised_at__isnull=True, ends_at__gt=now
        ).update(refused=F("refused") + 1)
    )


def _minutes(span: dt.timedelta) -> int:
    return max(1, round(span.total_seconds() / 60))


def refusal_floods_close(*, key: str | None = None, now: dt.datetime | None = None) -> int:
    """Record ``ratelimit.flood`` for each window that has ended (of ``key``, or all),
    once: rows are claimed under lock and marked in the event's transaction, so two
    workers, or a worker and a request, never record a window twice. Returns how many
    events were recorded."""
    now = now or timezone.now()
    recorded = 0
    with transaction.atomic():
        ended = RefusalFlood.objects.select_for_update(skip_locked=True).filter(
            summarised_at__isnull=True, ends_at__lte=now
        )
        if key is not None:
            ended = ended.filter(window_key=key)
        for flood in ended.order_by("ends_at")[:500]:
            if flood.refused > 1:
                _summary_record(flood)
                recorded += 1
            RefusalFlood.objects.filter(pk=flood.pk).update(summarised_at=now)
        if key is None:
            RefusalFlood.objects.filter(summarised_at__lt=now - KEEP_SUMMARISED).delete()
    return recorded


def _source_shown(flood: RefusalFlood) -> str:
    """Who the limit counted: a signed-in person (the API's per-person limit,
    second-factor codes), whose addresses may be several; else the address as every
    per-address limit counts it (core.ratelimit.address_counted): an IPv6 client's
    network ("2001:db8:7:7::/64"), whose addresses are many, whichever the window's first
    refusal came from."""
    if flood.actor_id and flood.source != flood.ip_address:
        return flood.actor_label
    return address_counted(flood.ip_address) if flood.ip_address else flood.source


def _summary_record(flood: RefusalFlood) -> None:
    details: dict[str, Any] = {
        "endpoint": flood.endpoint,
        "refused": flood.refused,
        "source": _source_shown(flood),
        "window_minutes": _minutes(flood.ends_at - flood.started_at),
        "started_at": flood.started_at.isoformat(),
        "ended_at": flood.ends_at.isoformat(),
    }
    if flood.target_name:
        details["name"] = flood.target_name
    if flood.first_sequence is not None:
        details["first_event"] = flood.first_sequence
    services.record(
        action=Action.RATELIMIT_FLOOD,
        outcome=Outcome.DENIED,
        actor=_Actor(pk=flood.actor_id, email=flood.actor_label) if flood.actor_id else None,
        actor_label=flood.actor_label or "anonymous",
        # A link as its target: the console names it from the link (what it gives).
        target_type=flood.target_type,
        target_id=flood.target_id,
        details=details,
        request=RequestContext(ip_address=flood.ip_address),
        occurred_at=flood.ends_at,
    )


def flood_sentence(details: dict[str, Any], *, target_type: str = "", what: str = "") -> str:
    """ "142 requests refused from 203.0.113.9 on link “Scanner Dupont.pdf” in 10 minutes",
    in the reader's language, from a ``ratelimit.flood`` event's details."""
    refused = details.get("refused")
    count = refused if isinstance(refused, int) and not isinstance(refused, bool) else 0
    minutes = details.get("window_minutes")
    minutes = minutes if isinstance(minutes, int) and not isinstance(minutes, bool) else 10
    name = str(details.get("name") or what or "")
    pattern = TARGETS.get(target_type)
    if pattern is not None and name:
        where = str(pattern) % {"name": name}
    else:
        endpoint = str(details.get("endpoint") or "")
        where = str(ENDPOINTS.get(endpoint, endpoint))
    sentence = ngettext(
        "%(count)s request refused from %(source)s on %(where)s in %(minutes)s minutes",
        "%(count)s requests refused from %(source)s on %(where)s in %(minutes)s minutes",
        count,
    )
    return sentence % {
        "count": count,
        "source": str(details.get("source") or "?"),
        "where": where,
        "minutes": minutes,
    }


# --- Read back from the log: what the alert rule adds up (audit/alerts.py) -----------------


def refusal_events(**filters: Any) -> QuerySet[AuditEvent]:
    """The events standing for requests refused by a rate limit (a window's first
    refusal, a window's count), oldest first. Callers bound them by time or sequence
    (the occurred_at and sequence indexes): they are at most two per source and window."""
    return (
        AuditEvent.objects.filter(**filters)
        .filter(Q(action=Action.RATELIMIT_FLOOD) | Q(details__has_key="flood_window_minutes"))
        .order_by("sequence")
    )


def refusal_group(event: AuditEvent) -> str:
    """What a rate-limited refusal on record was aimed at, across every source: its target
    (``"sharing.link:12"``), or its endpoint when it names none
    (``"endpoint:accounts.sign_in"``); ``""`` for any other event, and for the refusals
    that signal no attack (``NOT_ATTACK_SIGNALS``)."""
    details = event.details if isinstance(event.details, dict) else {}
    endpoint = details.get(
        "endpoint" if event.action == Action.RATELIMIT_FLOOD else "flood_endpoint"
    )
    if endpoint in NOT_ATTACK_SIGNALS:
        return ""
    if event.action == Action.RATELIMIT_FLOOD:
        if event.target_type:
            return f"{event.target_type}:{event.target_id}"
        return f"endpoint:{details.get('endpoint') or ''}"
    if not details.get("flood_window_minutes"):
        return ""
    if details.get("flood_target"):
        return str(details["flood_target"])
    if details.get("flood_endpoint"):
        return f"endpoint:{details['flood_endpoint']}"
    # A first refusal recorded before its endpoint was written down: by its own target.
    return f"{event.target_type}:{event.target_id}" if event.target_type else ""


def refusals_counted(event: AuditEvent) -> int:
    """How many refused requests an event of :func:`refusal_group` stands for: the first
    of a window, one; a window's ``ratelimit.flood``, the ones after that first (already
    on record by itself), or all of them when no first event was recorded."""
    if event.action != Action.RATELIMIT_FLOOD:
        return 1
    details = event.details if isinstance(event.details, dict) else {}
    refused = details.get("refused")
    if not isinstance(refused, int) or isinstance(refused, bool) or refused < 1:
        return 0
    return refused - 1 if details.get("first_event") is not None else refused
