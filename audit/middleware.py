from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from audit import context


class AuditContextMiddleware:
    """Makes the client's address and user agent available to ``audit.services.record``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        token = context.activate(context.context_from_request(request))
        try:
            return self.get_response(request)
        finally:
            context.deactivate(token)
