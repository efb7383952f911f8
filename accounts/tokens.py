"""Personal access tokens for the API: create, revoke, authenticate, list.

A token is ``sdpat_`` followed by 43 characters of ``secrets.token_urlsafe(32)``:
256 random bits. The prefix makes leaked tokens easy to recognise (secret scanners,
logs) and lets people tell their tokens apart without showing the secret.

Tokens count as a second factor only because they can only be minted from an
MFA-verified browser session (accounts/api.py, accounts/views/tokens.py); a token can
never mint another one.

An auditor holds none (docs/api.md, "Auditors have no API tokens"): her account reads
the whole audit log, every patient file's name and who opened it, through a console
that asks for a second factor and a recent proof of it; a bearer secret living for
weeks on a script's disk would be the one credential of that account that asks for
neither, and the API serves files, not the log. Refused at creation, revoked at the
grant (accounts/roles.py), and refused at use for any left from before this rule.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts.models import AccountPolicy, PersonalAccessToken, TokenScope, User
from audit import services as audit
from audit.actions import Action
from audit.models import Outcome

TOKEN_PREFIX = "sdpat_"  # noqa: S105  (a public marker, not a secret)
# secrets.token_urlsafe(32): 32 random bytes, base64url without padding = 43 characters.
TOKEN_RANDOM_BYTES = 32
# Shown in lists and written to the audit log: "sdpat_" and 6 random characters (36
# bits), enough to tell tokens apart, far too little to help guess the other 220 bits.
DISPLAY_PREFIX_LENGTH = 12
_TOKEN_SHAPE = re.compile(rf"{TOKEN_PREFIX}[A-Za-z0-9_-]{{43}}")
_PREFIX_SHAPE = re.compile(rf"^{TOKEN_PREFIX}[A-Za-z0-9_-]{{0,6}}")

# Writing last_used_at (and an audit event) on every API call would cost a write per
# request and bury the log under thousands of identical lines from one script: once a
# minute per token still answers "is this token in use, from where, since when".
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)

TOKEN_NAME_MAX_LENGTH = 100  # PersonalAccessToken.name


class TokenStatus(models.TextChoices):
    ACTIVE = "active", gettext_lazy("active")
    EXPIRED = "expired", gettext_lazy("expired")
    REVOKED = "revoked", gettext_lazy("revoked")


def token_hash_of(raw: str) -> str:
    """SHA-256, hex.

    A plain fast hash is right here, unlike for passwords: the token is 256 uniformly
    random bits, so there is no dictionary to try and a slow, salted hash (Argon2)
    would add nothing but a cost on every API call. An unsalted hash also allows the
    indexed lookup that makes authentication a single query.
    """
    return hashlib.sha256(raw.encode("ascii")).hexdigest()


def token_status(token: PersonalAccessToken, now: dt.datetime | None = None) -> TokenStatus:
    if token.revoked_at is not None:
        return TokenStatus.REVOKED
    if token.expires_at <= (now or timezone.now()):
        return TokenStatus.EXPIRED
    return TokenStatus.ACTIVE


# --- Selectors ------------------------------------------------------------------------


def tokens_of(*, user: User) -> QuerySet[PersonalAccessToken]:
    """Every token of one person, newest first (active, expired and revoked).

    Views look tokens up by id inside this queryset only: another person's token is then
    a 404, exactly like a token that does not exist.
    """
    return PersonalAccessToken.objects.filter(user=user).order_by("-created_at", "-pk")


def token_get_for_actor(*, actor: User, token_id: int) -> PersonalAccessToken | None:
    """One of ``actor``'s tokens, or None: another person's token is not found, exactly
    like one that does not exist, and the attempt is recorded (someone trying ids)."""
    token = tokens_of(user=actor).filter(pk=token_id).first()
    if token is None:
        audit.record(
            action=Action.ACCOUNTS_TOKEN_REVOKE,
            outcome=Outcome.DENIED,
            actor=actor,
            target_type="accounts.token",
            target_id=token_id,
            details={"reason": "not_found"},
        )
    return token


def tokens_active_count(*, user: User) -> int:
    return PersonalAccessToken.objects.filter(
        user=user, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).count()


def _active_tokens_named(
    *, user: User, name: str, now: dt.datetime
) -> QuerySet[PersonalAccessToken]:
    return PersonalAccessToken.objects.filter(
        user=user, name__iexact=name, revoked_at__isnull=True, expires_at__gt=now
    )


# --- Services -------------------------------------------------------------------------


def _scopes_clean(scopes: Iterable[str]) -> list[str]:
    chosen = set(scopes)
    unknown = sorted(chosen - set(TokenScope.values))
    if unknown:
        raise ValidationError(
            {"scopes": _("Unknown scope: %(scopes)s.") % {"scopes": ", ".join(unknown)}},
            code="invalid_scope",
        )
    if not chosen:
        raise ValidationError({"scopes": _("Choose at least one scope.")}, code="required")
    # Stored in a fixed order so that equal scope sets look equal everywhere.
    return [scope for scope in TokenScope.values if scope in chosen]


def _expiry_clean(expires_in_days: int, policy: AccountPolicy) -> int:
    if expires_in_days < 1:
        raise ValidationError(
            {"expires_in_days": _("A token must expire: choose at least 1 day.")},
            code="min_value",
        )
    if expires_in_days > policy.token_max_days:
        raise ValidationError(
            {
                "expires_in_days": ngettext(
                    "Tokens expire after at most %(days)d day.",
                    "Tokens expire after at most %(days)d days.",
                    policy.token_max_days,
                )
                % {"days": policy.token_max_days}
            },
            code="max_value",
        )
    return expires_in_days


class _AccountDeactivated(Exception):
    """Raised inside token_create's transaction, so that it rolls back, then recorded."""


