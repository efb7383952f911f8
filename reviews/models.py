"""Access reviews that end (issue #17, item 4): every period (``ACCESS_REVIEW_PERIOD_DAYS``)
each team's managers review who is in the team, what the team's files are shared with
outside it and which external links are live; each item is confirmed or revoked; what
is still pending at the due date escalates to the site administrators."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ItemKind(models.TextChoices):
    MEMBER = "member", _("team member")
    SHARE = "share", _("share outside the team")
    LINK = "link", _("live external link")


class Decision(models.TextChoices):
    PENDING = "pending", _("to review")
    CONFIRMED = "confirmed", _("confirmed")
    REVOKED = "revoked", _("revoked")


class AccessReview(models.Model):
    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="+")
    opened_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]

    def __str__(self) -> str:
        return f"review of team {self.team_id} opened {self.opened_at:%Y-%m-%d}"


class AccessReviewItem(models.Model):
    review = models.ForeignKey(AccessReview, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=10, choices=ItemKind.choices)
    # The membership, share or link reviewed (its id in its own table).
    object_id = models.PositiveBigIntegerField()
    # What the manager reads: a person, or "folder X → Y", fixed at opening.
    label = models.CharField(max_length=400)
    # The same without the file or folder's name ("a file → Bob Martin"), for a reader
    # who is not one of the team's managers: a site administrator manages accounts,
    # never content, and a file's name often names a patient. Empty for a member (the
    # label names no file) and for items opened before this field existed.
    label_without_names = models.CharField(max_length=400, blank=True, default="")
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id}: {self.decision}"
