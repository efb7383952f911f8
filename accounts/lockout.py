"""Password guessing is stopped by django-axes; this module is SecureDrive's side of it.

django-axes counts failed sign-ins per account and per address (AXES_LOCKOUT_PARAMETERS)
and refuses further attempts during the cool-off. Here: how an attempted account is
named, the page a locked-out visitor sees, the audit event of a lockout, and the browsers
an account-wide lockout does not hold (``AccountLockoutHandler.get_failures``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts import sessions
from accounts.models import UserSession
from audit import services as audit
from audit.actions import Action
from audit.context import client_ip
from audit.models import AuditEvent, Outcome
from core.ratelimit import address_counted

# What refused sign-ins record of the browser's device cookie (its SHA-256, shortened):
# enough to count one browser's failures, nothing that would let anyone forge the cookie.
DEVICE_DETAIL_LENGTH = 16
REASON_INVALID_CREDENTIALS = "invalid credentials"


class AccountLockoutHandler(AxesDatabaseHandler):  # type: ignore[misc]  # untyped package
    """django-axes' database handler, except what a correct password clears.

    With ``AXES_RESET_ON_SUCCESS`` django-axes deletes every failure matching *any*
    lockout parameter of the successful sign-in, its address included: the failures
    counted against other accounts from that address went too. A colleague could then
    guess at someone else's password without end, signing into his own account from
    the same PC every four guesses. A correct password proves that one account's
    password only: only that account's failures are cleared.
    """

    def reset_user_attempts(
        self, request: HttpRequest, credentials: dict[str, Any] | None = None
    ) -> int:
        username = attempted_username(request, credentials)
        if not username:
            return 0
        deleted, _by_model = AccessAttempt.objects.filter(username=username).delete()
        return int(deleted)

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        """django-axes' count (the most failures of the account's and the address's),
        except for a browser where this account signed in before.

        Five wrong passwords lock an account from every address: otherwise a botnet
        would get five guesses per address. But then anyone who knows a clinician's
        e-mail address could keep her out of SecureDrive for good, five guesses every
        quarter of an hour. OWASP's answer ("device cookies") is the one here: the
        browser she signed in with before (SecureDrive's long-lived device cookie, in her
        session history) is held by its own failures and its address's only. Someone at
        her very PC still has five guesses, counted from the audit log whatever address
        they come from; a stranger's guesses no longer reach her.
        """
        failures = int(super().get_failures(request, credentials))
        if failures < get_failure_limit(request, credentials):
            return failures
        username = attempted_username(request, credentials)
        device_hash = sessions.device_hash_of(request)
        if not username or not device_hash:
            return failures
        signed_in_here = UserSession.objects.filter(
            user__email__iexact=username, user__is_active=True, device_hash=device_hash
        ).exists()
        if not signed_in_here:
            return failures
        since = get_cool_off_threshold(request)
        address = getattr(request, "axes_ip_address", None) or lockout_address(request)
        by_address = (
            AccessAttempt.objects.filter(ip_address=address, attempt_time__gte=since).aggregate(
                total=Sum("failures_since_start")
            )["total"]
            or 0
        )
        by_this_browser = AuditEvent.objects.filter(
            action=Action.ACCOUNTS_LOGIN,
            outcome=Outcome.DENIED,
            actor_label__iexact=username,
            details__reason=REASON_INVALID_CREDENTIALS,
            details__device=device_hash[:DEVICE_DETAIL_LENGTH],
            occurred_at__gte=since,
        ).count()
        return max(int(by_address), by_this_browser)


def lockout_address(request: HttpRequest) -> str:
    """The address django-axes counts failures of (``AXES_CLIENT_IP_CALLABLE``): the
    client's, as the audit log records it, except that an IPv6 client is its /64 network
    (``core.ratelimit.address_counted``), written as the network's first address
    (``2001:db8:7:7::``: axes stores it in an address column).

    Every IPv6 customer has at least a /64: a guesser taking a new address for each
    password was never locked out per address, five guesses each at as many accounts
    as it liked. The audit events of the attempts keep each request's own address."""
    return address_counted(client_ip(request)).partition("/")[0]


def attempted_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str:
    """The account an attempt was for, normalised like the sign-in form does.

    Without this, "Alice@Hopital.example" and "alice@hopital.example " would be
    counted apart and each get their own five guesses at the same account.
    """
    if credentials:
        typed = credentials.get(settings.AXES_USERNAME_FORM_FIELD)
    else:
        typed = request.POST.get(settings.AXES_USERNAME_FORM_FIELD)
    return str(typed or "").strip().lower()


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """The same page for every locked-out attempt: it never says whether the account
    exists, nor whether the account or the address is the one locked."""
    cool_off: dt.timedelta = settings.AXES_COOLOFF_TIME
    return render(
        request,
        "accounts/lockout.html",
        {"cool_off_minutes": int(cool_off.total_seconds() // 60)},
        status=429,
    )


def lockout_record(*, request: HttpRequest, username: str) -> None:
    """Audit the attempt that started a lockout (called from django-axes' signal).

    django-axes signals every refused attempt during the cool-off; only the one that
    reaches the limit starts the lockout. The refused ones are recorded as denied
    sign-ins with the reason "locked out" (accounts/signals.py).
    """
    failures = int(getattr(request, "axes_failures_since_start", settings.AXES_FAILURE_LIMIT))
    if failures > settings.AXES_FAILURE_LIMIT:
        return
    cool_off: dt.timedelta = settings.AXES_COOLOFF_TIME
    audit.record(
        action=Action.ACCOUNTS_LOCKOUT,
        outcome=Outcome.DENIED,
        actor_label=username,
        details={
            "failures": failures,
            "cool_off_minutes": int(cool_off.total_seconds() // 60),
        },
    )
