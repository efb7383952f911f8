"""Refused input, recorded in one place: every answer that refuses what a client sent
leaves an audit event, whichever view answered it (docs/audit.md, "Refused input").

The line: a 4xx that says "what you sent cannot be used" (400 bad form, JSON or id, 409
name taken or folder into itself, 411/413 size, 412 precondition, 415 type, 422...) is
recorded; a 404 (a page that is not there: link tokens and objects of someone else are
audited by their selectors), 405 (no such method), 401/403 (sign-in and rights, audited
where they are decided), 408 (the client was too slow), 410 (gone) and 429 (rate
limits, audited by the limiter) are not, so that ordinary misses do not flood the log.

A client cannot flood the log either: past ``RECORDED_RATE`` refusals from one address
(or one signed-in person), one more event says the next ones in that window are not
recorded, and the rest are only logged (``FLOOD_NOTE_RATE``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.middleware import csrf

from audit import context, messages, services
from audit.actions import Action
from audit.context import client_ip
from audit.models import AuditEvent, Outcome
from core.errors import RuleError, rule_error_last
from core.ratelimit import address_counted, rate_limit_hit

logger = logging.getLogger(__name__)

# Who refused input is recorded as when nobody was signed in (the console says so).
ANONYMOUS_LABEL = "anonymous"

# Refusals recorded per client and window; past it, one event says so, then logs only.
RECORDED_RATE = "100/10m"
FLOOD_NOTE_RATE = "1/10m"

# 4xx answers that are not a refusal of the request's content (see the module's text).
NOT_INPUT_REFUSALS = frozenset({401, 403, 404, 405, 408, 410, 429})


def input_refused(status: int) -> bool:
    """Whether an answer with ``status`` refuses what the client sent."""
    return 400 <= status < 500 and status not in NOT_INPUT_REFUSALS


# URL parameters that name a file or folder: the event's target, named in the console.
_TARGETS = {"folder_id": "files.folder", "file_id": "files.file", "transfer_id": "sharing.transfer"}
_FIELDS_KEPT = 20


def _why(response: HttpResponseBase) -> dict[str, Any]:
    """Why the answer refused, from what the view left: the rule error it showed, or the
    REST framework's error (its codes, never the values sent)."""
    data = getattr(response, "data", None)
    error = rule_error_last()
    if error is not None and error.status_code == response.status_code:
        # In no one's language: the console shows it in the auditor's (audit/messages.py).
        return {"reason": type(error).__name__, **messages.neutral(str(error))}
    if isinstance(data, Mapping) and "detail" in data:
        detail = data["detail"]
        code = str(getattr(detail, "code", "") or "refused")
        return {"reason": code, **messages.neutral(str(detail))}
    if isinstance(data, Mapping):  # field errors: which fields (their messages may echo)
        fields = sorted(str(name)[:40] for name in data)[:_FIELDS_KEPT]
        return {"reason": "invalid fields", "fields": fields}
    if isinstance(data, list):
        return {"reason": "invalid", "message": "; ".join(map(str, data))[:300]}
    return {"reason": "invalid form"}


def _fields_sent(request: HttpRequest) -> list[str]:
    """The names of the form fields sent (never their values): what a form refused.
    Only an urlencoded or multipart body already read, so an upload is never read here."""
    if request.method != "POST" or not hasattr(request, "_post"):
        return sorted(str(name)[:40] for name in request.GET)[:_FIELDS_KEPT]
    return sorted(str(name)[:40] for name in request.POST if name != "csrfmiddlewaretoken")[
        :_FIELDS_KEPT
    ]


def _flood_check(request: HttpRequest) -> tuple[bool, bool | None]:
    """Whether someone is signed in, and the flood state of the client (one address, or
    one signed-in person) across every kind of refusal: False to record, True to record
    the one event saying the next ones are not, None to only log."""
    user = getattr(request, "user", None)
    signed_in = user is not None and bool(getattr(user, "is_authenticated", False))
    # An address as every per-address limit counts it: an IPv6 client's /64 is one.
    address = address_counted(client_ip(request))
    client = f"user:{user.pk}" if signed_in and user is not None else f"ip:{address}"
    flooding = rate_limit_hit(
        group="audit.input-refusals", key=client, rate=RECORDED_RATE, fail_open=True
    )
    if flooding and rate_limit_hit(
        group="audit.input-refusals-note", key=client, rate=FLOOD_NOTE_RATE, fail_open=True
    ):
        match = getattr(request, "resolver_match", None)
        logger.warning(
            "refused request not recorded (too many from one client): %s %s",
            request.method,
            match.view_name if match is not None else "",
        )
        return signed_in, None
    return signed_in, flooding


