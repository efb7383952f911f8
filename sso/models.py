"""A person's identity at an OpenID provider, and the logout tokens already used.

``ExternalIdentity`` links an account to one (issuer, subject) pair: the only stable
identifier OpenID Connect guarantees (Core 1.0 §5.7). E-mail addresses change hands and
providers let people edit them; an account is never found by its e-mail alone.

It is also a django-otp ``Device``: when the provider asserts a strong authentication
the administrator accepts (an ``acr`` or ``amr`` value, e.g. Pro Santé Connect's
e-CPS), the session is marked verified with this device, exactly as a local second
factor marks it (``django_otp.login``). It verifies no code (``verify_token`` is
django-otp's, which refuses everything), and offboarding disables it with the other
devices, so a leaver's provider account opens nothing.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django_otp.models import Device

from sso.providers import provider_get


class ExternalIdentity(Device):  # type: ignore[misc]  # django-otp is untyped
    # Read by accounts (which must not import sso) among a person's django-otp devices:
    # a link to a provider, not a device of their own (accounts.services
    # ``signs_in_through_provider_only``).
    is_provider_identity = True

    provider = models.CharField(max_length=64)
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    linked_at = models.DateTimeField(default=timezone.now)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)
    # When the provider last asserted this person's second factor at an assurance the
    # administrator accepts. Once it has, a sign-in at a lower assurance is refused while
    # the person has no device of their own: it would only lead to setting up a first
    # one, and whoever holds just her password at the provider would enrol their own app
    # (sso/services.py: identity_resolve).
    second_factor_asserted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_unique"),
            # One identity per provider and person: a second one would be a second key to
            # the same account that nobody asked for.
            models.UniqueConstraint(fields=["issuer", "user"], name="sso_identity_one_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}: {self.subject}"

    def stands_for_second_factor(self) -> bool:
        """The provider has asserted this person's second factor at an assurance the
        administrator still accepts: it, not a first device set up after a password or a
        weaker sign-in, is her second factor (read by accounts.mfa, which cannot import
        sso). Disabled by an offboarding, it stands for nothing."""
        provider = provider_get(self.provider)
        return (
            self.confirmed
            and self.second_factor_asserted_at is not None
            and provider is not None
            and provider.issuer == self.issuer
            and provider.accepts_second_factor
        )


class LogoutTokenSeen(models.Model):
    """The ``jti`` of every back-channel logout token accepted: a token is used once
    (OpenID Connect Back-Channel Logout 1.0 §2.6, replay)."""

    issuer = models.CharField(max_length=255)
    jti = models.CharField(max_length=255)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "jti"], name="sso_logout_token_once")
        ]

    def __str__(self) -> str:
        return f"{self.issuer} {self.jti}"


class ProviderSession(models.Model):
    """The SecureDrive session that a provider's session (its ``sid``) opened, so that a
    back-channel logout naming the ``sid`` ends that session and no other."""

    identity = models.ForeignKey(
        ExternalIdentity, on_delete=models.CASCADE, related_name="provider_sessions"
    )
    sid = models.CharField(max_length=255, db_index=True)
    user_session = models.ForeignKey(
        "accounts.UserSession", on_delete=models.CASCADE, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.sid} -> {self.user_session_id}"


class AccountLinkRequest(models.Model):
    """An administrator's "send a link to the identity provider" for an existing account
    (reactivated, provisioned by the directory, created with a password): single-use,
    expiring, only a hash of its token stored, like an invitation. Whoever opens the link
    and signs in with ``provider`` links that provider identity to ``user``: the token,
    from the person's mailbox, is the proof, never an e-mail match."""

    user = models.ForeignKey(
        "accounts.User", on_delete=models.CASCADE, related_name="identity_link_requests"
    )
    provider = models.CharField(max_length=64)
    token_hash = models.CharField(max_length=64, unique=True)
    requested_by = models.ForeignKey(
        "accounts.User", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"identity provider link for user {self.user_id}"

    def is_pending(self) -> bool:
        return self.used_at is None and self.revoked_at is None and self.expires_at > timezone.now()
