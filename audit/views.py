"""The auditor's console: HTTP only. Queries live in selectors, signing in checkpoints.

Separation of duties: only ``is_auditor`` opens the console; a site administrator
without that role is refused like anyone else. The role is read by attribute so that
``audit`` never imports ``accounts``. Every page, export and proof is itself audited.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from kombu.exceptions import OperationalError as BrokerUnreachable

from audit import checkpoints, exports, resolvers
from audit import services as audit
from audit.actions import Action
from audit.alert_words import alerts_in_words
from audit.forms import EventFilterForm, VerifyNowForm
from audit.guards import role_required
from audit.merkle import ProofError
from audit.models import AuditEvent, Outcome
from audit.note import NoteError
from audit.readable import Readable, readable_events
from audit.selectors import (
    EventFilter,
    audit_alerts_recent,
    audit_events_page,
    audit_head_sequence,
    verification_state,
)
from audit.tasks import audit_log_verify_and_alert
from core.http import id_number

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponseBase]


def auditor_required(view: View) -> View:
    """Auditors only; anyone else (site administrators included) gets 403 and an event."""
    return role_required(
        lambda user: bool(getattr(user, "is_auditor", False)),
        denied_action=Action.AUDIT_CONSOLE_ACCESS,
    )(view)


def viewed(request: HttpRequest, page: str, **details: Any) -> None:
    audit.record(
        action=Action.AUDIT_CONSOLE_VIEW, actor=request.user, details={"page": page, **details}
    )


def _positive_int(value: str | None) -> int | None:
    return id_number(value)


@dataclass
class EventsPage:
    """One page of a filter or a question, and the query strings of its export (the
    same filter, pinned to the head the page was read at) and of the next page."""

    form: EventFilterForm
    query: EventFilter
    events: list[AuditEvent]
    rows: list[Readable]
    export_query: str
    next_query: str
    head: int

    @property
    def status(self) -> int:
        return 200 if self.form.is_valid() else 400

    def context(self) -> dict[str, Any]:
        return {
            "form": self.form,
            "events": self.events,
            "rows": self.rows,
            "export_query": self.export_query,
            "next_query": self.next_query,
            "head": self.head,
            "time_zone": settings.TIME_ZONE,
            # An investigation report answers a question (audit/reports.py).
            "report_allowed": bool(
                self.query.item or self.query.actor or self.query.since or self.query.until
            ),
        }


def events_page_read(
    request: HttpRequest, *, page: str, preset: dict[str, str], run: bool = True
) -> EventsPage:
    """Read and record (``audit.console.view``) one page; ``run=False`` only records."""
    data = request.GET.copy()
    for name, value in preset.items():
        data[name] = value
    form = EventFilterForm(data)
    head = audit_head_sequence()
    events: list[AuditEvent] = []
    next_before = None
    query = EventFilter()
    if form.is_valid():
        query = form.event_filter()
        if run:
            events, next_before = audit_events_page(
                query, before_sequence=_positive_int(request.GET.get("before"))
            )
    viewed(request, page, **query.as_details())
    pinned = data.copy()
    pinned.pop("before", None)
    pinned["upto"] = str(query.up_to_sequence or head)
    paging = data.copy()
    paging["upto"] = str(query.up_to_sequence or head)
    if next_before is not None:
        paging["before"] = str(next_before)
    return EventsPage(
        form=form,
        query=query,
        events=events,
        rows=readable_events(events),
        export_query=pinned.urlencode(),
        next_query=paging.urlencode() if next_before is not None else "",
        head=head,
    )


def _events_render(
    request: HttpRequest,
    *,
    page: str,
    preset: dict[str, str],
    heading: str | Callable[[list[Readable]], str],
) -> HttpResponse:
    found = events_page_read(request, page=page, preset=preset)
    return render(
        request,
        "audit/events.html",
        {
            **found.context(),
            "heading": heading(found.rows) if callable(heading) else heading,
            "verification_state": verification_state(),
        },
        status=found.status,
    )


def _target_heading(target_type: str, target_id: str) -> Callable[[list[Readable]], str]:
    """The object in words (a file's name and version, a person), as its events name
    it; its type and id only when no event does."""

    def heading(rows: list[Readable]) -> str:
        for row in rows:
            if row.what:
                return f"{row.what} · {row.version}" if row.version else row.what
        return f"{target_type} {target_id}"

    return heading


def _person_heading(actor_id: str) -> str:
    person = resolvers.people([actor_id]).get(actor_id)
    if person is None:
        return actor_id
    return f"{person.name} ({person.email})" if person.name != person.email else person.email


@require_GET
@auditor_required
def event_list(request: HttpRequest) -> HttpResponse:
    return _events_render(request, page="events", preset={}, heading="")


@require_GET
@auditor_required
def target_history(request: HttpRequest, target_type: str, target_id: str) -> HttpResponse:
    return _events_render(
        request,
        page="target",
        preset={"target_type": target_type, "target_id": target_id},
        heading=_target_heading(target_type, target_id),
    )


@require_GET
@auditor_required
def actor_activity(request: HttpRequest, actor_id: str) -> HttpResponse:
    return _events_render(
        request, page="actor", preset={"actor": actor_id}, heading=_person_heading(actor_id)
    )


@require_GET
@auditor_required
def event_detail(request: HttpRequest, sequence: int) -> HttpResponse:
    event = get_object_or_404(AuditEvent, sequence=sequence)
    viewed(request, "event", sequence=sequence)
    return render(
        request,
        "audit/event_detail.html",
        {
            "event": event,
            # The event in words first, as in the console's tables; what was stored
            # (codes, ids, the details) below it, since that is what the hash covers.
            "row": readable_events([event])[0],
            "time_zone": settings.TIME_ZONE,
            "details_json": json.dumps(event.details, indent=2, ensure_ascii=False, sort_keys=True),
        },
    )


def _export_query(request: HttpRequest) -> EventFilter | None:
    form = EventFilterForm(request.GET)
    if not form.is_valid():
        return None
    query = form.event_filter()
    if query.up_to_sequence is None:
        query = EventFilter(**{**vars(query), "up_to_sequence": audit_head_sequence()})
    return query


@require_GET
@auditor_required
def export(request: HttpRequest, export_format: str) -> HttpResponseBase:
    if export_format not in exports.FORMATS:
        raise Http404
    query = _export_query(request)
    if query is None:
        return HttpResponseBadRequest("invalid filter")
    audit.record(
        action=Action.AUDIT_EXPORT,
        actor=request.user,
        details={"format": export_format, **query.as_details()},
    )
    chunks, content_type = exports.FORMATS[export_format]
    reader_pk, session_key = request.user.pk or 0, request.session.session_key

    def refusal() -> str | None:
        reader = (
            get_user_model().objects.filter(pk=reader_pk).values("is_active", "is_auditor").first()
        )
        if reader is None or not reader["is_active"]:
            return "account deactivated"
        if not reader["is_auditor"]:
            return "role withdrawn"
        if session_key and not request.session.exists(session_key):
            return "session ended"  # signed out everywhere, revoked, at the provider
        return None

    def cut_off(reason: str) -> None:
        audit.record(
            action=Action.AUDIT_EXPORT,
            outcome=Outcome.DENIED,
            actor=request.user,
            details={"format": export_format, "reason": reason, "during": "stream"},
        )

    response = StreamingHttpResponse(
        exports.chunks_while_allowed(chunks(query), refusal=refusal, cut_off=cut_off),
        content_type=content_type,
    )
    response["Content-Disposition"] = (
        f'attachment; filename="audit-{query.up_to_sequence}.{export_format}"'
    )
    return response


@require_GET
@auditor_required
def export_signature(request: HttpRequest, export_format: str) -> HttpResponse:
    if export_format not in exports.FORMATS:
        raise Http404
    query = _export_query(request)
    if query is None or "upto" not in request.GET:
        return HttpResponseBadRequest("a signature needs the export's pinned head (upto)")
    document = exports.export_signature(query, export_format, **exports.signer(request.user))
    statement = document["statement"]
    audit.record(
        action=Action.AUDIT_EXPORT_SIGN,
        actor=request.user,
        details={
            "format": export_format,
            "sha256": statement["sha256"],
            "events": statement["events"],
            "signature_format": document["format"],
            **query.as_details(),
        },
    )
    response = JsonResponse(document)
    response["Content-Disposition"] = (
        f'attachment; filename="audit-{query.up_to_sequence}.{export_format}.sig"'
    )
    return response


def _integrity_render(
    request: HttpRequest, *, form: VerifyNowForm, status: int = 200
) -> HttpResponse:
    store = checkpoints.checkpoint_store()
    sizes = store.sizes()
    state = verification_state()
    return render(
        request,
        "audit/integrity.html",
        {
            "verification": state.latest,
            "verification_state": state,
            "head": audit_head_sequence(),
            "checkpoint_sizes": list(reversed(sizes[-50:])),
            "verifier_key": checkpoints.log_verifier_key(),
            "anchor": checkpoints.retention_anchor_latest(),
            "verify_form": form,
        },
        status=status,
    )


@require_GET
@auditor_required
def integrity(request: HttpRequest) -> HttpResponse:
    viewed(request, "integrity")
    return _integrity_render(request, form=VerifyNowForm())


@require_POST
@auditor_required
def integrity_verify(request: HttpRequest) -> HttpResponseBase:
    """ "Verify now": an auditor's explicit, confirmed and audited request. The run itself
    is the beat's task (a worker, not this request, reads a million events)."""
    form = VerifyNowForm(request.POST)
    if not form.is_valid():
        return _integrity_render(request, form=form, status=400)
    full = form.cleaned_data["full"]
    audit.record(
        action=Action.AUDIT_VERIFICATION_REQUEST, actor=request.user, details={"full": full}
    )
    try:
        audit_log_verify_and_alert.delay(full=full)
    except BrokerUnreachable:
        # Redis down or silent (past SECUREDRIVE_BROKER_TIMEOUT_S): say so, not a 500.
        logger.exception("could not enqueue the audit log verification")
        audit.record(
            action=Action.AUDIT_VERIFICATION_REQUEST,
            outcome=Outcome.ERROR,
            actor=request.user,
            details={"full": full, "reason": "task queue unreachable"},
        )
        messages.error(
            request,
            _(
                "The verification could not be requested: the task queue does not answer. "
                "Try again in a few minutes."
            ),
        )
        return redirect("audit:integrity")
    messages.success(
        request,
        _("Verification requested: its result appears below as soon as the worker has run it."),
    )
    return redirect("audit:integrity")


@require_GET
@auditor_required
def checkpoint_file(request: HttpRequest, tree_size: int) -> HttpResponse:
    store = checkpoints.checkpoint_store()
    if tree_size not in store.sizes():
        raise Http404
    viewed(request, "checkpoint", tree_size=tree_size)
    response = HttpResponse(store.read(tree_size), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="checkpoint-{tree_size}.txt"'
    return response


@require_GET
@auditor_required
def inclusion_proof(request: HttpRequest, sequence: int) -> HttpResponse:
    """Proof that event ``sequence`` is in the checkpoint of size ``size``."""
    store = checkpoints.checkpoint_store()
    tree_size = _positive_int(request.GET.get("size"))
    sizes = [size for size in store.sizes() if size >= sequence]
    if tree_size is None and sizes:
        tree_size = sizes[0]
    if tree_size is None or tree_size not in sizes:
        raise Http404
    try:
        checkpoints.checkpoint_open_trusted(store, tree_size)
    except NoteError as error:
        return HttpResponseBadRequest(str(error))
    if not AuditEvent.objects.filter(sequence=sequence).exists():
        raise Http404  # purged under the retention policy, or never written
    viewed(request, "inclusion_proof", sequence=sequence, tree_size=tree_size)
    try:
        document = checkpoints.inclusion_proof_document(sequence=sequence, tree_size=tree_size)
    except ProofError as error:
        return HttpResponseBadRequest(str(error))
    return JsonResponse(document)


@require_GET
@auditor_required
def consistency_proof(request: HttpRequest) -> HttpResponse:
    store = checkpoints.checkpoint_store()
    first = _positive_int(request.GET.get("first"))
    second = _positive_int(request.GET.get("second"))
    sizes = store.sizes()
    if first is None or second is None or first > second or second not in sizes:
        raise Http404
    viewed(request, "consistency_proof", first_size=first, second_size=second)
    try:
        document = checkpoints.consistency_proof_document(first_size=first, second_size=second)
    except ProofError as error:
        return HttpResponseBadRequest(str(error))
    return JsonResponse(document)


@require_GET
@auditor_required
def public_key(request: HttpRequest, key_format: str) -> HttpResponse:
    if key_format == "pem":
        body = checkpoints.public_key_pem().decode()
    elif key_format == "vkey":
        body = checkpoints.log_verifier_key() + "\n"
    else:
        raise Http404
    response = HttpResponse(body, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="securedrive-audit.{key_format}"'
    return response


@require_GET
@auditor_required
def alert_list(request: HttpRequest) -> HttpResponse:
    viewed(request, "alerts")
    alerts = audit_alerts_recent()
    words = alerts_in_words(alerts)
    return render(
        request,
        "audit/alerts.html",
        {
            "alerts": [(alert, words[alert.pk]) for alert in alerts],
            "time_zone": settings.TIME_ZONE,
        },
    )
