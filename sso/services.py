"""Who a provider's answer signs in, and the audit trail of every step.

The ID token has already been validated (``sso/views.py`` through Authlib: signature with
the provider's keys, issuer, audience, expiry, nonce). Here the validated claims are
turned into an account, in this order, and never by e-mail alone:

1. an identity linked to this (issuer, subject): that account;
2. the person came through an invitation's own link (its token carried through the
   round trip in this browser's session, ``sso/views.py``): the person confirms, then the
   invitation's account is created and linked (``invitation_link``);
3. the administrator lets this provider create accounts and nobody has the address
   (nor a pending invitation): a new account, linked;
4. otherwise refused: an administrator invites the person first.

An invitation is never claimed by an e-mail match alone: providers let people choose or
edit their address, and some never verify it (``REQUIRE_EMAIL_VERIFIED=false``), so the
address would hand the invitation and its proposed roles to whoever asserts it. The link
(a 256-bit token in the invitee's mailbox) is the proof, as on the password path.

Every write takes its actor and records its audit event in the same transaction.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import invitations, mfa
from accounts.errors import AccountRuleError
from accounts.models import Invitation, User, UserSession
from audit import services as audit
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from core.errors import RuleError
from sso.models import ExternalIdentity, ProviderSession
from sso.providers import Provider

DEVICE_TYPE = "identity provider"


class SignInRefused(RuleError):
    """The provider's answer does not open an account; ``reason`` goes to the audit log,
    the message to the person."""

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        status_code: int = 403,
        sign_in_again: Provider | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.status_code = status_code
        # The provider to sign in with again, forced to authenticate the person anew
        # (sso/views.py: sign_in_again), when that is the way forward.
        self.sign_in_again = sign_in_again


@dataclass(frozen=True)
class Assertion:
    """What a provider asserted about the person, from a validated ID token."""

    provider: Provider
    subject: str
    email: str
    email_verified: bool
    full_name: str
    acr: str
    amr: tuple[str, ...]
    sid: str
    # When the provider last authenticated the person (Unix time), if it said so.
    auth_time: int | None = None

    @property
    def strong(self) -> bool:
        return self.provider.asserts_strong_authentication({"acr": self.acr, "amr": list(self.amr)})

    def as_session_data(self) -> dict[str, Any]:
        return {
            "provider": self.provider.slug,
            "subject": self.subject,
            "email": self.email,
            "email_verified": self.email_verified,
            "full_name": self.full_name,
            "acr": self.acr,
            "amr": list(self.amr),
            "sid": self.sid,
            "auth_time": self.auth_time,
        }

    @classmethod
    def from_session_data(cls, provider: Provider, data: dict[str, Any]) -> Assertion:
        return cls(
            provider=provider,
            subject=str(data["subject"]),
            email=str(data["email"]),
            email_verified=bool(data["email_verified"]),
            full_name=str(data["full_name"]),
            acr=str(data["acr"]),
            amr=tuple(str(value) for value in data["amr"]),
            sid=str(data["sid"]),
            auth_time=data["auth_time"] if isinstance(data.get("auth_time"), int) else None,
        )


def _text(value: Any, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def assertion_from(
    *, provider: Provider, id_claims: dict[str, Any], userinfo: dict[str, Any]
) -> Assertion:
    """The person's claims: the ID token's, completed by the UserInfo endpoint's (whose
    ``sub`` must be the same person, OpenID Connect Core 1.0 §5.3.2)."""
    subject = id_claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise SignInRefused(_("The identity provider's answer is not valid."), reason="no subject")
    if userinfo and userinfo.get("sub") != subject:
        raise SignInRefused(
            _("The identity provider's answer is not valid."), reason="userinfo subject differs"
        )
    claims = {**userinfo, **id_claims}
    email = _text(claims.get(provider.email_claim), 254).lower()
    full_name = _text(claims.get("name"), 150) or " ".join(
        part
        for part in (_text(claims.get("given_name"), 75), _text(claims.get("family_name"), 75))
        if part
    )
    verified = claims.get("email_verified")
    amr = id_claims.get("amr")
    auth_time = time_claim(id_claims, "auth_time")
    return Assertion(
        provider=provider,
        subject=subject,
        email=email,
        email_verified=verified is True
        or (verified is None and not provider.require_email_verified),
        full_name=full_name,
        acr=_text(id_claims.get("acr"), 255),
        amr=tuple(_text(value, 64) for value in amr) if isinstance(amr, list) else (),
        sid=_text(id_claims.get("sid"), 255),
        auth_time=auth_time,
    )


def time_claim(claims: dict[str, Any], name: str) -> int | None:
    """A NumericDate claim as whole seconds, None when absent. A value no clock can hold
    (JSON reads 1e400 as infinity; NaN) makes the answer invalid, not a server error."""
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value):
        raise SignInRefused(
            _("The identity provider's answer is not valid."),
            reason=f"{name} is not a time",
            status_code=400,
        )
    return int(value)


# --- Audit events ---------------------------------------------------------------------------


REASON_MAX_LENGTH = 300


def token_refused_record(
    *,
    provider: Provider | None,
    reason: str,
    detail: str = "",
    subject: str = "",
    **extra: Any,
) -> AuditEvent:
    """A provider's answer (or something claiming to be one) was refused. The reason may
    quote the callback's ``error`` and ``error_description``, which anyone can write:
    kept to a line the auditor reads."""
    details: dict[str, Any] = {
        "provider": provider.slug if provider else "",
        "reason": reason[:REASON_MAX_LENGTH],
        **extra,
    }
    if detail:
        details["detail"] = detail[:REASON_MAX_LENGTH]
    if subject:
        details["subject"] = subject
    return audit.record(action=Action.SSO_TOKEN_REFUSE, outcome=Outcome.DENIED, details=details)


def _second_factor(assertion: Assertion) -> str:
    return "provider" if assertion.strong else "local"


def sign_in_record(*, identity: ExternalIdentity, assertion: Assertion) -> None:
    """Called after Django's login(): the sign-in through the provider, and, when its
    assurance is accepted, the second-factor check it stands for."""
    user = identity.user
    with transaction.atomic():
        identity.last_sign_in_at = timezone.now()
        updated = ["last_sign_in_at"]
        if assertion.strong:
            identity.second_factor_asserted_at = identity.last_sign_in_at
            updated.append("second_factor_asserted_at")
        identity.save(update_fields=updated)
        audit.record(
            action=Action.SSO_SIGN_IN,
            actor=user,
            target_type="accounts.user",
            target_id=user.pk,
            details={
                "provider": assertion.provider.slug,
                "issuer": assertion.provider.issuer,
                "subject": assertion.subject,
                "acr": assertion.acr,
                "amr": list(assertion.amr),
                "second_factor": _second_factor(assertion),
            },
        )
        if assertion.strong:
            provider_proof_record(
                action=Action.ACCOUNTS_MFA_VERIFY,
                identity=identity,
                assertion=assertion,
                purpose="sign-in",
            )


def provider_proof_record(
    *,
    action: Action,
    identity: ExternalIdentity,
    assertion: Assertion,
    purpose: str,
    **details: Any,
) -> None:
    """The provider's answer recorded as a proof of the person, the way a local device's
    is (accounts/mfa.py): the provider identity stands as the device, with the assurance
    (acr, amr) it asserted. ``purpose``: the second factor of a sign-in, or a
    re-authentication (sso/reauth.py)."""
    audit.record(
        action=action,
        actor=identity.user,
        target_type="accounts.user",
        target_id=identity.user.pk,
        details={
            "device_type": DEVICE_TYPE,
            "device": identity.pk,
            "purpose": purpose,
            **details,
            "acr": assertion.acr,
            "amr": list(assertion.amr),
        },
    )


def sign_in_refused_record(
    *,
    assertion: Assertion,
    reason: str,
    user: User | None = None,
    action: Action = Action.SSO_SIGN_IN,
    **extra: Any,
) -> None:
    """A refused provider answer, recorded with what the provider asserted (``action``:
    the sign-in's own, or the account link's; ``extra``: more details)."""
    audit.record(
        action=action,
        outcome=Outcome.DENIED,
        actor=user,
        actor_label="" if user else assertion.email,
        target_type="accounts.user" if user else "",
        target_id=user.pk if user else "",
        details={
            "provider": assertion.provider.slug,
            "subject": assertion.subject,
            "email": assertion.email,
            "reason": reason,
            **extra,
        },
    )


def _link_record(
    *,
    identity: ExternalIdentity,
    assertion: Assertion,
    via: str,
    invitation_email_matches: bool | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    audit.record(
        action=Action.SSO_IDENTITY_LINK,
        actor=identity.user,
        target_type="accounts.user",
        target_id=identity.user.pk,
        details={
            "provider": assertion.provider.slug,
            "issuer": assertion.provider.issuer,
            "subject": assertion.subject,
            "email": assertion.email,
            "via": via,
            **(
                {"invitation_email_matches": invitation_email_matches}
                if invitation_email_matches is not None
                else {}
            ),
            **(extra or {}),
        },
    )


# --- Resolving the account ------------------------------------------------------------------


class Next(enum.Enum):
    SIGN_IN = "sign in"
    CONFIRM_INVITATION = "confirm invitation"


@dataclass(frozen=True)
class Resolution:
    next: Next
    identity: ExternalIdentity | None = None
    invitation: Invitation | None = None


def _pending_invitation(email: str) -> Invitation | None:
    invitation = (
        Invitation.objects.filter(
            email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
        )
        .order_by("-created_at")
        .first()
    )
    return invitation if invitation is not None and invitation.is_pending() else None


def invitation_link_required_record(*, assertion: Assertion, invitation: Invitation) -> None:
    """Someone signed in with an address that has a pending invitation, without that
    invitation's link: refused (the address is not a proof), recorded for the inviter."""
    audit.record(
        action=Action.SSO_INVITATION_LINK_REQUIRED,
        outcome=Outcome.DENIED,
        actor_label=assertion.email,
        target_type="accounts.invitation",
        target_id=invitation.pk,
        details={
            "provider": assertion.provider.slug,
            "subject": assertion.subject,
            "email": assertion.email,
            "email_verified": assertion.email_verified,
            "reason": "invitation without its link",
        },
    )


