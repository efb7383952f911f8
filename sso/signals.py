"""What a sign-in, by any way, clears from the browser's session.

A "Link your account" confirmation (or an invitation carried to the provider) waiting in
a shared browser belongs to the person who started it: once someone signs in there, by
password or by a provider, it is dropped, so the next person cannot confirm it and be
signed in as the invitee."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

SIGN_IN_PENDING_SESSION_KEYS = (
    "sd_sso_pending_link",
    "sd_sso_invitation",
    "sd_sso_account_link",
    "sd_sso_next",
)


@receiver(user_logged_in, dispatch_uid="sso-pending-dropped-at-sign-in")
def pending_dropped_at_sign_in(sender: Any, request: HttpRequest | None, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    if session is None:
        return
    for key in SIGN_IN_PENDING_SESSION_KEYS:
        session.pop(key, None)
