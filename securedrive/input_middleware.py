"""The project's middleware for query strings no page can use: a NUL character.

PostgreSQL refuses NUL in any text it is given ("A string literal cannot contain NUL"),
so a ``?q=%00`` that reaches a search or a filter was a 500 on every page reading its
parameters raw (files search and trash, people, users, the auditor's questions,
DICOM studies). Form fields already refuse NUL (Django's and DRF's ``CharField``);
query strings are read raw, hence one check here for all of them, before any view.

Only the query string is read: the body of an upload must stay unread until its view
streams it (files/request_body.py). It lives in the project package, not in ``core``,
because it writes an audit event.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from audit.actions import Action
from core.log_format import tokens_redacted

# Answered as JSON: the REST API, the tus and STOW-RS endpoints, SCIM.
_MACHINE_PREFIXES = ("/api/", "/scim/")


def query_nul_parameter(request: HttpRequest) -> str | None:
    """The name of the first query parameter holding a NUL (in its name or value)."""
    for key, values in request.GET.lists():
        if "\x00" in key or any("\x00" in value for value in values):
            return key.replace("\x00", "")
    return None


class QueryStringNulMiddleware:
    """Refuses a query string holding a NUL with a clear 400, audited, never a 500."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        parameter = query_nul_parameter(request)
        if parameter is None:
            response: HttpResponse = self.get_response(request)
            return response
        from audit import services as audit
        from audit.models import Outcome

        user = getattr(request, "user", None)
        audit.record(
            action=Action.REQUEST_QUERY_REFUSE,
            outcome=Outcome.DENIED,
            actor=user if user is not None and user.is_authenticated else None,
            # The parameter's name, never its value (a search may be a patient's name).
            details={
                "reason": "nul",
                "parameter": parameter[:64],
                # A link's token is a capability: never in the audit log (/s/[token]/).
                "path": tokens_redacted(request.path)[:200],
            },
        )
        message = _("The address contains a null character, which cannot be used: correct it.")
        if request.path.startswith(_MACHINE_PREFIXES):
            return JsonResponse({"detail": message}, status=400)
        return render(request, "400.html", {"explanation": message}, status=400)
