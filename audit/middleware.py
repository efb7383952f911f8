from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from audit import context


class AuditContextMiddleware:
    """Makes the client's address and user agent available to ``audit.services.record``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        # PostgreSQL stores no NUL in text, and the user agent is stored by the audit
        # log, the session list and django-axes' access log: a forged one with a NUL
        # made every sign-in (and every audited refusal) fail with a 500.
        user_agent = request.META.get("HTTP_USER_AGENT")
        if isinstance(user_agent, str) and "\x00" in user_agent:
            request.META["HTTP_USER_AGENT"] = user_agent.replace("\x00", "\ufffd")
        token = context.activate(context.context_from_request(request))
        try:
            return self.get_response(request)
        finally:
            context.deactivate(token)