class _AccountIsAuditor(Exception):
    """Raised inside token_create's transaction (the role read under the row's lock)."""


class AuditorTokenRefused(ValidationError):
    """The refusal of a token to an auditor (recorded already): 403 in the API."""


AUDITOR_REFUSAL = gettext_lazy(
    "An auditor's account has no API tokens: the audit log is read in the browser, "
    "behind your second factor, and the API serves files, not the log."
)


def token_create(
    *, actor: User, name: str, scopes: Iterable[str], expires_in_days: int
) -> tuple[PersonalAccessToken, str]:
    """Mint a token for ``actor``. Returns the token and its plaintext, shown once.

    Callers must make sure the request comes from an MFA-verified browser session,
    never from a token.
    """
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("Give the token a name.")}, code="required")
    if len(name) > TOKEN_NAME_MAX_LENGTH:
        raise ValidationError(
            {"name": _("Use at most %(max)d characters.") % {"max": TOKEN_NAME_MAX_LENGTH}},
            code="max_length",
        )
    clean_scopes = _scopes_clean(scopes)
    days = _expiry_clean(expires_in_days, AccountPolicy.current())

    try:
        return _token_create_locked(actor=actor, name=name, clean_scopes=clean_scopes, days=days)
    except _AccountDeactivated:
        _creation_refused(actor, name, "account deactivated")
        raise ValidationError(
            {NON_FIELD_ERRORS: _("This account was deactivated: no token was made.")},
            code="inactive",
        ) from None
    except _AccountIsAuditor:
        _creation_refused(actor, name, "auditor")
        raise AuditorTokenRefused(
            {NON_FIELD_ERRORS: str(AUDITOR_REFUSAL)}, code="auditor"
        ) from None


def _creation_refused(actor: User, name: str, reason: str) -> None:
    audit.record(
        action=Action.ACCOUNTS_TOKEN_CREATE,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type="accounts.user",
        target_id=actor.pk,
        details={"name": name, "reason": reason},
    )


