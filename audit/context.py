"""Who is asking, from where: the request context attached to audit events.

The middleware fills a context variable for the duration of a request, so services
deep below a view record the client's address and user agent without threading the
request through every call. Celery tasks and commands run without it (empty values).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest


@dataclass(frozen=True)
class RequestContext:
    ip_address: str = ""
    user_agent: str = ""


EMPTY = RequestContext()
_current: contextvars.ContextVar[RequestContext] = contextvars.ContextVar(
    "audit_request_context", default=EMPTY
)


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or the address the N-th trusted proxy saw (X-Forwarded-For).

    Only the entries appended by our own proxies are trusted: anything further left
    was written by the client and could be forged.
    """
    trusted: int = settings.TRUSTED_PROXY_COUNT
    remote = str(request.META.get("REMOTE_ADDR", ""))
    if trusted <= 0:
        return remote
    header = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
    forwarded = [part.strip() for part in header.split(",") if part.strip()]
    if len(forwarded) >= trusted:
        return forwarded[-trusted][:45]
    return remote


def context_from_request(request: HttpRequest) -> RequestContext:
    return RequestContext(
        ip_address=client_ip(request),
        user_agent=str(request.META.get("HTTP_USER_AGENT", ""))[:512],
    )


def current() -> RequestContext:
    return _current.get()


def activate(context: RequestContext) -> contextvars.Token[RequestContext]:
    return _current.set(context)


def deactivate(token: contextvars.Token[RequestContext]) -> None:
    _current.reset(token)
