"""Recent authentication ("sudo mode") before the actions a stolen session must not do.

A verified session cookie lifted from a ward PC would otherwise be enough to add the
thief's own passkey or authenticator app, generate recovery codes, mint an API token
(each outliving the session) or, for an administrator, hand out roles. These actions
need a second factor proved within ``settings.REAUTH_MINUTES`` (default 10): at
sign-in, or again on the confirmation page (``accounts:reauth``). The time of the last
proof lives in the session, written only by the places that checked one
(``proof_record``).

One decorator for the views (``recent_proof_required``) and one check for the rest
(the API, the passkey ceremonies): the rule is written once. A refused POST is never
replayed: the person is taken back to the page and does it again, knowingly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.mfa import session_is_verified
from core.http import next_path

View = TypeVar("View", bound=Callable[..., HttpResponseBase])

PROOF_SESSION_KEY = "sd_second_factor_at"
# When this browser session signed in (password, invitation or identity provider): a
# FIRST second factor, added before any exists, needs that sign-in to be recent, or the
# password typed again. Otherwise a session left at the enrolment page on a shared PC
# would let the next person enrol their own authenticator app, and own the account.
SIGN_IN_SESSION_KEY = "sd_signed_in_at"
# Set on the confirmation page's address when the refused request was a form sent:
# the page then says that nothing was done yet.
RESUBMIT_PARAMETER = "resubmit"


def proof_window() -> dt.timedelta:
    return dt.timedelta(minutes=settings.REAUTH_MINUTES)


def proof_record(request: HttpRequest) -> None:
    """This browser session has just proved a second factor (sign-in or confirmation)."""
    request.session[PROOF_SESSION_KEY] = timezone.now().isoformat()


def sign_in_record(request: HttpRequest) -> None:
    """This browser session has just signed in, or typed its password again."""
    request.session[SIGN_IN_SESSION_KEY] = timezone.now().isoformat()


def sign_in_forget(request: HttpRequest) -> None:
    """This sign-in proves nothing recent (an identity provider's old session)."""
    request.session.pop(SIGN_IN_SESSION_KEY, None)


def _recent(request: HttpRequest, key: str) -> bool:
    raw = getattr(request, "session", {}).get(key)
    try:
        proved_at = dt.datetime.fromisoformat(str(raw)) if raw else None
    except ValueError:
        proved_at = None
    if proved_at is None or proved_at.tzinfo is None:
        return False
    now = timezone.now()
    return proved_at <= now and now - proved_at < proof_window()


def proof_is_recent(request: HttpRequest) -> bool:
    """Whether the session proved a second factor within the window.

    A session from before this rule (no time recorded) or with a damaged value is not
    recent: fail closed, the person confirms once more."""
    return _recent(request, PROOF_SESSION_KEY)


def sign_in_is_recent(request: HttpRequest) -> bool:
    """Whether the session signed in (or typed its password again) within the window:
    what a first second factor needs, when there is none to prove yet."""
    return _recent(request, SIGN_IN_SESSION_KEY)


def _return_path(request: HttpRequest) -> str:
    """Where to come back to once confirmed: the page itself for a GET; for a form
    sent, the page it was sent from (a path on this site only), never the POST."""
    if request.method in ("GET", "HEAD"):
        return request.get_full_path()
    referer = urlsplit(request.headers.get("Referer", ""))
    if referer.netloc and referer.netloc != request.get_host():
        return ""
    candidate = referer.path + (f"?{referer.query}" if referer.query else "")
    return next_path(request, candidate)


def confirmation_url(request: HttpRequest, *, url_name: str = "accounts:reauth") -> str:
    query: dict[str, str] = {}
    back = _return_path(request)
    if back:
        query["next"] = back
    if request.method not in ("GET", "HEAD"):
        query[RESUBMIT_PARAMETER] = "1"
    url = reverse(url_name)
    return f"{url}?{urlencode(query)}" if query else url


def recent_proof_required(
    *,
    methods: Collection[str] | None = None,
    unless: Callable[[HttpRequest], bool] | None = None,
) -> Callable[[View], View]:
    """A view decorator: without a recent second factor, send the person to confirm it.

    ``methods`` limits the rule to some HTTP methods (e.g. ``{"POST"}`` where the GET
    only shows a list); ``unless`` lets a request through without one (a first device,
    where there is nothing to prove yet). Put it below ``login_required`` or
    ``site_admin_required``: an anonymous visitor is sent to sign in, not to confirm."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            guarded = (methods is None or request.method in methods) and not (
                unless is not None and unless(request)
            )
            if not guarded or proof_is_recent(request):
                return view(request, *args, **kwargs)
            if not session_is_verified(request.user):
                # MFARequiredMiddleware sends such a session to its second factor first;
                # reached without it (a view called directly), refuse outright.
                raise PermissionDenied
            target = confirmation_url(request)
            if request.headers.get("HX-Request"):
                # htmx would show the page inside the fragment: the whole page goes.
                response = HttpResponse(status=200)
                response["HX-Redirect"] = target
                return response
            messages.info(
                request,
                _("For your security, confirm it is you before continuing."),
                fail_silently=True,
            )
            return redirect(target)

        return cast(View, wrapper)

    return decorator