def _token_create_locked(
    *, actor: User, name: str, clean_scopes: list[str], days: int
) -> tuple[PersonalAccessToken, str]:
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_RANDOM_BYTES)
    now = timezone.now()
    with transaction.atomic():
        # Serialises token creation per person, so two simultaneous requests cannot
        # both pass the unique-name check below; and with the offboarding, which locks
        # the same row: a request authenticated just before a deactivation must not
        # mint a token after it (one no plan revoked, alive again at a reactivation).
        locked = User.objects.select_for_update(no_key=True).filter(pk=actor.pk).first()
        if locked is None or not locked.is_active:
            raise _AccountDeactivated
        if locked.is_auditor:
            raise _AccountIsAuditor
        if _active_tokens_named(user=actor, name=name, now=now).exists():
            raise ValidationError(
                {"name": _("You already have an active token with this name.")}, code="unique"
            )
        token = PersonalAccessToken.objects.create(
            user=actor,
            name=name,
            prefix=plaintext[:DISPLAY_PREFIX_LENGTH],
            token_hash=token_hash_of(plaintext),
            scopes=clean_scopes,
            created_at=now,
            expires_at=now + dt.timedelta(days=days),
        )
        audit.record(
            action=Action.ACCOUNTS_TOKEN_CREATE,
            actor=actor,
            target_type="accounts.token",
            target_id=token.pk,
            details={
                "prefix": token.prefix,
                "name": token.name,
                "scopes": clean_scopes,
                "expires_at": token.expires_at.isoformat(),
            },
        )
    return token, plaintext


def token_revoke(*, actor: User, token: PersonalAccessToken) -> None:
    """Revoke a token at once. Revoking a revoked token changes nothing."""
    with transaction.atomic():
        now = timezone.now()
        # Conditional UPDATE: two simultaneous revocations record one event.
        revoked = PersonalAccessToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=now
        )
        if not revoked:
            return
        token.revoked_at = now
        audit.record(
            action=Action.ACCOUNTS_TOKEN_REVOKE,
            actor=actor,
            target_type="accounts.token",
            target_id=token.pk,
            details={"prefix": token.prefix, "name": token.name, "owner_id": token.user_id},
        )


def tokens_revoke_all(
    *, actor: User | None, user: User, reason: str, actor_label: str = ""
) -> list[str]:
    """Revoke every active token of ``user``, each recorded with its name: what a new
    password or "sign out everywhere" must also end, or a stolen session's token would
    outlive it. Call inside the caller's transaction. Returns the revoked names."""
    now = timezone.now()
    active = (
        PersonalAccessToken.objects.select_for_update()
        .filter(user=user, revoked_at__isnull=True, expires_at__gt=now)
        .order_by("pk")
    )
    revoked = list(active)
    PersonalAccessToken.objects.filter(pk__in=[token.pk for token in revoked]).update(
        revoked_at=now
    )
    for token in revoked:
        audit.record(
            action=Action.ACCOUNTS_TOKEN_REVOKE,
            actor=actor,
            actor_label=actor_label,
            target_type="accounts.token",
            target_id=token.pk,
            details={
                "prefix": token.prefix,
                "name": token.name,
                "owner_id": token.user_id,
                "reason": reason,
            },
        )
    return [token.name for token in revoked]


def _use_denied(*, reason: str, prefix: str, token: PersonalAccessToken | None = None) -> None:
    # Never the token itself: only its public prefix (or the shape of what was sent).
    details = {"reason": reason, "prefix": prefix}
    if token is None:
        audit.record(action=Action.ACCOUNTS_TOKEN_USE, outcome=Outcome.DENIED, details=details)
        return
    audit.record(
        action=Action.ACCOUNTS_TOKEN_USE,
        outcome=Outcome.DENIED,
        actor=token.user,
        target_type="accounts.token",
        target_id=token.pk,
        details=details,
    )


def token_scope_refused_record(
    *, token: PersonalAccessToken, scope: str, method: str, view: str
) -> None:
    """A valid token used for what its scopes do not allow (403)."""
    audit.record(
        action=Action.ACCOUNTS_TOKEN_USE,
        outcome=Outcome.DENIED,
        actor=token.user,
        target_type="accounts.token",
        target_id=token.pk,
        details={
            "reason": "missing scope",
            "scope": scope,
            "prefix": token.prefix,
            "api_token_name": token.name,
            "method": method[:10],
            "view": view[:100],
        },
    )