def input_refusal_record(request: HttpRequest, response: HttpResponseBase) -> None:
    """Records ``request.input.refuse`` for an answer refusing what was sent, unless the
    view already audited its refusal (an event not a success, still in the log: one
    rolled back with the view's transaction does not count)."""
    if not input_refused(response.status_code):
        return
    noted = context.refusals_noted()
    if noted and AuditEvent.objects.filter(pk__in=noted).exists():
        return
    match = getattr(request, "resolver_match", None)
    kwargs: dict[str, Any] = dict(match.kwargs) if match is not None else {}
    target_type, target_id = "", ""
    for name, kind in _TARGETS.items():
        if isinstance(kwargs.get(name), int):
            target_type, target_id = kind, str(kwargs[name])
            break
    signed_in, flooding = _flood_check(request)
    if flooding is None:
        return
    details: dict[str, Any] = {
        # The route, not the path: a path may hold a link's secret token.
        "view": match.view_name if match is not None else "",
        "route": match.route[:200] if match is not None else "",
        "method": request.method or "",
        "status": response.status_code,
        # Numbers only among the URL's values (ids), never a token or a name.
        "ids": {key: value for key, value in kwargs.items() if isinstance(value, int)},
        **_why(response),
    }
    if flooding:  # the console says the next ones from this client are not recorded
        details["next_not_recorded"] = True
    if details["reason"] in {"invalid form", "invalid fields"} and "fields" not in details:
        details["fields"] = _fields_sent(request)
    services.record(
        action=Action.REQUEST_INPUT_REFUSE,
        outcome=Outcome.DENIED,
        actor=request.user if signed_in else None,
        actor_label="" if signed_in else ANONYMOUS_LABEL,
        target_type=target_type,
        target_id=target_id,
        details=details,
    )


def rule_refusal_record(request: HttpRequest, error: RuleError) -> None:
    """A rule's refusal that its view shows behind a redirect (a message on the page it
    goes back to, where a page holds several forms): recorded as if answered with the
    rule's own status, unless the service audited the refusal already."""
    input_refusal_record(request, HttpResponse(status=error.status_code))


def _origin_of(header: str) -> str:
    """``scheme://host[:port]`` of an Origin or Referer header: never its path, query or
    credentials (a path may hold a link's token)."""
    if header.strip() == "null":
        return "null"
    try:
        parts = urlsplit(header.strip())
        port = parts.port
    except ValueError:
        return "malformed"
    if not parts.hostname:
        return "malformed" if header.strip() else ""
    host = f"{parts.scheme}://{parts.hostname}" if parts.scheme else parts.hostname
    return (f"{host}:{port}" if port else host)[:200]


def _reason_without_path(reason: str, origin: str, referer: str) -> str:
    """Django's reason, with the address it names cut to its host."""
    for sentence, host in ((csrf.REASON_BAD_ORIGIN, origin), (csrf.REASON_BAD_REFERER, referer)):
        if reason.startswith(sentence.split("%s", 1)[0]):
            return sentence % host
    return reason[:200]


def csrf_refusal_record(request: HttpRequest, *, reason: str) -> None:
    """Records ``request.csrf.refuse``: a form or API call refused by the check against
    forged cross-site requests (an expired form, or a page of another site sending it in
    the signed-in person's name). Counted with the refused input, so a flood of forged
    requests cannot fill the log either."""
    signed_in, flooding = _flood_check(request)
    if flooding is None:
        return
    match = getattr(request, "resolver_match", None)
    origin = _origin_of(request.headers.get("Origin", ""))
    referer = _origin_of(request.headers.get("Referer", ""))
    details: dict[str, Any] = {
        # The route, not the path: a path may hold a link's secret token.
        "view": match.view_name if match is not None else "",
        "route": match.route[:200] if match is not None else "",
        "method": request.method or "",
        "reason": _reason_without_path(reason, origin, referer),
        "origin": origin,
        "referer": referer,
    }
    if flooding:
        details["next_not_recorded"] = True
    services.record(
        action=Action.REQUEST_CSRF_REFUSE,
        outcome=Outcome.DENIED,
        actor=request.user if signed_in else None,
        actor_label="" if signed_in else ANONYMOUS_LABEL,
        details=details,
    )
