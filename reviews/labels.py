"""How a review item reads ("Tom Teammate (member)", "planning.pdf → Oscar Outsider"),
built when it is shown, in the language of whoever reads it.

A review item keeps what its label is made of (the person and their role, the file or
folder, the recipient and its kind, the link's maker), not the sentence: a sentence
built once, when the review opened, was in the site's default language on every screen,
in the CSV and in the audit log. The page, the CSV (the exporter's language) and the
auditor console (the auditor's, through ``audit.resolvers``) each build it here.

Items of reviews opened before the parts were kept, whose stored text the migration
could not read back (``reviews/migrations/0003``), show that text as it was stored.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import TeamRole


class SubjectKind(models.TextChoices):
    """What a share or link opens, said instead of its name to a reader who may not read
    the team's file names (``reviews.services.names_shown_to``)."""

    FILE = "file", gettext_lazy("a file")
    FOLDER = "folder", gettext_lazy("a folder")


class RecipientKind(models.TextChoices):
    """Who a share or link reaches (a share: a person or a team; a link: an address, or
    whoever holds it)."""

    PERSON = "person", gettext_lazy("a person")
    TEAM = "team", gettext_lazy("a team")
    ADDRESS = "address", gettext_lazy("an e-mail address")
    ANYONE = "anyone", gettext_lazy("anyone with the link")


def review_item_text(
    *,
    kind: str,
    subject_name: str,
    member_role: str = "",
    recipient_kind: str = "",
    recipient_name: str = "",
    creator_name: str = "",
    unparsed_label: str = "",
    subject_kind: str = "",
    names_shown: bool = True,
) -> str:
    """The item in the active language; ``unparsed_label`` when its parts are unknown.

    ``subject_name``: the member's name, or the shared (linked) file or folder's name.
    Without ``names_shown`` a share or link says "a file" or "a folder" instead of the
    name, and "" when it cannot (an older item whose parts are unknown)."""
    if kind == "member" and member_role in TeamRole.values:
        return f"{subject_name} ({TeamRole(member_role).label})"
    if not names_shown:
        if subject_kind not in SubjectKind.values or unparsed_label:
            return ""
        subject_name = str(SubjectKind(subject_kind).label)
    if kind == "share" and recipient_kind in (RecipientKind.PERSON, RecipientKind.TEAM):
        return f"{subject_name} → {recipient_name}"
    if kind == "link" and recipient_kind in (RecipientKind.ADDRESS, RecipientKind.ANYONE):
        recipient = (
            recipient_name if recipient_kind == RecipientKind.ADDRESS else _("anyone with the link")
        )
        return f"{subject_name} → {recipient} ({creator_name})"
    return unparsed_label


def review_item_text_from_details(details: dict[str, object]) -> str:
    """A ``reviews.item.decide`` event's item in the reader's language: the console's
    lookup (``audit.resolvers.review_item``). Events from before the parts were
    recorded keep their ``item`` text as it was."""

    def text(name: str) -> str:
        value = details.get(name)
        return value if isinstance(value, str) else ""

    return review_item_text(
        kind=text("kind"),
        subject_name=text("person") or text("item_name"),
        member_role=text("role"),
        recipient_kind=text("recipient_kind"),
        recipient_name=text("recipient"),
        creator_name=text("creator"),
        unparsed_label=text("item"),
    )
