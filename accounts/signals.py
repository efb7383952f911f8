"""Audit and session receivers for Django's authentication signals."""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from accounts import lockout, reauth, sessions
from accounts.models import AccountPolicy, User, UserSession
from audit import floods
from audit import services as audit
from audit.actions import Action
from audit.context import client_ip
from audit.models import AuditEvent, Outcome
from core.ratelimit import address_counted


@receiver(user_logged_in)
def _login_succeeded(sender: object, request: HttpRequest, user: User, **kwargs: Any) -> None:
    device_cookie = request.COOKIES.get(sessions.DEVICE_COOKIE, "")
    new_device = sessions.device_is_new(user=user, device_hash=sessions.device_hash_of(request))
    # A brand-new account's first sign-in is on a "new device" by definition: alerting
    # the person about their own first visit teaches them to ignore the alert.
    first_sign_in = not UserSession.objects.filter(user=user).exists()
    if not device_cookie:
        device_cookie = sessions.device_cookie_new()
        # SessionPolicyMiddleware sets it on the response.
        request.securedrive_device_cookie = device_cookie  # type: ignore[attr-defined]
    user_session = sessions.user_session_start(
        request=request, user=user, device_cookie=device_cookie
    )
    # A sign-in is a fresh proof of the first factor: a first second factor may be
    # added within the window of recent authentication (accounts/reauth.py).
    reauth.sign_in_record(request)
    audit.record(
        action=Action.ACCOUNTS_LOGIN,
        actor=user,
        target_type="accounts.user",
        target_id=user.pk,
        details={"session": user_session.pk, "new_device": new_device},
    )
    if new_device and not first_sign_in and AccountPolicy.current().login_notification:
        from accounts.tasks import login_notification_send

        # Robust, as every enqueue after a commit: a broker that is down loses this
        # e-mail (logged), never the sign-in that already committed.
        transaction.on_commit(lambda: login_notification_send.delay(user_session.pk), robust=True)


@receiver(user_login_failed)
def _login_failed(
    sender: object, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # The attempted identifier is recorded as typed; the password is masked by Django.
    attempted = str(credentials.get("username") or credentials.get("email") or "")[:320]
    # django-axes' receiver runs first (its app is listed before ours): during a lockout
    # the password was not even checked.
    failures = int(getattr(request, "axes_failures_since_start", 0))
    locked_out = bool(getattr(request, "axes_locked_out", False))
    reason = (
        "locked out"
        if locked_out and failures > settings.AXES_FAILURE_LIMIT
        else lockout.REASON_INVALID_CREDENTIALS
    )
    # A leaver trying their old password: said so to the auditor, against the account
    # (the browser is told nothing more than for a wrong password).
    deactivated = (
        User.objects.filter(email__iexact=attempted, is_active=False).first()
        if attempted and reason == lockout.REASON_INVALID_CREDENTIALS
        else None
    )
    if deactivated is not None:
        reason = "account deactivated"
    details = {"reason": reason}
    # Which browser (its device cookie's hash, shortened): a browser the person signed
    # in with before is held by its own failures only (accounts.lockout).
    device_hash = sessions.device_hash_of(request) if request is not None else ""
    if device_hash:
        details["device"] = device_hash[: lockout.DEVICE_DETAIL_LENGTH]

    def refused(flood: dict[str, Any] | None = None) -> AuditEvent:
        return audit.record(
            action=Action.ACCOUNTS_LOGIN,
            outcome=Outcome.DENIED,
            actor_label=attempted,
            target_type="accounts.user" if deactivated else "",
            target_id=deactivated.pk if deactivated else "",
            details={**details, **(flood or {})},
        )

    if reason != "locked out" or request is None:
        refused()
        return
    # Refused without even checking the password: on record once per address and
    # window, then counted (audit/floods.py), whichever accounts are tried from it.
    address = client_ip(request)
    floods.rate_limited_record(
        endpoint="accounts.sign_in",
        # What django-axes counted (accounts.lockout.lockout_address): an IPv6 network.
        source=address_counted(address),
        ip_address=address,
        actor_label="anonymous",
        record=refused,
    )


@receiver(user_locked_out)
def _locked_out(sender: object, request: HttpRequest, username: str, **kwargs: Any) -> None:
    lockout.lockout_record(request=request, username=str(username or "")[:320])


@receiver(user_logged_out)
def _logged_out(sender: object, request: HttpRequest, user: User | None, **kwargs: Any) -> None:
    session_key = request.session.session_key
    if session_key:
        UserSession.objects.filter(session_key=session_key, ended_at__isnull=True).update(
            end_reason=sessions.EndReason.SIGNED_OUT, ended_at=timezone.now()
        )
    if user is not None:
        audit.record(
            action=Action.ACCOUNTS_LOGOUT,
            actor=user,
            target_type="accounts.user",
            target_id=user.pk,
        )