def token_refusal(token_id: int) -> str | None:
    """Why the token a request was authenticated with may no longer be used ("token
    revoked", "token expired", "account deactivated"), or None: asked again by what
    outlives the moment of sign-in (a download streaming, files.downloads.StreamRecheck;
    a tus PATCH whose body takes minutes, files.views.tus)."""
    now = timezone.now()
    # Still usable, the answer nearly every time: one indexed EXISTS, no rows built. A tus
    # upload asks it once per PATCH (bench/README.md, "what a PATCH costs").
    if PersonalAccessToken.objects.filter(
        pk=token_id, revoked_at__isnull=True, expires_at__gt=now, user__is_active=True
    ).exists():
        return None
    token = PersonalAccessToken.objects.select_related("user").filter(pk=token_id).first()
    if token is None or token.revoked_at is not None:
        return "token revoked"
    if token.expires_at <= now:
        return "token expired"
    if not token.is_usable(now):
        return "account deactivated"
    return None


def token_id_of(request: HttpRequest) -> int | None:
    """The id of the personal access token ``request`` was authenticated with, or None
    (a browser session, a link). The REST framework sets ``auth`` on the Django request
    too once a token authenticated it (accounts.authentication)."""
    auth = getattr(request, "auth", None)
    return auth.pk if isinstance(auth, PersonalAccessToken) else None


def token_authenticate(raw: str, ip: str) -> PersonalAccessToken | None:
    """The usable token whose plaintext is ``raw``, or None (and a denied audit event)."""
    if not _TOKEN_SHAPE.fullmatch(raw):
        shape = _PREFIX_SHAPE.match(raw)
        _use_denied(reason="malformed", prefix=shape.group(0) if shape else "")
        return None
    digest = token_hash_of(raw)
    # An indexed lookup by hash: what timing can reveal is how many leading characters
    # of a SHA-256 matched, which says nothing about any token. compare_digest then
    # keeps the final check constant-time whatever the database does.
    token = PersonalAccessToken.objects.select_related("user").filter(token_hash=digest).first()
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        _use_denied(reason="unknown token", prefix=raw[:DISPLAY_PREFIX_LENGTH])
        return None
    now = timezone.now()
    if not token.is_usable(now):
        if token.revoked_at is not None:
            reason = "revoked"
        elif token.expires_at <= now:
            reason = "expired"
        else:
            reason = "account deactivated"
        _use_denied(reason=reason, prefix=token.prefix, token=token)
        return None
    if token.user.is_auditor:
        # Left from before auditors were refused tokens (the grant revokes them now):
        # no way into her account that skips the second factor (module docstring).
        # Revoked as well as refused, so that withdrawing the role does not revive it.
        with transaction.atomic():
            _use_denied(reason="auditor", prefix=token.prefix, token=token)
            tokens_revoke_all(
                actor=None, user=token.user, reason="held by an auditor", actor_label="system"
            )
        return None
    _use_record(token=token, ip=ip, now=now)
    return token


def _use_record(*, token: PersonalAccessToken, ip: str, now: dt.datetime) -> None:
    """Update last use and audit it, at most once per LAST_USED_RESOLUTION per token."""
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    with transaction.atomic():
        # Conditional UPDATE: of concurrent requests in the same minute, one records.
        claimed = (
            PersonalAccessToken.objects.filter(pk=token.pk)
            .filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION))
            .update(last_used_at=now, last_used_ip=ip[:45])
        )
        if not claimed:
            return
        token.last_used_at = now
        token.last_used_ip = ip[:45]
        audit.record(
            action=Action.ACCOUNTS_TOKEN_USE,
            actor=token.user,
            target_type="accounts.token",
            target_id=token.pk,
            details={"prefix": token.prefix, "scopes": token.scopes},
        )
