"""OpenID Connect Back-Channel Logout 1.0: the provider tells SecureDrive that a person
signed out there, and their SecureDrive sessions end.

The logout token is a JWT checked as §2.6 asks: signed with one of the provider's keys
(the JWKS is fetched again once for an unknown ``kid``: a rotated key), ``iss`` the
provider, ``aud`` our client, ``iat`` present and recent, the back-channel ``events``
member, ``sub`` or ``sid``, no ``nonce``, and a ``jti`` never seen before (replay).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from accounts import sessions
from accounts.models import UserSession
from audit import services as audit
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from sso.models import ExternalIdentity, LogoutTokenSeen, ProviderSession
from sso.providers import SIGNING_ALGORITHMS, Provider, jwk_set

if TYPE_CHECKING:
    from joserfc.jwk import KeySetSerialization

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TYPE = "logout+jwt"  # noqa: S105  (a JWT "typ", not a secret)
# A logout token older than this is refused: it is sent the moment the person signs
# out, and a short window bounds how long the replay table must remember a jti.
MAX_AGE = dt.timedelta(minutes=10)
# Logout tokens are small (a few hundred bytes); anything far bigger is not one.
MAX_TOKEN_LENGTH = 16_384


class LogoutTokenInvalid(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class LogoutClaims:
    subject: str
    sid: str
    jti: str


# Anyone can post a token naming a made-up key id: the provider's keys are fetched again
# for an unknown kid at most this often per provider, not once per request.
KEY_REFRESH_INTERVAL_S = 10.0
_last_key_refresh: dict[str, float] = {}


def _decoded(provider: Provider, token: str) -> jwt.Token:
    registry = JWSRegistry(algorithms=list(SIGNING_ALGORITHMS))
    try:
        keys = KeySet.import_key_set(cast("KeySetSerialization", jwk_set(provider)))
        return jwt.decode(token, keys, registry=registry)
    except InvalidKeyIdError as error:
        now = time.monotonic()
        if now - _last_key_refresh.get(provider.issuer, -KEY_REFRESH_INTERVAL_S) < (
            KEY_REFRESH_INTERVAL_S
        ):
            raise LogoutTokenInvalid("unknown key id") from error
        _last_key_refresh[provider.issuer] = now
        fresh = cast("KeySetSerialization", jwk_set(provider, refresh=True))
        keys = KeySet.import_key_set(fresh)
        return jwt.decode(token, keys, registry=registry)


def logout_token_validate(*, provider: Provider, token: str) -> LogoutClaims:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise LogoutTokenInvalid("missing or oversized logout_token")
    try:
        decoded = _decoded(provider, token)
    except JoseError as error:
        raise LogoutTokenInvalid(
            f"signature or format: {getattr(error, 'error', error)}"
        ) from error
    except (ValueError, TypeError, json.JSONDecodeError) as error:
        raise LogoutTokenInvalid("not a JWT") from error
    header, claims = decoded.header, decoded.claims
    if header.get("typ") not in (None, LOGOUT_TOKEN_TYPE, f"application/{LOGOUT_TOKEN_TYPE}"):
        raise LogoutTokenInvalid("wrong typ")
    if claims.get("iss") != provider.issuer:
        raise LogoutTokenInvalid("wrong issuer")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if provider.client_id not in audiences:
        raise LogoutTokenInvalid("wrong audience")
    now = time.time()
    leeway = settings.OIDC_CLOCK_LEEWAY_S
    issued_at = claims.get("iat")
    if not isinstance(issued_at, int | float) or isinstance(issued_at, bool):
        raise LogoutTokenInvalid("no iat")
    if issued_at > now + leeway or issued_at < now - MAX_AGE.total_seconds() - leeway:
        raise LogoutTokenInvalid("iat out of range")
    expires = claims.get("exp")
    if expires is not None and (not isinstance(expires, int | float) or expires < now - leeway):
        raise LogoutTokenInvalid("expired")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
        raise LogoutTokenInvalid("no back-channel logout event")
    if "nonce" in claims:
        raise LogoutTokenInvalid("nonce present")
    subject, sid, jti = claims.get("sub"), claims.get("sid"), claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise LogoutTokenInvalid("no jti")
    subject = subject if isinstance(subject, str) else ""
    sid = sid if isinstance(sid, str) else ""
    if not subject and not sid:
        raise LogoutTokenInvalid("neither sub nor sid")
    return LogoutClaims(subject=subject, sid=sid, jti=jti[:255])


def refused_record(*, provider: Provider | None, reason: str, **extra: Any) -> AuditEvent:
    return audit.record(
        action=Action.SSO_BACKCHANNEL_LOGOUT,
        outcome=Outcome.DENIED,
        details={"provider": provider.slug if provider else "", "reason": reason, **extra},
    )


def logout_apply(*, provider: Provider, claims: LogoutClaims) -> int:
    """End the SecureDrive sessions the provider's logout names; the number ended.

    With a ``sid``: the sessions that provider session opened. With only a ``sub``:
    every session of that person (Back-Channel Logout §2.5). The jti is recorded in the
    same transaction, so a replayed token ends nothing (``LogoutTokenInvalid``).
    """
    with transaction.atomic():
        LogoutTokenSeen.objects.filter(received_at__lt=timezone.now() - 2 * MAX_AGE).delete()
        try:
            with transaction.atomic():
                LogoutTokenSeen.objects.create(issuer=provider.issuer, jti=claims.jti)
        except IntegrityError as error:
            raise LogoutTokenInvalid("replayed jti") from error
        identities = ExternalIdentity.objects.filter(issuer=provider.issuer)
        if claims.subject:
            identities = identities.filter(subject=claims.subject)
        targets: list[UserSession] = []
        if claims.sid:
            targets = [
                link.user_session
                for link in ProviderSession.objects.select_related("user_session").filter(
                    identity__in=identities, sid=claims.sid, user_session__ended_at__isnull=True
                )
            ]
        elif claims.subject:
            targets = list(
                UserSession.objects.filter(
                    user__in=identities.values("user"), ended_at__isnull=True
                )
            )
        for user_session in targets:
            sessions.user_session_end(
                user_session=user_session, reason=sessions.EndReason.PROVIDER_LOGOUT
            )
        person = identities.select_related("user").first() if claims.subject else None
        details: dict[str, Any] = {
            "provider": provider.slug,
            "subject": claims.subject,
            "sid": claims.sid,
            "sessions_ended": len(targets),
        }
        audit.record(
            action=Action.SSO_BACKCHANNEL_LOGOUT,
            actor_label=f"identity provider {provider.slug}",
            target_type="accounts.user" if person else "",
            target_id=person.user.pk if person else "",
            details=details,
        )
    return len(targets)
