"""Linking an existing account to the identity provider, from a link an administrator
sends to the person's address.

Some accounts have no provider identity and cannot get one by signing in: accounts the
directory (SCIM) created, accounts created with a password, and people who signed in
only through the provider and were reactivated (reactivation removes every device,
the provider link included). Signing in with the provider refuses them, rightly: an
address is not an identity (sso/services.py). An administrator sends them this link
instead: a single-use, expiring 256-bit token, hashed at rest like an invitation's
(accounts/invitations.py), for one account and one provider. The person opens it,
signs in with that provider, and the identity the provider asserts is linked to this
account, whatever address it carries: the token from the mailbox is the proof.

Every write takes its actor and records its audit event in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts import credential_approvals
from accounts.errors import AccountRuleError
from accounts.invitations import TOKEN_BYTES, token_hash
from accounts.models import AccountPolicy, User
from accounts.offboarding import OffboardingStep
from audit import services as audit
from audit.actions import Action
from audit.models import Outcome
from sso.models import AccountLinkRequest, ExternalIdentity
from sso.providers import Provider
from sso.services import (
    Assertion,
    SignInRefused,
    _identity_new,
    _link_record,
    sign_in_refused_record,
)


@dataclass(frozen=True)
class AccountLinkSent:
    request: AccountLinkRequest
    url: str  # contains the token: for the person's mailbox only


def account_link_url(token: str) -> str:
    return f"{settings.SITE_URL}{reverse('sso:account_link', kwargs={'token': token})}"


def account_link_send(*, actor: User, user: User, provider: Provider) -> AccountLinkSent:
    """A new link for ``user`` at ``provider``; it replaces any pending one."""
    if not user.is_active:
        raise AccountRuleError(_("This account is deactivated: reactivate it first."))
    if ExternalIdentity.objects.filter(user=user, issuer=provider.issuer).exists():
        raise AccountRuleError(
            _("This account is already linked to %(provider)s.") % {"provider": provider.name}
        )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    policy = AccountPolicy.current()
    kind = credential_approvals.CredentialKind.PROVIDER_LINK
    with transaction.atomic():
        # Four eyes when someone else changed the address lately: whoever holds the
        # mailbox links their own provider identity to the account.
        locked = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        gate = credential_approvals.credential_gate(
            actor=actor, user=locked, kind=kind, provider=provider.slug
        )
        if not gate.refusal:
            credential_approvals.approval_use(actor=actor, user=locked, gate=gate)
            link_request = _link_request_create(
                actor=actor, user=locked, provider=provider, token=token, policy=policy
            )
    if gate.refusal:
        credential_approvals.credential_refusal_raise(
            action=Action.SSO_ACCOUNT_LINK_SEND,
            actor=actor,
            user=user,
            kind=kind,
            provider=provider.slug,
        )
    return AccountLinkSent(request=link_request, url=account_link_url(token))


def _link_request_create(
    *, actor: User, user: User, provider: Provider, token: str, policy: AccountPolicy
) -> AccountLinkRequest:
    """The new link, recorded and mailed after commit (in the caller's transaction)."""
    AccountLinkRequest.objects.filter(
        user=user, used_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    link_request = AccountLinkRequest.objects.create(
        user=user,
        provider=provider.slug,
        token_hash=token_hash(token),
        requested_by=actor,
        expires_at=timezone.now() + dt.timedelta(hours=policy.invitation_valid_hours),
    )
    audit.record(
        action=Action.SSO_ACCOUNT_LINK_SEND,
        actor=actor,
        target_type="accounts.user",
        target_id=user.pk,
        details={
            "provider": provider.slug,
            "email": user.email,
            "expires_at": link_request.expires_at.isoformat(),
        },
    )
    url = account_link_url(token)
    # Sent from the web process after commit, never through the broker: Celery
    # messages must not carry secrets, and this e-mail carries the token.
    transaction.on_commit(lambda: _account_link_mail(link_request, provider, url))
    return link_request


def _account_link_mail(link_request: AccountLinkRequest, provider: Provider, url: str) -> None:
    """In the person's saved language (``User.email_language``), not the administrator's
    who pressed the button: the person reads it, as every e-mail to them."""
    context = {"link_request": link_request, "provider": provider, "url": url}
    with translation.override(link_request.user.email_language):
        send_mail(
            subject=_("Link your SecureDrive account to %(provider)s")
            % {"provider": provider.name},
            message=render_to_string("sso/email/account_link.txt", context),
            from_email=None,
            recipient_list=[link_request.user.email],
        )


def account_link_get_valid(*, token: str) -> AccountLinkRequest | None:
    """The pending link for this token, or None (unknown, used, replaced, expired)."""
    link_request = (
        AccountLinkRequest.objects.select_related("user")
        .filter(token_hash=token_hash(token))
        .first()
    )
    if link_request is None or not link_request.is_pending() or not link_request.user.is_active:
        return None
    return link_request


def account_link_refused_record(*, token: str, reason: str) -> None:
    audit.record(
        action=Action.SSO_ACCOUNT_LINK_REFUSE,
        outcome=Outcome.DENIED,
        details={"reason": reason, "token_hash_prefix": token_hash(token)[:12]},
    )


def _refused(assertion: Assertion, *, reason: str, user: User | None = None) -> SignInRefused:
    sign_in_refused_record(
        assertion=assertion, reason=reason, user=user, action=Action.SSO_ACCOUNT_LINK_REFUSE
    )
    messages = {
        "link no longer valid": _(
            "This link is no longer valid. Ask your administrator to send a new one."
        ),
        "already linked": _(
            "This %(provider)s identity is already linked to another SecureDrive account, or "
            "your account already has one. Ask your administrator."
        )
        % {"provider": assertion.provider.name},
    }
    return SignInRefused(messages.get(reason, messages["link no longer valid"]), reason=reason)


def account_links_offboarding_plan(
    sender: object, *, user: User, successor: User | None, lock: bool = False, **kwargs: object
) -> OffboardingStep:
    """``accounts.offboarding.offboarding_planned``: the leaver's pending links to the
    identity provider end, in the deactivation's transaction (a reactivation does not
    revive them), and the plan and report say so (line ``identity_links_revoked``)."""
    rows = _account_links_pending(user=user)
    if lock:
        rows = rows.select_for_update()
    ids = list(rows.values_list("pk", flat=True))

    def apply(actor: User | None) -> dict[str, Any]:
        return {"revoked": _account_links_revoke(ids=ids)}

    lines = [{"key": "identity_links_revoked", "count": len(ids)}] if ids else []
    return OffboardingStep(name="sso_account_links_revoke", lines=lines, apply=apply)


def account_links_revoke_on_address_change(
    sender: object, *, user: User, former_email: str, **kwargs: object
) -> dict[str, int]:
    """``accounts.address_change.user_address_changed``: every pending link to the
    identity provider was e-mailed to an address that is no longer hers, and whoever reads
    that mailbox now would link their own provider identity to her account with it (the
    token is the proof, whatever address the provider asserts). Revoked in the change's
    transaction, her row locked; the administrator sends a new one (to the new address,
    with a second administrator's approval while the change is recent:
    accounts/credential_approvals.py)."""
    ids = list(_account_links_pending(user=user).select_for_update().values_list("pk", flat=True))
    return {"identity_links_revoked": _account_links_revoke(ids=ids)}


def _account_links_pending(*, user: User) -> Any:
    return AccountLinkRequest.objects.filter(
        user=user, used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).order_by("pk")


def _account_links_revoke(*, ids: list[int]) -> int:
    return AccountLinkRequest.objects.filter(
        pk__in=ids, used_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())


def account_link_use(*, assertion: Assertion, link_token_hash: str) -> ExternalIdentity:
    """The person came back from the provider with the link's token in this browser's
    session: the asserted identity is linked to the link's account, once."""
    user: User | None = None
    try:
        with transaction.atomic():
            link_request = (
                AccountLinkRequest.objects.select_for_update(of=("self",))
                .select_related("user", "requested_by")
                .filter(token_hash=link_token_hash)
                .first()
            )
            if (
                link_request is None
                or not link_request.is_pending()
                or link_request.provider != assertion.provider.slug
                or not link_request.user.is_active
            ):
                raise SignInRefused("", reason="link no longer valid")
            user = link_request.user
            identity = _identity_new(user=user, assertion=assertion)
            link_request.used_at = timezone.now()
            link_request.save(update_fields=["used_at"])
            _link_record(
                identity=identity,
                assertion=assertion,
                via="account link",
                extra={
                    "requested_by": (
                        link_request.requested_by.email if link_request.requested_by else ""
                    ),
                    "email_matches": user.email.lower() == assertion.email.lower(),
                },
            )
    except SignInRefused as refusal:
        # Recorded after the transaction it ends: inside, the row would be rolled back.
        raise _refused(assertion, reason=refusal.reason, user=user) from refusal
    return identity
