"""Access reviews that end (issue #17, item 4): every period (``ACCESS_REVIEW_PERIOD_DAYS``)
each team's managers review who is in the team, what the team's files are shared with
outside it and which external links are live; each item is confirmed or revoked; what
is still pending at the due date escalates to the site administrators."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import TeamRole
from reviews.labels import RecipientKind, SubjectKind, review_item_text


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
    # What the item's label is made of, as it was at opening; the label itself is built
    # when shown, in the reader's language (reviews/labels.py). ``subject_name``: the
    # member's name, or the shared (linked) file or folder's name.
    subject_name = models.CharField(max_length=400, blank=True)
    member_role = models.CharField(max_length=10, choices=TeamRole.choices, blank=True)
    recipient_kind = models.CharField(max_length=10, choices=RecipientKind.choices, blank=True)
    # A share's person or team, a link's e-mail address ("" for anyone with the link).
    recipient_name = models.CharField(max_length=400, blank=True)
    creator_name = models.CharField(max_length=200, blank=True)  # a link's maker
    # A share's or link's file or folder, said instead of its name to a reader who may
    # not read the team's file names (a site administrator who is not its manager).
    subject_kind = models.CharField(max_length=10, choices=SubjectKind.choices, blank=True)
    # Reviews opened before the parts were kept stored the label, in English; what the
    # migration could not read back (0003) is shown as stored. Empty otherwise.
    unparsed_label = models.CharField(max_length=400, blank=True)
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["kind", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id}: {self.decision}"

    @property
    def label(self) -> str:
        """How the item reads, in the active language (the reader's)."""
        return review_item_text(
            kind=self.kind,
            subject_name=self.subject_name,
            member_role=self.member_role,
            recipient_kind=self.recipient_kind,
            recipient_name=self.recipient_name,
            creator_name=self.creator_name,
            unparsed_label=self.unparsed_label,
        )

    def label_without_names(self) -> str:
        """The item without the name of its file or folder ("a file → Bob Martin"), in
        the active language; "" for an older item whose parts are unknown."""
        return review_item_text(
            kind=self.kind,
            subject_name=self.subject_name,
            member_role=self.member_role,
            recipient_kind=self.recipient_kind,
            recipient_name=self.recipient_name,
            creator_name=self.creator_name,
            unparsed_label=self.unparsed_label,
            subject_kind=self.subject_kind,
            names_shown=False,
        )

    def audit_details(self) -> dict[str, str]:
        """The item in an audit event: stable codes and the names, in no one's language
        (the console builds the sentence in the auditor's, ``review_item_text_from_details``);
        the stored text, for an item whose parts are unknown."""
        if self.unparsed_label:
            return {"item": self.unparsed_label}
        if self.kind == ItemKind.MEMBER:
            return {"person": self.subject_name, "role": self.member_role}
        details = {
            "item_name": self.subject_name,
            "recipient_kind": self.recipient_kind,
            "recipient": self.recipient_name,
        }
        if self.kind == ItemKind.LINK:
            details["creator"] = self.creator_name
        return details
