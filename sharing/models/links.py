"""External links: capability URLs to a file, a folder or a transfer.

The token is shown once (to the owner, or in the recipient's e-mail) and only its
SHA-256 is stored (sharing/services/tokens.py). Every link expires; revocation is immediate.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ShareLink(models.Model):
    token_hash = models.CharField(max_length=64, unique=True)
    file = models.ForeignKey(
        "files.File", null=True, blank=True, on_delete=models.CASCADE, related_name="share_links"
    )
    folder = models.ForeignKey(
        "files.Folder",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="share_links",
    )
    transfer = models.ForeignKey(
        "sharing.Transfer",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="links",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="share_links"
    )
    label = models.CharField(_("label"), max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(_("expires"), db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Django's Argon2 hasher; empty: no password.
    password_hash = models.CharField(max_length=255, blank=True)
    # None: no limit. Named for downloads, but counts every use of the link: each
    # download started (a Range resume of the same file by the same recipient session
    # does not count again) and each preview opened (its page, image and stream in one
    # sitting count once): a letter shared "once" is readable once, not indefinitely by
    # whoever the link is forwarded to (sharing/services/link_downloads.py).
    max_downloads = models.PositiveIntegerField(
        _("limit of views and downloads"), null=True, blank=True
    )
    download_count = models.PositiveIntegerField(default=0)
    # The recipient, for transfers and links with e-mail verification.
    recipient_email = models.EmailField(_("recipient e-mail"), blank=True)
    email_verification = models.BooleanField(
        _("recipient must confirm their e-mail address with a code"), default=False
    )
    notify_owner = models.BooleanField(_("e-mail me on first download"), default=True)
    # Previews only: the download and ZIP addresses refuse (docs/sharing-links.md says
    # what this can and cannot prevent: what is shown has reached the browser).
    view_only = models.BooleanField(_("view only, no download"), default=False)
    first_downloaded_at = models.DateTimeField(null=True, blank=True)
    last_accessed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(file__isnull=False, folder__isnull=True, transfer__isnull=True)
                | Q(file__isnull=True, folder__isnull=False, transfer__isnull=True)
                | Q(file__isnull=True, folder__isnull=True, transfer__isnull=False),
                name="share_link_one_target",
            ),
            models.CheckConstraint(
                condition=Q(email_verification=False) | ~Q(recipient_email=""),
                name="share_link_verification_needs_email",
            ),
        ]
        indexes = [models.Index(fields=["created_by", "revoked_at"])]

    def __str__(self) -> str:
        return f"link {self.pk}"


class ShareLinkCode(models.Model):
    """A one-time code e-mailed to a link's recipient to confirm their address."""

    link = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=255)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"code {self.pk} for link {self.link_id}"


class ShareLinkDownload(models.Model):
    """A download receipt: who (which link, which recipient), when, what, how much."""

    link = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="downloads")
    at = models.DateTimeField(default=timezone.now)
    recipient_email = models.EmailField(blank=True)
    # What was sent: one file's version, or a ZIP of a folder or a transfer.
    file = models.ForeignKey(
        "files.File", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.ForeignKey(
        "files.FileVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    name = models.CharField(max_length=255)
    is_archive = models.BooleanField(default=False)
    # A preview opened in the browser (one use of the link), not a download: its
    # ``bytes_sent`` stay 0 (what reached the browser is in the files.version.view events).
    is_preview = models.BooleanField(default=False)
    bytes_sent = models.PositiveBigIntegerField(default=0)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        indexes = [models.Index(fields=["link", "at"])]

    def __str__(self) -> str:
        return f"download of {self.name} via link {self.link_id}"
