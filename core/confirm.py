"""A server-side confirmation step before an irreversible POST (issue #15: no one-click
disasters).

The irreversible view answers a POST that lacks ``confirmed=yes`` with a page that says
exactly what will be lost and carries the posted fields on to a second, confirming
POST. Nothing happens without the second POST, with or without JavaScript (the CSP
forbids inline script, so there is no ``confirm()`` dialog to rely on). What can be
undone (trash, rename, move) is not confirmed: it is offered back with "Undo"
(``undo_offer``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.functional import Promise

CONFIRM_FIELD = "confirmed"
_NOT_CARRIED = {"csrfmiddlewaretoken", CONFIRM_FIELD}


def confirmed(request: HttpRequest) -> bool:
    return request.POST.get(CONFIRM_FIELD) == "yes"


def confirmation_page(
    request: HttpRequest,
    *,
    title: str | Promise,
    losses: Sequence[str | Promise],
    button: str | Promise,
    cancel_url: str,
    details_template: str = "",
    details: Mapping[str, object] | None = None,
    extra_fields: Mapping[str, str] | None = None,
    reversible: bool = False,
    closing: str | Promise = "",
) -> HttpResponse:
    """The page that asks; its form posts the same fields again, to the same URL, with
    ``confirmed=yes``. ``details_template`` replaces the plain list of losses (with
    ``details`` as its context); ``extra_fields`` are posted along (replacing any field
    of the same name). ``reversible``: a grave step that can be reversed later (a
    switch): the page lists what will happen and does not say it cannot be undone.
    ``closing``: the last sentence, when "You can reverse it later from the same page"
    would not say how (a move out of a team space is reversed by a manager)."""
    extra = dict(extra_fields or {})
    carried = [
        (name, value)
        for name, values in request.POST.lists()
        if name not in _NOT_CARRIED and name not in extra
        for value in values
    ] + list(extra.items())
    context = {
        "title": title,
        "losses": losses,
        "button": button,
        "cancel_url": cancel_url,
        "action": request.path,
        "carried": carried,
        "confirm_field": CONFIRM_FIELD,
        "details_template": details_template,
        "reversible": reversible,
        "closing": closing,
        **(details or {}),
    }
    return render(request, "includes/confirm.html", context)


def undo_offer(
    request: HttpRequest,
    message: str,
    *,
    action: str,
    fields: Mapping[str, str | int] | None = None,
) -> None:
    """A success message with an "Undo" button that POSTs ``fields`` to ``action``.

    The offer rides in the message's ``extra_tags`` (JSON), which every message storage
    keeps; the ``undo_offer`` template filter reads it back."""
    offer = {"action": action, "fields": {k: str(v) for k, v in (fields or {}).items()}}
    messages.success(request, message, extra_tags=json.dumps(offer))


def undo_offer_of(extra_tags: str) -> dict[str, object] | None:
    if not extra_tags.startswith("{"):
        return None
    try:
        offer = json.loads(extra_tags)
    except ValueError:
        return None
    return offer if isinstance(offer, dict) and "action" in offer else None
