"""Two-step verification: authenticator apps (TOTP), passkeys and recovery codes.

Devices are django-otp models: ``AuthenticatorApp`` (``accounts/totp.py``: django-otp's
TOTP device with its secret wrapped under the keyring), ``StaticDevice`` and
django-otp-webauthn's ``WebAuthnCredential``; throttling and replay protection are
django-otp's (``verify_is_allowed``, ``verify_token``, ``last_t``). On top of the per-device
throttle, failed codes are limited per account and per address over a window, counted
from the audit log itself: the limit enforces exactly what auditors see.

Every write takes ``actor=`` and records its audit event in the same transaction.
Refusals are raised as ``MFAError`` *after* that transaction commits, so the failure
count, the throttle and the audit event of a wrong code are never rolled back.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import hashlib
import hmac
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_otp import devices_for_user
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp_webauthn.models import WebAuthnCredential

from accounts import security_notices
from accounts.models import RecoveryCodesKey, User
from accounts.totp import AuthenticatorApp
from audit import context as request_context
from audit import floods
from audit import services as audit
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from audit.selectors import events_from_address
from core.errors import RuleError
from core.keys import keyring


class DeviceKind(enum.StrEnum):
    TOTP = "totp"
    PASSKEY = "passkey"
    RECOVERY_CODES = "recovery_code"


# Sign-in devices: at least one must remain. Recovery codes are a fallback, not a device.
_PRIMARY_MODELS: dict[DeviceKind, type[Any]] = {
    DeviceKind.TOTP: AuthenticatorApp,
    DeviceKind.PASSKEY: WebAuthnCredential,
}

VERIFY_ACTION = Action.ACCOUNTS_MFA_VERIFY
PURPOSE_SIGN_IN = "sign-in"
PURPOSE_ENROLMENT = "enrolment"
# Proving the second factor again before a sensitive action (accounts/reauth.py).
PURPOSE_REAUTH = "reauthentication"
# Wrong codes at sign-in and at a confirmation count together towards the limits.
_VERIFY_ACTIONS = (VERIFY_ACTION, Action.ACCOUNTS_REAUTH)
REASON_INVALID_CODE = "invalid code"
# A right code typed a second time within its 30 seconds (django-otp's ``last_t``):
# read over a shoulder or relayed by a phishing page, not mistyped. The person is told
# the same as for a wrong code (no oracle); the auditor reads the difference.
REASON_CODE_REUSED = "code already used"
REASON_THROTTLED = "device throttled"
REASON_RATE_LIMITED = "too many failures"
# The flood key of a first device refused where the identity provider stands for the
# second factor (first_device_refused_record): one event per person and window.
FIRST_DEVICE_REFUSED_ENDPOINT = "accounts.mfa.enrol"

# Beyond django-otp's per-device back-off (1, 2, 4, 8… seconds): at most this many wrong
# codes per account, and per address (a whole ward may share one), in the window.
MFA_FAILURE_WINDOW = dt.timedelta(minutes=15)
MFA_FAILURES_PER_ACCOUNT = 10
MFA_FAILURES_PER_ADDRESS = 30

RECOVERY_CODE_COUNT = 10
# Lower-case letters and digits without 0/o, 1/l/i: codes are copied by hand from paper.
# 12 characters from 31 give 59 bits, far beyond reach of online guessing.
_RECOVERY_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_RECOVERY_CODE_GROUPS = 3
_RECOVERY_CODE_GROUP_LENGTH = 4


class MFAError(RuleError):
    """A refusal the person can act on; ``message`` is translated and shown to them."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CodeRejected(MFAError):
    pass


class TooManyAttempts(MFAError):
    pass


class LastDeviceError(MFAError):
    pass


# --- Reads (always scoped to the person asking) -------------------------------------------


def session_is_verified(user: object) -> bool:
    """Whether this browser session passed a second factor.

    ``is_verified`` is installed on ``request.user`` by django-otp's OTPMiddleware.
    """
    is_verified = getattr(user, "is_verified", None)
    return bool(callable(is_verified) and is_verified())


def device_kind_of(device: Any) -> DeviceKind:
    if isinstance(device, AuthenticatorApp):
        return DeviceKind.TOTP
    if isinstance(device, WebAuthnCredential):
        return DeviceKind.PASSKEY
    if isinstance(device, StaticDevice):
        return DeviceKind.RECOVERY_CODES
    raise TypeError(f"not an MFA device: {device!r}")