def _invitation_link_message(provider: Provider) -> str:
    # The same words whether or not an invitation waits for the asserted address: the
    # page must not tell whoever asserts an address that someone was invited with it.
    return _(
        "You have no SecureDrive account linked to %(provider)s yet. If you received an "
        "invitation, open the link in its e-mail and choose “Accept with %(provider)s” "
        "there. Otherwise, ask your administrator for an invitation."
    ) % {"provider": provider.name}


def _carried_invitation(*, assertion: Assertion, invitation_token_hash: str) -> Resolution:
    invitation = Invitation.objects.filter(token_hash=invitation_token_hash).first()
    if invitation is None or not invitation.is_pending():
        sign_in_refused_record(assertion=assertion, reason="invitation no longer valid")
        raise SignInRefused(
            _("This invitation is no longer valid."), reason="invitation no longer valid"
        )
    return Resolution(next=Next.CONFIRM_INVITATION, invitation=invitation)


SECOND_FACTOR_DOWNGRADED = "second factor not asserted, as it was before"


def _second_factor_downgraded(*, identity: ExternalIdentity, assertion: Assertion) -> bool:
    """The provider has stood for this person's second factor, and now signs her in at a
    lower assurance while she has no device of her own. Such a session could do nothing
    but set up a first device, and the provider's password alone (phished, or typed on a
    shared PC) would then enrol someone else's app on her account: invariant 10, an
    identity provider never bypasses the second factor. Someone the provider never
    vouched for, or whose administrator no longer accepts its assurance, still sets up
    a first device after a sign-in, as after a password."""
    return (
        not assertion.strong
        and identity.stands_for_second_factor()
        and not mfa.user_has_primary_device(user=identity.user)
    )


