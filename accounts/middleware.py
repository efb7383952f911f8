from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import sessions
from accounts.models import AccountPolicy, UserSession


class SessionPolicyMiddleware:
    """Enforce idle and absolute timeouts, and refuse revoked sessions at once."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        user = request.user
        session_key = request.session.session_key
        if user.is_authenticated and session_key:
            user_session = UserSession.objects.filter(
                session_key=session_key, ended_at__isnull=True
            ).first()
            now = timezone.now()
            if user_session is None:
                # Revoked, or ended by offboarding: refused on this very request.
                return self._signed_out(request)
            reason = sessions.session_expiry_reason(request, AccountPolicy.current(), now)
            if reason is not None:
                sessions.user_session_end(user_session=user_session, reason=reason)
                sessions.session_expired_record(user=user_session.user, reason=reason)
                return self._signed_out(request)
            sessions.session_touch(request, user_session, now)
        response = self.get_response(request)
        device_cookie = getattr(request, "securedrive_device_cookie", None)
        if device_cookie:
            response.set_cookie(
                sessions.DEVICE_COOKIE,
                device_cookie,
                max_age=sessions.DEVICE_COOKIE_MAX_AGE,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response

    @staticmethod
    def _signed_out(request: HttpRequest) -> HttpResponseBase:
        logout(request)
        messages.info(request, _("Your session has ended. Please sign in again."))
        return redirect("accounts:login")


class MFARequiredMiddleware:
    """A signed-in user without a verified second factor may only enrol or verify one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)