def device_kind_of_session(user: object) -> DeviceKind | None:
    """What verified this browser session (django-otp's ``otp_device``), if one of ours:
    None for an unverified one, or one verified by an identity provider."""
    device = getattr(user, "otp_device", None)
    if device is None:
        return None
    try:
        return device_kind_of(device)
    except TypeError:
        return None


def devices_of(*, user: User, kind: DeviceKind) -> models.QuerySet[Any]:
    """The person's confirmed sign-in devices of one kind (TOTP or passkey)."""
    model = _PRIMARY_MODELS[kind]
    queryset: models.QuerySet[Any] = model.objects.filter(user=user, confirmed=True)
    return queryset.order_by("created_at", "pk")


def primary_device_count(*, user: User) -> int:
    return sum(devices_of(user=user, kind=kind).count() for kind in _PRIMARY_MODELS)


def user_has_primary_device(*, user: User) -> bool:
    return any(devices_of(user=user, kind=kind).exists() for kind in _PRIMARY_MODELS)


def recovery_codes_remaining(*, user: User) -> int | None:
    """How many unused recovery codes the person has; None if they never had any."""
    device = StaticDevice.objects.filter(user=user).first()
    if device is None:
        return None
    return int(device.token_set.count())


def provider_standing_for_second_factor(*, user: User) -> Any | None:
    """The identity provider link (sso.ExternalIdentity) whose accepted assurance has been
    this person's second factor, if any (``stands_for_second_factor``, read without
    importing sso)."""
    for device in devices_for_user(user, confirmed=True):
        stands = getattr(device, "stands_for_second_factor", None)
        if callable(stands) and stands():
            return device
    return None


def may_add_device(*, user: User, verified: bool) -> bool:
    """Adding a device needs the second factor, except for a first enrolment.

    Otherwise a stolen password alone would be enough to add the thief's own device. Nor
    is it a first enrolment when the identity provider has stood for the second factor:
    the password, or a weaker sign-in at the provider, would enrol the thief's app.
    """
    return verified or not (
        user_has_primary_device(user=user) or provider_standing_for_second_factor(user=user)
    )


@dataclass(frozen=True)
class SecurityOverview:
    authenticator_apps: list[Any]
    passkeys: list[Any]
    recovery_codes_remaining: int | None

    @property
    def device_count(self) -> int:
        return len(self.authenticator_apps) + len(self.passkeys)


def security_overview(*, user: User) -> SecurityOverview:
    return SecurityOverview(
        authenticator_apps=list(devices_of(user=user, kind=DeviceKind.TOTP)),
        passkeys=list(devices_of(user=user, kind=DeviceKind.PASSKEY)),
        recovery_codes_remaining=recovery_codes_remaining(user=user),
    )


# --- Failure limits -----------------------------------------------------------------------


def _failures_recent(**where: str) -> models.QuerySet[AuditEvent]:
    return AuditEvent.objects.filter(
        action__in=_VERIFY_ACTIONS,
        outcome=Outcome.DENIED,
        details__reason__in=(REASON_INVALID_CODE, REASON_CODE_REUSED),
        occurred_at__gte=timezone.now() - MFA_FAILURE_WINDOW,
        **where,
    )


def _too_many_failures(actor: User) -> bool:
    if _failures_recent(actor_id=str(actor.pk)).count() >= MFA_FAILURES_PER_ACCOUNT:
        return True
    address = request_context.current().ip_address
    # An IPv6 client's /64 is one address, whichever of its addresses each code came from.
    return (
        bool(address)
        and events_from_address(_failures_recent(), address).count() >= MFA_FAILURES_PER_ADDRESS
    )


