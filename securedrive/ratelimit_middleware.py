"""The project's middleware for rate limits that cannot count (core/ratelimit.py).

It lives in the project package, not in ``core``, because it writes an audit event:
``core`` sits below every app and imports none of them.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse

from audit.actions import Action
from core.log_format import tokens_redacted
from core.ratelimit import RateLimitUnavailable, unavailable_response


class RateLimitUnavailableMiddleware:
    """Turns :class:`RateLimitUnavailable` from any view into a clear 503, never a 500."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response: HttpResponse = self.get_response(request)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RateLimitUnavailable):
            from audit import services as audit
            from audit.context import context_from_request
            from audit.models import Outcome

            audit.record(
                action=Action.RATELIMIT_UNAVAILABLE,
                outcome=Outcome.DENIED,
                # A link's token is a capability: never in the audit log (/s/[token]/).
                details={"limiter": str(exception), "path": tokens_redacted(request.path)},
                request=context_from_request(request),
            )
            return unavailable_response(request)
        return None
