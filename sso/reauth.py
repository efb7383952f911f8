"""Confirming "it is you" through the identity provider (accounts/reauth.py).

Someone who signs in only through the organisation's provider has no device of their own
to prove again. Sending them to sign in again is no proof while the provider's own
session is still open on that PC: the provider signs them straight back in, and so it
would whoever sat down at the PC. The confirmation therefore asks the provider to
authenticate the person again (OpenID Connect Core 1.0 §3.1.2.1: ``prompt=login`` and
``max_age=0``), and the answer counts only if it proves it did: its ID token names the
same subject as the signed-in account, and carries an ``auth_time`` (required when
``max_age`` is sent) no earlier than the moment the confirmation started. A provider
that ignores ``prompt`` is caught by that last check.

A plain sign-in through the provider is a recent proof (of the sign-in, and of the second
factor when its assurance is accepted) only when its ``auth_time`` falls within the
window of recent authentication: a sign-in carried by a provider session opened an hour
ago proves nothing about who sits at the PC now.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import reauth
from accounts.models import User
from audit import services as audit
from audit.actions import Action
from audit.models import Outcome
from sso.models import ExternalIdentity
from sso.providers import Provider
from sso.services import (
    DEVICE_TYPE,
    Assertion,
    SignInRefused,
    provider_proof_record,
    time_claim,
)

# The round trip under way in this browser session: provider, account, start time (as a
# Unix time), where to go back, whether a form was refused. Popped by the callback.
REAUTH_SESSION_KEY = "sd_sso_reauth"
# Sent with the confirmation's authorization request.
REAUTH_AUTHORIZE_PARAMETERS = {"prompt": "login", "max_age": "0"}


@dataclass(frozen=True)
class Confirmation:
    """What the callback needs to finish a confirmation round trip."""

    provider_slug: str
    user_id: int
    started_at: float
    next_url: str
    resubmit: bool

    def as_session_data(self) -> dict[str, Any]:
        return {
            "provider": self.provider_slug,
            "user": self.user_id,
            "at": self.started_at,
            "next": self.next_url,
            "resubmit": self.resubmit,
        }

    @classmethod
    def from_session_data(cls, data: object) -> Confirmation | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(
                provider_slug=str(data["provider"]),
                user_id=int(data["user"]),
                started_at=float(data["at"]),
                next_url=str(data.get("next") or ""),
                resubmit=bool(data.get("resubmit")),
            )
        except (KeyError, TypeError, ValueError):
            return None


def identity_for_confirmation(*, user: User, provider: Provider) -> ExternalIdentity | None:
    """The person's confirmed identity at this provider: the only one that may confirm."""
    identity: ExternalIdentity | None = ExternalIdentity.objects.filter(
        user=user, issuer=provider.issuer, provider=provider.slug, confirmed=True
    ).first()
    return identity


def confirmation_start(
    *, user: User, provider: Provider, next_url: str, resubmit: bool
) -> Confirmation:
    return Confirmation(
        provider_slug=provider.slug,
        user_id=user.pk,
        started_at=time.time(),
        next_url=next_url,
        resubmit=resubmit,
    )


def auth_time_of(id_claims: dict[str, Any]) -> int | None:
    return time_claim(id_claims, "auth_time")


def authenticated_recently(auth_time: int | None, *, not_before: float | None = None) -> bool:
    """Whether the provider authenticated the person within the window of recent
    authentication (and not before ``not_before``), allowing the usual clock leeway."""
    if auth_time is None:
        return False
    now = time.time()
    leeway = float(settings.OIDC_CLOCK_LEEWAY_S)
    earliest = now - reauth.proof_window().total_seconds()
    if not_before is not None:
        earliest = max(earliest, not_before)
    return earliest - leeway <= auth_time <= now + leeway


def confirmation_refused_record(
    *, user: User, provider: Provider, reason: str, **extra: Any
) -> None:
    audit.record(
        action=Action.ACCOUNTS_REAUTH,
        outcome=Outcome.DENIED,
        actor=user,
        target_type="accounts.user",
        target_id=user.pk,
        details={
            "device_type": DEVICE_TYPE,
            "purpose": "reauthentication",
            "provider": provider.slug,
            "reason": reason,
            **extra,
        },
    )


def confirmation_check(
    *,
    user: User,
    confirmation: Confirmation,
    assertion: Assertion,
    auth_time: int | None,
    second_factor_needed: bool,
) -> ExternalIdentity:
    """The provider's answer to a confirmation: the same person, authenticated again
    after the confirmation started, at an accepted assurance when the second factor is
    what is being confirmed. Records the outcome; raises ``SignInRefused``."""
    provider = assertion.provider
    identity = identity_for_confirmation(user=user, provider=provider)
    if identity is None or identity.subject != assertion.subject:
        confirmation_refused_record(
            user=user, provider=provider, reason="another person", subject=assertion.subject
        )
        raise SignInRefused(
            _("%(provider)s signed in another person. Sign out of it, then try again.")
            % {"provider": provider.name},
            reason="another person",
            status_code=403,
        )
    if not authenticated_recently(auth_time, not_before=confirmation.started_at):
        confirmation_refused_record(
            user=user,
            provider=provider,
            reason="not authenticated again" if auth_time is not None else "no auth_time",
            auth_time=auth_time,
        )
        raise SignInRefused(
            _("%(provider)s did not ask you to sign in again, so it did not confirm it is you.")
            % {"provider": provider.name},
            reason="not authenticated again",
            status_code=403,
        )
    if second_factor_needed and not assertion.strong:
        confirmation_refused_record(
            user=user, provider=provider, reason="assurance not accepted", acr=assertion.acr
        )
        raise SignInRefused(
            _(
                "%(provider)s confirmed your password but not your second factor. "
                "Confirm with your authenticator app or passkey instead."
            )
            % {"provider": provider.name},
            reason="assurance not accepted",
            status_code=403,
        )
    if assertion.strong:
        identity.second_factor_asserted_at = timezone.now()
        identity.save(update_fields=["second_factor_asserted_at"])
    provider_proof_record(
        action=Action.ACCOUNTS_REAUTH,
        identity=identity,
        assertion=assertion,
        purpose="reauthentication",
        provider=provider.slug,
    )
    return identity
