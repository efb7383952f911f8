"""Who is asking, from where: the request context attached to audit events.

The middleware fills a context variable for the duration of a request, so services
deep below a view record the client's address and user agent without threading the
request through every call. Celery tasks and commands run without it (empty values).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, replace

from django.conf import settings
from django.http import HttpRequest


@dataclass(frozen=True)
class RequestContext:
    ip_address: str = ""
    user_agent: str = ""
    # The personal access token a request was authenticated with (its prefix and name):
    # every event of that request names it, so the auditor tells a token from a browser.
    api_token: str = ""
    api_token_name: str = ""
    # Someone without an account acting through a capability (``request:<id>``, a file
    # request's link): the services below record the account the capability acts for
    # (the request's owner) as the actor; every event of the request says through what.
    via: str = ""


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
    # The REST framework sets ``auth`` on the request once a token authenticated it
    # (accounts.authentication); read by attribute, audit imports no app.
    auth = getattr(request, "auth", None)
    prefix, name = getattr(auth, "prefix", ""), getattr(auth, "name", "")
    return RequestContext(
        ip_address=client_ip(request),
        user_agent=str(request.META.get("HTTP_USER_AGENT", ""))[:512],
        api_token=prefix if isinstance(prefix, str) else "",
        api_token_name=name if isinstance(name, str) and isinstance(prefix, str) else "",
    )


def token_authenticated(*, prefix: str, name: str) -> None:
    """Called when a token authenticates the current request (after the middleware
    made its context): the events recorded from now on name the token, until the
    middleware restores the context it replaced. Without a request's context (a view
    called without the middleware), nothing: a value set then would never be reset and
    would name this token in the thread's later, unrelated events."""
    current = _current.get()
    if current is EMPTY:
        return
    _current.set(replace(current, api_token=prefix, api_token_name=name))


def acting_through(label: str) -> None:
    """Called when a capability link (a file request's token) authenticates the current
    request: the events recorded from now on carry ``via=label``, until the middleware
    restores the context it replaced. Without a request's context, nothing (as
    ``token_authenticated``)."""
    current = _current.get()
    if current is EMPTY:
        return
    _current.set(replace(current, via=label))


# The refusals (events not a success) recorded during the current request, by id: the
# recorder of refused input (audit.middleware) records nothing more when the view
# already audited its refusal and that event was not rolled back.
_refusals: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "audit_request_refusals", default=None
)


def refusals_watch() -> contextvars.Token[list[int] | None]:
    return _refusals.set([])


def refusals_unwatch(token: contextvars.Token[list[int] | None]) -> None:
    _refusals.reset(token)


def refusal_noted(event_id: int) -> None:
    """Called by ``audit.services.record`` for each event that is not a success."""
    noted = _refusals.get()
    if noted is not None:
        noted.append(event_id)


def refusals_noted() -> list[int]:
    return list(_refusals.get() or [])


def current() -> RequestContext:
    return _current.get()


def activate(context: RequestContext) -> contextvars.Token[RequestContext]:
    return _current.set(context)


def deactivate(token: contextvars.Token[RequestContext]) -> None:
    _current.reset(token)
