"""The questions an auditor asks, each a page with a shareable URL (its GET parameters)
and the signed export of exactly its rows (the same filter, through /audit/export.*).

HTTP only, like audit/views.py: the filters are in audit.selectors, the words in
audit.readable, the names of files and people come from the apps (audit.resolvers).
The expert's explorer (/audit/explore/) stays for everything else.
"""

from __future__ import annotations

import dataclasses

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audit import exports, reports, resolvers
from audit import services as audit
from audit.actions import Action
from audit.forms import EventFilterForm, ItemForm
from audit.selectors import (
    QUESTION_FAILURES,
    QUESTION_OUTSIDE,
    EventFilter,
    audit_head_sequence,
    links_use,
    renamed_items,
    verification_state,
)
from audit.views import auditor_required, event_list, events_page_read, viewed

SEARCH_MAX_LENGTH = 200


def _search_text(request: HttpRequest) -> str:
    return (request.GET.get("q") or "").strip()[:SEARCH_MAX_LENGTH]


@require_GET
@auditor_required
def home(request: HttpRequest) -> HttpResponseBase:
    """The questions. A URL with filter parameters (shared before the questions existed)
    still opens the explorer on them."""
    if request.GET:
        return event_list(request)
    viewed(request, "questions")
    return render(
        request,
        "audit/questions.html",
        {"verification_state": verification_state(), "head": audit_head_sequence()},
    )


def _items_found(text: str) -> list[resolvers.Item]:
    """Files and folders named like ``text`` now, then those that were named so before
    a rename (saying the name they had)."""
    matches = resolvers.items_search(text)
    known = {match.key for match in matches}
    renamed = {key: name for key, name in renamed_items(text).items() if key not in known}
    for kind in ("file", "folder"):
        ids = [key.partition(":")[2] for key in renamed if key.startswith(f"{kind}:")]
        for item in resolvers.items(kind, ids).values() if ids else ():
            matches.append(dataclasses.replace(item, formerly=renamed[item.key]))
    return matches


@require_GET
@auditor_required
def file_history(request: HttpRequest) -> HttpResponse:
    """Who accessed this file, or this folder and everything under it? Found by typing
    part of its name or path; items in the trash or deleted for good are found too."""
    text = _search_text(request)
    item_key = request.GET.get("item", "")
    if not item_key:
        viewed(request, "question_file", q=text)
        matches = _items_found(text) if text else []
        return render(request, "audit/question_file.html", {"q": text, "matches": matches})
    found = events_page_read(request, page="question_file", preset={})
    kind, _sep, identifier = item_key.partition(":")
    item = resolvers.items(kind, [identifier]).get(identifier) if found.query.item else None
    return render(
        request,
        "audit/question_file.html",
        {
            **found.context(),
            "q": text,
            "item": item,
            "item_key": item_key,
            "keep": [("item", item_key), ("q", text)],
        },
        # An id nothing names (no such item, no event) is a 404; an item whose row is
        # gone but whose events remain still shows them.
        status=404 if found.query.item and item is None and not found.events else found.status,
    )


@require_GET
@auditor_required
def person_activity(request: HttpRequest) -> HttpResponse:
    """What did this person do between these dates? Leavers are found too; a person is
    their account's events and every attempt made under their e-mail address."""
    text = _search_text(request)
    address = (request.GET.get("actor") or "").strip()
    if not address:
        viewed(request, "question_person", q=text)
        matches = resolvers.people_search(text) if text else []
        return render(request, "audit/question_person.html", {"q": text, "matches": matches})
    found = events_page_read(request, page="question_person", preset={})
    exact = [
        match
        for match in resolvers.people_search(address, limit=5)
        if match.email.lower() == address.lower()
    ]
    person = exact[0] if exact else None
    return render(
        request,
        "audit/question_person.html",
        {
            **found.context(),
            "q": text,
            "person": person,
            "address": address,
            "keep": [("actor", address), ("q", text)],
        },
        status=found.status,
    )


@require_GET
@auditor_required
def outside(request: HttpRequest) -> HttpResponse:
    """What left the organisation? Every link made for someone outside (alone or by a
    transfer): to whom, what, when, from whom, and whether they opened it."""
    found = events_page_read(
        request, page="question_outside", preset={"question": QUESTION_OUTSIDE}
    )
    uses = links_use([event.target_id for event in found.events])
    return render(
        request,
        "audit/question_outside.html",
        {
            **found.context(),
            "opened": [(row, uses.get(row.event.target_id)) for row in found.rows],
        },
        status=found.status,
    )


@require_GET
@auditor_required
def failures(request: HttpRequest) -> HttpResponse:
    """Failed and refused attempts: wrong passwords and codes, refused links, quarantined
    files, denied addresses, failed sign-ins."""
    found = events_page_read(
        request, page="question_failures", preset={"question": QUESTION_FAILURES}
    )
    return render(request, "audit/question_failures.html", found.context(), status=found.status)


@require_GET
@auditor_required
def access_now(request: HttpRequest) -> HttpResponse:
    """Who can access this file or folder right now, and why: the space's owner or team,
    shares on it or above it, links that still open (alone or through a transfer)."""
    form = ItemForm(request.GET)
    if not form.is_valid():
        viewed(request, "question_access")
        return render(request, "audit/question_access.html", {"form": form}, status=400)
    item_key = form.cleaned_data["item"]
    viewed(request, "question_access", item=item_key)
    kind, _sep, identifier = item_key.partition(":")
    item = resolvers.items(kind, [identifier]).get(identifier)
    if item is None:
        raise Http404
    return render(
        request,
        "audit/question_access.html",
        {"item": item, "item_key": item_key, "access": resolvers.access_now(kind, identifier)},
    )


@require_GET
@auditor_required
def report(request: HttpRequest) -> HttpResponse:
    """An investigation report of a question (a file or folder, a person, a date range),
    print-ready, with the signed exports of the same events (audit/reports.py).
    Generating one is recorded, with the question and the export's hash."""
    form = EventFilterForm(request.GET)
    query = form.event_filter() if form.is_valid() else None
    if query is None or not (query.item or query.actor or query.since or query.until):
        viewed(request, "report")
        return render(
            request,
            "audit/report_refused.html",
            {"form": form},
            status=400,
        )
    if query.up_to_sequence is None:
        query = EventFilter(**{**vars(query), "up_to_sequence": audit_head_sequence()})
    built = reports.report_build(query, signer=exports.signer(request.user))
    audit.record(
        action=Action.AUDIT_REPORT,
        actor=request.user,
        details={
            **query.as_details(),
            "events": built.totals.events,
            "csv_sha256": built.exports[0].sha256 if built.exports else "",
        },
    )
    pinned = request.GET.copy()
    pinned["upto"] = str(query.up_to_sequence)
    return render(
        request,
        "audit/report.html",
        {
            "report": built,
            "export_query": pinned.urlencode(),
            "time_zone": settings.TIME_ZONE,
            "rows": built.rows,
        },
    )
