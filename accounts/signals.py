"""Audit receivers for Django's authentication signals."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.models import User
from audit import services as audit
from audit.models import Outcome


@receiver(user_logged_in)
def _login_succeeded(sender: object, request: HttpRequest, user: User, **kwargs: Any) -> None:
    audit.record(
        action="accounts.login", actor=user, target_type="accounts.user", target_id=user.pk
    )


@receiver(user_login_failed)
def _login_failed(
    sender: object, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # The attempted identifier is recorded as typed; the password is masked by Django.
    attempted = str(credentials.get("username") or credentials.get("email") or "")[:320]
    audit.record(
        action="accounts.login",
        outcome=Outcome.DENIED,
        actor_label=attempted,
        details={"reason": "invalid credentials"},
    )


@receiver(user_logged_out)
def _logged_out(sender: object, request: HttpRequest, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        audit.record(
            action="accounts.logout", actor=user, target_type="accounts.user", target_id=user.pk
        )
