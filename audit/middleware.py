from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from audit import context
from audit.refusals import input_refusal_record
from core.errors import rule_error_unwatch, rule_error_watch


class AuditContextMiddleware:
    """Makes the client's address and user agent available to ``audit.services.record``,
    and records every answer refusing what was sent that its view did not audit itself
    (``audit.refusals``): one place, so a new view is covered by construction."""

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
        refusals, rule_errors = context.refusals_watch(), rule_error_watch()
        try:
            response = self.get_response(request)
            input_refusal_record(request, response)
            return response
        finally:
            rule_error_unwatch(rule_errors)
            context.refusals_unwatch(refusals)
            context.deactivate(token)
