"""Internal shares: a file or a folder (and everything under it) shared with one
person or one team, as viewer or editor."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ShareRole(models.TextChoices):
    VIEWER = "viewer", _("viewer")
    EDITOR = "editor", _("editor")


class Share(models.Model):
    file = models.ForeignKey(
        "files.File", null=True, blank=True, on_delete=models.CASCADE, related_name="shares"
    )
    folder = models.ForeignKey(
        "files.Folder", null=True, blank=True, on_delete=models.CASCADE, related_name="shares"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="shares_received",
    )
    team = models.ForeignKey(
        "accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="shares"
    )
    role = models.CharField(_("role"), max_length=10, choices=ShareRole.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(file__isnull=False, folder__isnull=True)
                | Q(file__isnull=True, folder__isnull=False),
                name="share_file_xor_folder",
            ),
            models.CheckConstraint(
                condition=Q(user__isnull=False, team__isnull=True)
                | Q(user__isnull=True, team__isnull=False),
                name="share_user_xor_team",
            ),
            models.UniqueConstraint(
                fields=["file", "user"],
                condition=Q(file__isnull=False, user__isnull=False),
                name="share_file_user_unique",
            ),
            models.UniqueConstraint(
                fields=["file", "team"],
                condition=Q(file__isnull=False, team__isnull=False),
                name="share_file_team_unique",
            ),
            models.UniqueConstraint(
                fields=["folder", "user"],
                condition=Q(folder__isnull=False, user__isnull=False),
                name="share_folder_user_unique",
            ),
            models.UniqueConstraint(
                fields=["folder", "team"],
                condition=Q(folder__isnull=False, team__isnull=False),
                name="share_folder_team_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"share {self.pk} ({self.role})"
