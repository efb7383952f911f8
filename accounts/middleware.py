from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import mfa, sessions
from accounts.models import AccountPolicy, User, UserSession


class SessionPolicyMiddleware:
    """Enforce idle and absolute timeouts, and refuse revoked sessions at once."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        user = request.user
        session_key = request.session.session_key
        serving: int | None = None
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
            if not sessions.request_is_background(request):
                sessions.session_touch(request, user_session, now)
            serving = user_session.pk
        elif not user.is_authenticated:
            sessions.ended_session_refused_record(request)
        token = sessions.serving_session_set(serving)
        try:
            response = self.get_response(request)
        finally:
            sessions.serving_session_reset(token)
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
        if request.headers.get("HX-Request"):
            # htmx would follow a redirect and show the sign-in form inside the page
            # fragment it refreshes; the whole page leaves instead (and what it showed).
            response = HttpResponse(status=200)
            response["HX-Redirect"] = reverse("accounts:login")
            return response
        return redirect("accounts:login")


# Reachable with a password alone: the way to verify or enrol a second factor, signing
# out, switching language and the health probe. Every other view needs the second
# factor, including views added later (fail closed).
MFA_EXEMPT_VIEWS = frozenset(
    {
        "accounts:logout",
        "accounts:mfa_verify",
        "accounts:mfa_verify_recovery",
        "accounts:mfa_enrol",
        "accounts:mfa_enrol_confirm",
        # Confirming the sign-in through the identity provider before a first device
        # (sso/reauth.py): the round trip and its callback.
        "sso:reauth",
        "sso:callback",
        # Her password alone refused a first device where the provider stands for her
        # second factor: signing in again through it (the session ends first).
        "sso:sign_in_again",
        "accounts:mfa_totp_add",
        "accounts:mfa_passkey_add",
        "set_language",
        "healthz",
    }
)
# django-otp-webauthn's endpoints (its registration view itself refuses a new passkey
# to an unverified user who already has a device).
MFA_EXEMPT_NAMESPACES = frozenset({"otp_webauthn"})
API_PREFIX = "/api/"


class MFARequiredMiddleware:
    """A signed-in user without a verified second factor may only enrol or verify one.

    Someone who has a sign-in device is sent to the verification step, someone who has
    none yet to enrolment; the page they asked for comes back as ``next``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., HttpResponseBase],
        view_args: list[Any],
        view_kwargs: dict[str, Any],
    ) -> HttpResponseBase | None:
        user = request.user
        if not user.is_authenticated or mfa.session_is_verified(user):
            return None
        match = request.resolver_match
        if match is not None and (
            match.view_name in MFA_EXEMPT_VIEWS or MFA_EXEMPT_NAMESPACES & set(match.namespaces)
        ):
            return None
        if request.path_info.startswith(API_PREFIX):
            # The API decides for itself: a token, or a session only once verified
            # (accounts.authentication.MFAVerifiedSessionAuthentication). An API client
            # could not follow a redirect to an HTML form anyway. An Authorization
            # header elsewhere proves nothing: those views use the session.
            return None
        has_device = mfa.user_has_primary_device(user=user)
        target = reverse("accounts:mfa_verify" if has_device else "accounts:mfa_enrol")
        if request.method == "GET":
            target = f"{target}?{urlencode({'next': request.get_full_path()})}"
        return redirect(target)


class UserLanguageMiddleware:
    """Remember the language each signed-in person reads SecureDrive in (chosen in the
    menu or given by their browser), so that e-mails sent to them later, from a
    background task, are in the same language. One write when it changes.

    Browser sessions only: a script calling the API with a token sends no language of
    the person's, and must not turn their e-mails English. Verified sessions only: a
    browser holding just the password (a thief's, perhaps) must not choose the language
    of the notices that tell the person what is happening to their account.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.languages = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        user = request.user
        language = getattr(request, "LANGUAGE_CODE", "")  # set by LocaleMiddleware
        in_browser = request.session.get(SESSION_KEY) == str(getattr(user, "pk", ""))
        if (
            in_browser
            and isinstance(user, User)
            and mfa.session_is_verified(user)
            and language in self.languages
            and user.language != language
        ):
            User.objects.filter(pk=user.pk).update(language=language)
            user.language = language
        return response