def identity_resolve(
    *, assertion: Assertion, invitation_token_hash: str | None = None
) -> Resolution:
    """Who this validated assertion is: see the module's docstring for the order.

    ``invitation_token_hash`` is the hash of the invitation token this browser carried
    through the round trip (None when the sign-in did not start from an invitation)."""
    provider = assertion.provider
    identity = (
        ExternalIdentity.objects.select_related("user")
        .filter(issuer=provider.issuer, subject=assertion.subject)
        .first()
    )
    if identity is not None:
        if not identity.user.is_active or not identity.confirmed:
            sign_in_refused_record(
                assertion=assertion, reason="account deactivated", user=identity.user
            )
            raise SignInRefused(_("This account is deactivated."), reason="account deactivated")
        if _second_factor_downgraded(identity=identity, assertion=assertion):
            sign_in_refused_record(
                assertion=assertion,
                reason=SECOND_FACTOR_DOWNGRADED,
                user=identity.user,
                acr=assertion.acr,
                amr=list(assertion.amr),
            )
            raise SignInRefused(
                _(
                    "%(provider)s signed you in without your second factor, which it "
                    "confirms for your SecureDrive account. Sign in with %(provider)s again "
                    "and use your second factor there."
                )
                % {"provider": provider.name},
                reason=SECOND_FACTOR_DOWNGRADED,
                sign_in_again=provider,
            )
        return Resolution(next=Next.SIGN_IN, identity=identity)

    if invitation_token_hash is not None:
        return _carried_invitation(assertion=assertion, invitation_token_hash=invitation_token_hash)
    invitation = _pending_invitation(assertion.email) if assertion.email else None
    if invitation is not None:
        invitation_link_required_record(assertion=assertion, invitation=invitation)
        raise SignInRefused(
            _invitation_link_message(provider), reason="invitation without its link"
        )
    if not assertion.email or not assertion.email_verified:
        sign_in_refused_record(assertion=assertion, reason="no verified e-mail address")
        raise SignInRefused(_invitation_link_message(provider), reason="no verified e-mail address")
    if User.objects.filter(email__iexact=assertion.email).exists():
        # Same address, other person perhaps: an address is not an identity.
        sign_in_refused_record(assertion=assertion, reason="address of an unlinked account")
        raise SignInRefused(
            _(
                "An account with this e-mail address exists but is not linked to this identity "
                "provider. Ask your administrator to send you a link to connect it."
            ),
            reason="address of an unlinked account",
        )
    if provider.create_accounts and not provider.require_email_verified:
        # An address the provider lets people type, unverified, would make whoever types
        # it first its owner, with every share and invitation later sent to it. The
        # settings refuse this pair (securedrive/config.py); tests may still set it.
        sign_in_refused_record(assertion=assertion, reason="no verified e-mail address")
        raise SignInRefused(_invitation_link_message(provider), reason="no verified e-mail address")
    if not provider.create_accounts:
        sign_in_refused_record(assertion=assertion, reason="no invitation")
        raise SignInRefused(_invitation_link_message(provider), reason="no invitation")
    try:
        identity = _account_create(assertion=assertion)
    except SignInRefused as refusal:
        # Two tabs finishing at once (after its transaction: see invitation_link).
        sign_in_refused_record(assertion=assertion, reason=refusal.reason)
        raise
    return Resolution(next=Next.SIGN_IN, identity=identity)


