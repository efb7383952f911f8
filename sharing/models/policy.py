"""The site's sharing policy: one row (pk=1), edited by site administrators."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class ExternalSharing(models.TextChoices):
    """Who may create external links, transfers and file requests."""

    EVERYONE = "everyone", _("every member")
    TEAM_MANAGERS = "team_managers", _("team managers only")
    NOBODY = "nobody", _("nobody")


class SharingPolicy(models.Model):
    external_sharing = models.CharField(
        _("who may share outside"),
        max_length=20,
        choices=ExternalSharing.choices,
        default=ExternalSharing.EVERYONE,
    )
    link_default_days = models.PositiveIntegerField(_("links expire after (days)"), default=7)
    link_max_days = models.PositiveIntegerField(_("links may last at most (days)"), default=30)
    password_required = models.BooleanField(_("links must have a password"), default=False)
    # Links and transfers alike: every link must then name its recipient.
    email_verification_required = models.BooleanField(
        _("recipients of links and transfers must confirm their e-mail address with a code"),
        default=False,
    )
    # Transfers only (they always name their recipients). On for new installations: a
    # transfer carries patient files outside the hospital, and without the code whoever
    # reads the e-mail (forwarded, a shared mailbox, a mistyped address) downloads them.
    # Policies stored before this setting existed kept it off (migration 0007): the
    # policy page recommends it instead of turning it on behind the administrator's back.
    transfer_email_verification_required = models.BooleanField(
        _("recipients of transfers must confirm their e-mail address with a code"),
        default=True,
    )
    # One domain per line (example.org); empty: any domain.
    allowed_recipient_domains = models.TextField(_("allowed recipient domains"), blank=True)
    file_request_max_files = models.PositiveIntegerField(
        _("a file request accepts at most (files)"), default=100
    )
    file_request_max_bytes = models.PositiveBigIntegerField(
        _("a file request accepts at most (bytes in all)"), default=20 * 1024**3
    )
    # Incident response (a leak suspected): while set, no external link, transfer link
    # or file request answers, and none can be made; nothing is deleted, and switching
    # it off lets each work again until its own expiry (sharing/services/suspension.py).
    external_suspended_at = models.DateTimeField(
        _("external links and transfers suspended since"), null=True, blank=True
    )
    external_suspended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("suspended by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("sharing policy")
        constraints = [
            models.CheckConstraint(
                condition=Q(link_default_days__gte=1)
                & Q(link_max_days__gte=1)
                & Q(link_default_days__lte=models.F("link_max_days")),
                name="sharing_policy_expiry_sane",
            )
        ]

    def __str__(self) -> str:
        return "sharing policy"

    @classmethod
    def current(cls) -> SharingPolicy:
        policy, _created = cls.objects.get_or_create(pk=1)
        return policy

    def transfer_verification_required(self) -> bool:
        """Whether every transfer recipient must confirm their address with a code."""
        return bool(self.email_verification_required or self.transfer_email_verification_required)

    def allowed_domains(self) -> list[str]:
        return [
            line.strip().lower().lstrip("@")
            for line in self.allowed_recipient_domains.splitlines()
            if line.strip()
        ]

    def recipient_allowed(self, email: str) -> bool:
        domains = self.allowed_domains()
        if not domains:
            return True
        domain = email.rsplit("@", 1)[-1].strip().lower()
        return domain in domains
