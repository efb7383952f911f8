"""Transfers (like WeSend): files sent to named recipients with a message.

The files live in a folder of the sender's personal space made for the transfer
(``folder``); each recipient gets a personal ``ShareLink`` (``links``), so receipts are
per recipient. When the transfer expires, its folder is purged (crypto-shredded).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Transfer(models.Model):
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="transfers"
    )
    subject = models.CharField(_("subject"), max_length=200)
    message = models.TextField(_("message"), blank=True, max_length=5000)
    folder = models.ForeignKey(
        "files.Folder", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # None while the sender is still adding files; set when the links are sent.
    sent_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.subject


class TransferItem(models.Model):
    """A file of a transfer as it was when the transfer was sent. Recipients get exactly
    these versions: a file the sender later drops into the transfer's folder, or a new
    version of a sent file, never reaches them."""

    transfer = models.ForeignKey(Transfer, on_delete=models.CASCADE, related_name="items")
    file = models.ForeignKey("files.File", on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey("files.FileVersion", on_delete=models.CASCADE, related_name="+")
    # Where it sits in the transfer ("series 1/img.dcm"), as recipients see it.
    path = models.CharField(max_length=1024)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["transfer", "file"], name="transfer_item_unique_file")
        ]
        ordering = ["path", "pk"]

    def __str__(self) -> str:
        return self.path