def _identity_new(*, user: User, assertion: Assertion) -> ExternalIdentity:
    provider = assertion.provider
    try:
        with transaction.atomic():
            identity: ExternalIdentity = ExternalIdentity.objects.create(
                user=user,
                name=provider.name,
                confirmed=True,
                provider=provider.slug,
                issuer=provider.issuer,
                subject=assertion.subject,
            )
    except IntegrityError as error:
        # Two tabs finishing at once, or this account already linked at this provider.
        raise SignInRefused(
            _("This identity is already linked to an account."), reason="already linked"
        ) from error
    return identity


def _account_create(*, assertion: Assertion) -> ExternalIdentity:
    """Just-in-time account, allowed by the administrator for this provider."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                user = User.objects.create_user(
                    assertion.email, None, full_name=assertion.full_name
                )
        except IntegrityError as error:
            raise SignInRefused(
                _("An account with this e-mail address already exists."),
                reason="address of an unlinked account",
            ) from error
        identity = _identity_new(user=user, assertion=assertion)
        audit.record(
            action=Action.SSO_ACCOUNT_CREATE,
            actor=user,
            target_type="accounts.user",
            target_id=user.pk,
            details={
                "provider": assertion.provider.slug,
                "subject": assertion.subject,
                "email": assertion.email,
            },
        )
        _link_record(identity=identity, assertion=assertion, via="account created")
    return identity


def invitation_link(*, assertion: Assertion, invitation_id: int) -> ExternalIdentity:
    """The invited person, who came through the invitation's link, confirmed: the
    invitation's account (its address, not the provider's) is created (no password: they
    sign in through the provider) and linked to this identity, in one transaction."""
    invitation = Invitation.objects.filter(pk=invitation_id).first()
    if invitation is None or not invitation.is_pending():
        sign_in_refused_record(assertion=assertion, reason="invitation no longer valid")
        raise SignInRefused(
            _("This invitation is no longer valid."), reason="invitation no longer valid"
        )
    # The refusals are recorded after the transaction they end: inside it, the audit row
    # would be rolled back with the account.
    try:
        with transaction.atomic():
            try:
                user = invitations.invitation_accept(
                    invitation=invitation,
                    password=None,
                    full_name=assertion.full_name,
                    via=f"identity provider {assertion.provider.slug}",
                )
            except AccountRuleError as error:
                # Used meanwhile, or an account got the invited address (the directory).
                raise SignInRefused(str(error), reason="invitation not accepted") from error
            identity = _identity_new(user=user, assertion=assertion)
            _link_record(
                identity=identity,
                assertion=assertion,
                via="invitation",
                invitation_email_matches=invitation.email.lower() == assertion.email.lower(),
            )
    except SignInRefused as refusal:
        sign_in_refused_record(assertion=assertion, reason=refusal.reason)
        raise
    return identity


def provider_session_remember(
    *, identity: ExternalIdentity, assertion: Assertion, session_key: str
) -> None:
    """Which SecureDrive session the provider's session ``sid`` opened: a back-channel
    logout naming that ``sid`` ends it."""
    user_session = UserSession.objects.filter(session_key=session_key).first()
    if user_session is not None and assertion.sid:
        ProviderSession.objects.create(
            identity=identity, sid=assertion.sid, user_session=user_session
        )