def _attempts_check(*, actor: User, kind: DeviceKind, purpose: str) -> None:
    """Refuse (and audit) a code before checking it when too many were wrong lately."""
    if not _too_many_failures(actor):
        return
    _verify_record(
        actor=actor, kind=kind, device=None, purpose=purpose, failure=REASON_RATE_LIMITED
    )
    minutes = int(MFA_FAILURE_WINDOW.total_seconds() // 60)
    raise TooManyAttempts(
        ngettext(
            "Too many incorrect codes. For your security, wait %(minutes)d minute and try again.",
            "Too many incorrect codes. For your security, wait %(minutes)d minutes and try again.",
            minutes,
        )
        % {"minutes": minutes}
    )


@dataclass(frozen=True)
class _CodeCheck:
    failure: str = ""  # "" when the code was accepted
    retry_at: dt.datetime | None = None


def _code_check(device: Any, code: str) -> _CodeCheck:
    """django-otp's own throttle and verification, on a row the caller has locked."""
    allowed, throttle = device.verify_is_allowed()
    if not allowed:
        return _CodeCheck(failure=REASON_THROTTLED, retry_at=(throttle or {}).get("locked_until"))
    if device.verify_token(code):
        return _CodeCheck()
    if isinstance(device, AuthenticatorApp) and _totp_code_already_used(device, code):
        return _CodeCheck(failure=REASON_CODE_REUSED)
    return _CodeCheck(failure=REASON_INVALID_CODE)


def _totp_code_already_used(device: AuthenticatorApp, code: str) -> bool:
    """Whether a code django-otp refused would have passed but for ``last_t``: the
    same window as ``verify_token`` (tolerance and drift), without its floor."""
    if device.last_t < 0 or not code.isdigit():
        return False
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return bool(totp.verify(int(code), device.tolerance))


def _raise_for(check: _CodeCheck) -> None:
    if check.failure == REASON_THROTTLED:
        seconds = 1
        if check.retry_at is not None:
            seconds = max(1, math.ceil((check.retry_at - timezone.now()).total_seconds()))
        raise TooManyAttempts(
            ngettext(
                "Too many attempts. Wait %(seconds)d second before trying again.",
                "Too many attempts. Wait %(seconds)d seconds before trying again.",
                seconds,
            )
            % {"seconds": seconds}
        )
    if check.failure:
        raise CodeRejected(_("This code is not valid. Check it and try again."))


# --- Audit events -------------------------------------------------------------------------


def _verify_record(
    *, actor: User | None, kind: DeviceKind, device: Any, purpose: str, failure: str
) -> None:
    details: dict[str, Any] = {"device_type": kind.value, "purpose": purpose}
    if device is not None:
        # The name its owner gave it ("Work phone"): what an auditor can read, and what
        # still says which one once the device is removed and its id points nowhere.
        details["device"] = device.pk
        details["name"] = device.name
    if failure:
        details["reason"] = failure

    def recorded(flood: dict[str, Any] | None = None) -> AuditEvent:
        return audit.record(
            action=Action.ACCOUNTS_REAUTH if purpose == PURPOSE_REAUTH else VERIFY_ACTION,
            outcome=Outcome.DENIED if failure else Outcome.SUCCESS,
            actor=actor,
            target_type="accounts.user" if actor is not None else "",
            target_id=actor.pk if actor is not None else "",
            details={**details, **(flood or {})},
        )

    if failure not in (REASON_RATE_LIMITED, REASON_THROTTLED) or actor is None:
        recorded()
        return
    # Refused by a limit before the code was even checked: on record once per account
    # and window, then counted (audit/floods.py). The limits count only the codes that
    # were checked (``_failures_recent``), each still recorded.
    floods.rate_limited_record(
        # Apart: an account's limit reached is not hidden behind a device's back-off.
        endpoint="accounts.mfa" if failure == REASON_RATE_LIMITED else "accounts.mfa.device",
        source=f"user:{actor.pk}",
        ip_address=request_context.current().ip_address,
        actor=actor,
        target_type="accounts.user",
        target_id=actor.pk,
        target_name=actor.email,
        record=recorded,
    )


def _device_record(
    *, action: Action, actor: User, device: Any, outcome: str = Outcome.SUCCESS, **extra: Any
) -> None:
    """The event of a device's change; an added or removed one is also told to the person
    by e-mail once it commits (a thief's own passkey must not go unnoticed)."""
    event = audit.record(
        action=action,
        outcome=outcome,
        actor=actor,
        target_type="accounts.user",
        target_id=actor.pk,
        details={
            "device_type": device_kind_of(device).value,
            "device": device.pk,
            "name": device.name,
            **extra,
        },
    )
    if outcome == Outcome.SUCCESS and action in security_notices.NOTIFIED_ACTIONS:
        security_notices.security_notice_queue(event=event)


# --- Authenticator apps (TOTP) ------------------------------------------------------------


def totp_device_pending(*, actor: User, pending_id: int | None) -> Any:
    """The authenticator app being set up in this browser session.

    One unconfirmed device per set-up, remembered by the caller (the session), so a
    reload shows the same secret. A pending device of another session is never reused:
    someone holding only the password could otherwise plant a secret they know.
    Not audited: an unconfirmed device verifies nothing; its confirmation is audited.
    """
    if pending_id is not None:
        device = AuthenticatorApp.objects.filter(pk=pending_id, user=actor, confirmed=False).first()
        if device is not None:
            return device
    return AuthenticatorApp.objects.create(user=actor, confirmed=False, name=_("Authenticator app"))


def totp_device_confirm(*, actor: User, device: Any, code: str, name: str) -> Any:
    """Enrol an authenticator app: its first code proves the secret was copied right."""
    _attempts_check(actor=actor, kind=DeviceKind.TOTP, purpose=PURPOSE_ENROLMENT)
    with transaction.atomic():
        pending = AuthenticatorApp.objects.select_for_update().get(
            pk=device.pk, user=actor, confirmed=False
        )
        check = _code_check(pending, code.replace(" ", ""))
        _verify_record(
            actor=actor,
            kind=DeviceKind.TOTP,
            device=pending,
            purpose=PURPOSE_ENROLMENT,
            failure=check.failure,
        )
        if not check.failure:
            pending.confirmed = True
            pending.name = name.strip()[:64] or _("Authenticator app")
            pending.save(update_fields=["confirmed", "name"])
            # Other set-ups left half-way are of no use any more.
            AuthenticatorApp.objects.filter(user=actor, confirmed=False).delete()
            _device_record(action=Action.ACCOUNTS_MFA_DEVICE_ADD, actor=actor, device=pending)
    _raise_for(check)
    return pending


def totp_device_verify(
    *, actor: User, device: Any, code: str, purpose: str = PURPOSE_SIGN_IN
) -> Any:
    """Second step of signing in with an authenticator app, or a confirmation before a
    sensitive action (``purpose=PURPOSE_REAUTH``). django-otp's ``last_t`` refuses a
    code already used, even within its 30 seconds."""
    _attempts_check(actor=actor, kind=DeviceKind.TOTP, purpose=purpose)
    with transaction.atomic():
        locked = AuthenticatorApp.objects.select_for_update().get(
            pk=device.pk, user=actor, confirmed=True
        )
        check = _code_check(locked, code.replace(" ", ""))
        _verify_record(
            actor=actor,
            kind=DeviceKind.TOTP,
            device=locked,
            purpose=purpose,
            failure=check.failure,
        )
    _raise_for(check)
    return locked


# --- Passkeys (django-otp-webauthn runs the ceremonies; see accounts/webauthn.py) ---------


def passkey_added_record(*, actor: User, device: Any) -> None:
    """Called inside the transaction that saved the new credential."""
    _device_record(action=Action.ACCOUNTS_MFA_DEVICE_ADD, actor=actor, device=device)


def first_device_refused_record(*, actor: User, provider_name: str) -> None:
    """A first device refused: the identity provider's assurance is this person's second
    factor, and this session has not proved it.

    MFARequiredMiddleware sends every page of such a session to the enrolment, so each
    click would be one more event of the same refusal: it is on record once per person
    and window (the episode), the next ones counted and told in one ``ratelimit.flood``
    when the window ends (audit/floods.py); an attempt after that is on record again."""
    reason = f"second factor confirmed by the identity provider {provider_name}"

    def recorded(flood: dict[str, Any]) -> AuditEvent:
        return audit.record(
            action=Action.ACCOUNTS_MFA_DEVICE_ADD,
            outcome=Outcome.DENIED,
            actor=actor,
            target_type="accounts.user",
            target_id=actor.pk,
            details={"reason": reason, **flood},
        )

    floods.rate_limited_record(
        endpoint=FIRST_DEVICE_REFUSED_ENDPOINT,
        source=f"user:{actor.pk}",
        ip_address=request_context.current().ip_address,
        actor=actor,
        target_type="accounts.user",
        target_id=actor.pk,
        target_name=actor.email,
        record=recorded,
    )


def passkey_registration_failed_record(
    *, actor: User, reason: str = "registration rejected"
) -> None:
    audit.record(
        action=Action.ACCOUNTS_MFA_DEVICE_ADD,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type="accounts.user",
        target_id=actor.pk,
        details={"device_type": DeviceKind.PASSKEY.value, "reason": reason},
    )


def passkey_verification_record(
    *, actor: User | None, device: Any, purpose: str = PURPOSE_SIGN_IN
) -> None:
    """A passkey assertion was checked: ``device`` is None when it was rejected."""
    _verify_record(
        actor=actor,
        kind=DeviceKind.PASSKEY,
        device=device,
        purpose=purpose,
        failure="" if device is not None else "passkey rejected",
    )


# --- Recovery codes -----------------------------------------------------------------------


def recovery_code_normalised(typed: str) -> str:
    return "".join(character for character in typed.lower() if character.isalnum())


# StaticToken.token holds 16 characters. Keyed hashes: "k:" and 64 bits of
# HMAC-SHA256 in base32 (13 characters), never confused with the first release's
# 16 hexadecimal digits.
_RECOVERY_CODE_KEYED_PREFIX = "k:"
_RECOVERY_CODE_HMAC_LABEL = b"securedrive recovery-code hmac key/1"


def _recovery_code_material(*, user: User, code: str) -> bytes:
    return f"securedrive.recovery-code:{user.pk}:{recovery_code_normalised(code)}".encode()


def _recovery_code_digest(*, user: User, code: str, kek_id: str | None = None) -> str:
    """What is stored instead of the code, like a password hash.

    django-otp keeps static tokens as plain text; a copy of the database must not hand
    out codes that are still valid, nor let anyone search the 2^59 codes offline: the
    hash is an HMAC under a key derived from a key-encryption key of the keyring, which
    lives outside the database (``kek_id``: the current one unless named). The account
    id keeps one person's codes from matching another's.
    """
    ring = keyring()
    kek = ring.get(kek_id or ring.current_key_id)
    # A key of its own for this use, derived from the KEK (which only wraps keys).
    hmac_key = hmac.new(kek.secret, _RECOVERY_CODE_HMAC_LABEL, hashlib.sha256).digest()
    mac = hmac.new(hmac_key, _recovery_code_material(user=user, code=code), hashlib.sha256)
    return _RECOVERY_CODE_KEYED_PREFIX + base64.b32encode(mac.digest()[:8]).decode()[:13]


def _recovery_code_digest_unkeyed(*, user: User, code: str) -> str:
    """The first release's format (SHA-256 cut to 64 bits), recognised so that sheets
    printed before keyed hashes keep working until their owner makes new codes."""
    return hashlib.sha256(_recovery_code_material(user=user, code=code)).hexdigest()[:16]


def _recovery_code_stored(*, device: StaticDevice, user: User, code: str) -> str:
    """The stored value this code matches (under any KEK of the keyring: codes made
    before a rotation, or in the old unkeyed format), else the current keyed hash."""
    ring = keyring()
    current = _recovery_code_digest(user=user, code=code)
    candidates = [current]
    candidates += [
        _recovery_code_digest(user=user, code=code, kek_id=kek_id)
        for kek_id in ring.key_ids()
        if kek_id != ring.current_key_id
    ]
    candidates.append(_recovery_code_digest_unkeyed(user=user, code=code))
    found = device.token_set.filter(token__in=candidates).values_list("token", flat=True)
    return str(found.first() or current)


def _recovery_code_new() -> str:
    groups = (
        "".join(
            secrets.choice(_RECOVERY_CODE_ALPHABET)
            for _position in range(_RECOVERY_CODE_GROUP_LENGTH)
        )
        for _group in range(_RECOVERY_CODE_GROUPS)
    )
    return "-".join(groups)


def _recovery_codes_replace(*, actor: User, only_if_missing: bool) -> list[str]:
    with transaction.atomic():
        # One set per person, even when two requests race to create it.
        User.objects.select_for_update(no_key=True).filter(pk=actor.pk).first()
        device = StaticDevice.objects.filter(user=actor).first()
        if device is not None and only_if_missing:
            return []
        replaced = 0
        if device is not None:
            # A new device, not new codes on the old one: a session opened with an old
            # code (a photographed sheet, the reason to make new ones) is verified by
            # the old device, and django-otp's middleware unverifies a session whose
            # device is gone. The caller keeps its own session verified.
            replaced = int(device.token_set.count())
            device.delete()
        device = StaticDevice.objects.create(user=actor, name=_("Recovery codes"))
        codes = [_recovery_code_new() for _ in range(RECOVERY_CODE_COUNT)]
        # Every code of the set under one KEK, recorded: the codes cannot be re-wrapped,
        # so that key must not leave the keyring unseen (accounts.key_dependents).
        kek_id = keyring().current_key_id
        StaticToken.objects.bulk_create(
            [
                StaticToken(
                    device=device,
                    token=_recovery_code_digest(user=actor, code=code, kek_id=kek_id),
                )
                for code in codes
            ]
        )
        RecoveryCodesKey.objects.create(device=device, kek_id=kek_id)
        generated = audit.record(
            action=Action.ACCOUNTS_MFA_RECOVERY_CODES_GENERATE,
            actor=actor,
            target_type="accounts.user",
            target_id=actor.pk,
            details={"count": len(codes), "unused_codes_replaced": replaced},
        )
        if not only_if_missing:
            # The first set comes with a first device, whose own notice tells of it.
            security_notices.security_notice_queue(event=generated)
    return codes


def recovery_codes_generate(*, actor: User) -> list[str]:
    """A new set of recovery codes; the previous ones stop working, and so does every
    session opened with one of them. Shown once."""
    return _recovery_codes_replace(actor=actor, only_if_missing=False)


def recovery_codes_device_of(*, user: User) -> StaticDevice | None:
    return StaticDevice.objects.filter(user=user).first()


def recovery_codes_ensure(*, actor: User) -> list[str]:
    """Recovery codes come with the first device: new codes if the person has none, else []."""
    return _recovery_codes_replace(actor=actor, only_if_missing=True)


@dataclass(frozen=True)
class RecoveryCodeUse:
    device: Any
    remaining: int


def recovery_code_use(*, actor: User, code: str) -> RecoveryCodeUse:
    """Second step of signing in with a recovery code, which then stops working."""
    _attempts_check(actor=actor, kind=DeviceKind.RECOVERY_CODES, purpose=PURPOSE_SIGN_IN)
    remaining = 0
    with transaction.atomic():
        device = StaticDevice.objects.select_for_update().filter(user=actor, confirmed=True).first()
        if device is None:
            check = _CodeCheck(failure=REASON_INVALID_CODE)
        else:
            stored = _recovery_code_stored(device=device, user=actor, code=code)
            check = _code_check(device, stored)
        _verify_record(
            actor=actor,
            kind=DeviceKind.RECOVERY_CODES,
            device=device,
            purpose=PURPOSE_SIGN_IN,
            failure=check.failure,
        )
        if not check.failure:
            remaining = int(device.token_set.count())
            used = audit.record(
                action=Action.ACCOUNTS_MFA_RECOVERY_CODE_USE,
                actor=actor,
                target_type="accounts.user",
                target_id=actor.pk,
                details={"remaining": remaining},
            )
            # A lost phone, or someone holding the password and a code sheet.
            security_notices.security_notice_queue(event=used)
    _raise_for(check)
    return RecoveryCodeUse(device=device, remaining=remaining)


# --- Managing devices ---------------------------------------------------------------------


def device_rename(*, actor: User, device: Any, name: str) -> None:
    new_name = name.strip()[:64]
    with transaction.atomic():
        old_name = device.name
        device.name = new_name
        device.save(update_fields=["name"])
        _device_record(
            action=Action.ACCOUNTS_MFA_DEVICE_RENAME,
            actor=actor,
            device=device,
            previous_name=old_name,
        )


def device_remove(*, actor: User, device: Any) -> None:
    """Remove a TOTP app or a passkey, never the last one: without a device nobody
    could sign in, and recovery codes alone are a fallback, not a way in."""
    with transaction.atomic():
        # Two removals at once must not both see "one left besides me".
        User.objects.select_for_update(no_key=True).filter(pk=actor.pk).first()
        refused = primary_device_count(user=actor) <= 1
        if refused:
            _device_record(
                action=Action.ACCOUNTS_MFA_DEVICE_REMOVE,
                actor=actor,
                device=device,
                outcome=Outcome.DENIED,
                reason="last device",
            )
        else:
            _device_record(action=Action.ACCOUNTS_MFA_DEVICE_REMOVE, actor=actor, device=device)
            device.delete()
    if refused:
        raise LastDeviceError(
            _(
                "This is your only sign-in device. Add another authenticator app or "
                "passkey before removing it."
            )
        )
