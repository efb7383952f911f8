from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("users need an e-mail address")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)  # None gives an unusable password
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        # "Superuser" here means site administrator: no access to file content.
        extra.setdefault("is_site_admin", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):  # type: ignore[django-manager-missing]  # django-otp is untyped
    """A person who signs in with an e-mail address. No usernames.

    Roles: every active user is a clinician (member of teams); ``is_site_admin`` manages
    accounts, teams and policies; ``is_auditor`` reads the audit log. Neither role
    grants access to file content. Team managers are recorded on ``TeamMembership``.
    """

    email = models.EmailField(_("e-mail address"), unique=True)
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    is_site_admin = models.BooleanField(_("site administrator"), default=False)
    is_auditor = models.BooleanField(_("auditor"), default=False)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)
    deactivated_at = models.DateTimeField(_("deactivated at"), null=True, blank=True)
    # Offboarding planned ahead: a beat task deactivates the account on that date.
    departure_scheduled_for = models.DateField(_("departure date"), null=True, blank=True)
    # Who receives this person's personal files at deactivation (None: kept for the
    # retention period).
    files_successor = models.ForeignKey(
        "self",
        verbose_name=_("files go to"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    # The set-up link an administrator last e-mailed (accounts/services.py
    # ``setup_link_send``): the page shows it pending until the password is chosen, it
    # expires (PASSWORD_RESET_TIMEOUT) or the next offboarding revokes it. The token
    # itself is never stored: Django's, tied to the (unusable) password hash.
    setup_link_sent_at = models.DateTimeField(_("set-up link sent at"), null=True, blank=True)
    setup_link_sent_by = models.ForeignKey(
        "self",
        verbose_name=_("set-up link sent by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    # Someone who signed in only through the organisation's identity provider, never
    # with a password of their own, remembered across a reactivation (which deletes the
    # provider link with the other devices: accounts/offboarding.py). A set-up link would
    # give them a password path around the provider (its second factor, its
    # conditional access, its own offboarding): they get a new link to the provider.
    provider_sign_in_only = models.BooleanField(
        _("signs in only through an identity provider"), default=False
    )

    # When someone other than the person changed the account's e-mail address (the
    # directory through SCIM; an administrator), by whom in words, and the address it
    # replaced: for CREDENTIAL_APPROVAL_DAYS after, a key to the account (a set-up link,
    # a link to the identity provider) needs a second administrator
    # (accounts/credential_approvals.py).
    email_changed_at = models.DateTimeField(_("e-mail address changed at"), null=True, blank=True)
    email_changed_by = models.CharField(_("e-mail address changed by"), max_length=300, blank=True)
    email_previous = models.EmailField(_("previous e-mail address"), blank=True)
    # When the directory did it: the administrator who created its token (who could
    # have sent the request himself).
    email_changed_token_creator = models.ForeignKey(
        "self",
        verbose_name=_("directory token created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    # The language of the pages this person last used (recorded by
    # accounts.middleware.UserLanguageMiddleware): e-mails to them go out in it.
    language = models.CharField(_("language"), max_length=8, blank=True)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.full_name or self.email

    @property
    def email_language(self) -> str:
        """The language to write to this person in: theirs, or the site's default."""
        return self.language or settings.LANGUAGE_CODE

    def get_short_name(self) -> str:
        """The whole name, as for ``get_full_name``: a first word is often a title ("Dr
        Claire Martin" greeted as "Dr"), and colleagues are named in full everywhere."""
        return self.get_full_name()


class Team(models.Model):
    """A group of people (e.g. "Cardiologie", "Secrétariat") that will own a team space."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("short name"), max_length=100, unique=True)
    description = models.CharField(_("description"), max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="TeamMembership", related_name="teams"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TeamRole(models.TextChoices):
    MEMBER = "member", _("member")
    MANAGER = "manager", _("manager")


class TeamMembership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=TeamRole.choices, default=TeamRole.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="team_membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class AccountPolicy(models.Model):
    """Site-wide account policy, edited by site administrators. One row (pk=1)."""

    session_idle_minutes = models.PositiveIntegerField(_("idle timeout (minutes)"), default=15)
    session_max_hours = models.PositiveIntegerField(_("maximum session length (hours)"), default=12)
    login_notification = models.BooleanField(
        _("e-mail users when they sign in from a new device"), default=True
    )
    invitation_valid_hours = models.PositiveIntegerField(
        _("invitations expire after (hours)"), default=72
    )
    token_max_days = models.PositiveIntegerField(
        _("personal access tokens expire after at most (days)"), default=90
    )
    personal_files_retention_days = models.PositiveIntegerField(
        _("keep a leaver's personal files for (days)"), default=365
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("account policy")

    def __str__(self) -> str:
        return "account policy"

    @classmethod
    def current(cls) -> AccountPolicy:
        policy, _created = cls.objects.get_or_create(pk=1)
        return policy


class Invitation(models.Model):
    """A single-use, expiring invitation. Only a hash of its token is stored."""

    email = models.EmailField(_("e-mail address"))
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    grants_site_admin = models.BooleanField(_("site administrator"), default=False)
    grants_auditor = models.BooleanField(_("auditor"), default=False)
    teams = models.ManyToManyField(Team, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    accepted_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"invitation for {self.email}"

    def is_pending(self, now: dt.datetime | None = None) -> bool:
        moment = now or timezone.now()
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > moment
            and self.inviter_may_still_invite()
        )

    def inviter_may_still_invite(self) -> bool:
        """An invitation opens an account (and teams) by its sender's authority: it
        lapses with it. The offboarding revokes a leaver's pending invitations, but one
        sent in the very instant of the deactivation, or by an administrator whose role
        was withdrawn since, would otherwise still let someone in (docs/accounts.md)."""
        inviter = self.invited_by
        return inviter is None or (inviter.is_active and inviter.is_site_admin)


class UserSession(models.Model):
    """One browser session, so people can see and revoke them.

    ``session_key`` is the key of Django's session row (django_session holds it too).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="browser_sessions"
    )
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    ip_address = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    # SHA-256 of a long-lived random browser cookie: tells a new device from a known one.
    device_hash = models.CharField(max_length=64, blank=True, db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"session of {self.user} from {self.ip_address}"


class TokenScope(models.TextChoices):
    READ = "read", _("read")
    WRITE = "write", _("write")
    SHARE = "share", _("share")


class PersonalAccessToken(models.Model):
    """An API token. Shown once; only its SHA-256 is stored (it is 256 random bits)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens"
    )
    name = models.CharField(_("name"), max_length=100)
    # First characters, shown in lists so people can tell their tokens apart.
    prefix = models.CharField(max_length=12, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.CharField(max_length=45, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"token {self.prefix}… ({self.name})"

    def is_usable(self, now: dt.datetime | None = None) -> bool:
        moment = now or timezone.now()
        return self.revoked_at is None and self.expires_at > moment and self.user.is_active


class GrantedRole(models.TextChoices):
    """The site-wide roles that need a second person to grant (accounts/roles.py)."""

    SITE_ADMIN = "site_admin", _("site administrator")
    AUDITOR = "auditor", _("auditor")


class RoleProposal(models.Model):
    """Four-eyes: one administrator proposes a role for someone else; another
    administrator or an auditor approves (or declines) before it expires. The rows stay
    as the record of who asked and who agreed (the audit log has each step too)."""

    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_proposals"
    )
    role = models.CharField(max_length=16, choices=GrantedRole.choices)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    proposed_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    approved = models.BooleanField(null=True, blank=True)

    class Meta:
        ordering = ["-proposed_at"]
        constraints = [
            # One open proposal per person and role (a new one needs the old one decided).
            models.UniqueConstraint(
                fields=["subject", "role"],
                condition=models.Q(decided_at__isnull=True),
                name="role_proposal_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.role} for {self.subject_id}"

    def is_pending(self, now: dt.datetime | None = None) -> bool:
        return self.decided_at is None and self.expires_at > (now or timezone.now())


class CredentialKind(models.TextChoices):
    """The keys to an account an administrator can have e-mailed to its address."""

    SETUP_LINK = "setup_link", _("a set-up link (choose a password)")
    PROVIDER_LINK = "provider_link", _("a link to an identity provider")


class CredentialApproval(models.Model):
    """Four eyes before a key to an account goes to an address someone else changed
    recently (accounts/credential_approvals.py): one administrator asks, a second one
    approves or refuses; the approval lets the asker send that key once, to that
    address, before it expires. The rows stay as the record (the audit log has each
    step too)."""

    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="credential_approvals"
    )
    kind = models.CharField(max_length=16, choices=CredentialKind.choices)
    provider = models.CharField(max_length=64, blank=True)  # its slug, for a provider link
    # The address the key would go to, as the approver saw it: another change voids it.
    email = models.EmailField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    # Until then a pending request may be decided; once approved, until then it is used.
    expires_at = models.DateTimeField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    approved = models.BooleanField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["subject", "kind", "provider"],
                condition=models.Q(decided_at__isnull=True),
                name="credential_approval_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} for {self.subject_id}"

    def is_pending(self, now: dt.datetime | None = None) -> bool:
        return self.decided_at is None and self.expires_at > (now or timezone.now())


# Authenticator apps live in their own module (wrapped secrets, django-otp's verification);
# imported here so that Django registers the model with the accounts app.
from accounts.totp import AuthenticatorApp  # noqa: E402, F401


class RecoveryCodesKey(models.Model):
    """The key-encryption key a set of recovery codes was hashed under (accounts.mfa).

    django-otp's ``StaticToken`` has room for the hash only. Without this row nobody can
    tell which KEK a set needs (the codes themselves are not kept), so a KEK could leave
    the keyring and take people's codes with it unseen; ``rotate_keys --remove-key``
    reads it (accounts.key_dependents). Sets made before it existed have no row: their
    KEK is unknown, and they count as needing every older key."""

    device = models.OneToOneField(
        "otp_static.StaticDevice", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    kek_id = models.CharField(max_length=64, db_index=True)

    def __str__(self) -> str:
        return f"recovery codes {self.device_id} under {self.kek_id}"


class OffboardingReport(models.Model):
    """What an offboarding did, kept for the person's admin page and e-mailed after it:
    the very plan the deactivation applied (accounts.offboarding), never recomputed."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="offboarding_reports"
    )
    created_at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who did it when no person did: the departure-date task, a directory token.
    actor_label = models.CharField(max_length=200, blank=True)
    successor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    plan = models.JSONField()
    digest = models.CharField(max_length=64)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"offboarding of {self.user_id} at {self.created_at:%Y-%m-%d %H:%M}"
