"""Access reviews that end (issue #17, item 4): each quarter a team's manager confirms or
revokes the team's members, its shares outside the team and its live external links;
what is left pending escalates to the administrators; all audited and exportable."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import csv
import importlib
import io
import re
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.core import mail
from django.test import Client
from django.utils import timezone, translation

from accounts.models import Team, TeamMembership, User
from audit.actions import Action
from audit.models import AuditEvent
from audit.readable import readable_events
from files.services import space_root, space_team_get_or_create
from reviews import services
from reviews.models import AccessReview, Decision
from sharing.models import Share, ShareLink
from sharing.services import links
from tests.files_helpers import version_store
from tests.helpers import CONFIRMED, client_signed_in

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "small_segments"),
]


def test_a_manager_reviews_the_quarter_and_what_is_left_escalates(
    owner: User, teammate: User, outsider: User, site_admin: User, team: Team, settings: Any
) -> None:
    root = space_root(space_team_get_or_create(team=team))
    plan = version_store(actor=owner, folder=root, name="planning.pdf", content=b"p").file
    share = Share.objects.create(file=plan, user=outsider, role="viewer", created_by=owner)
    link, token = links.share_link_create(
        actor=owner, target=plan, expires_at=timezone.now() + timedelta(days=20)
    )

    assert services.access_reviews_open() == 1
    assert services.access_reviews_open() == 0  # once per period
    review = AccessReview.objects.get(team=team)
    kinds = sorted(review.items.values_list("kind", flat=True))
    assert kinds == ["link", "member", "member", "share"]

    alice = client_signed_in(owner)
    page = alice.get(f"/reviews/{review.pk}/").content.decode()
    assert "planning.pdf → Oscar Outsider" in page
    assert client_signed_in(outsider).get(f"/reviews/{review.pk}/").status_code == 404

    def item(kind: str, object_id: int) -> int:
        return review.items.get(kind=kind, object_id=object_id).pk

    tom = TeamMembership.objects.get(team=team, user=teammate)
    alice.post(f"/reviews/{review.pk}/items/{item('member', tom.pk)}/", {"decision": "confirmed"})
    # Revoking asks first, then the link and the share end at once.
    asked = alice.post(
        f"/reviews/{review.pk}/items/{item('link', link.pk)}/", {"decision": "revoked"}
    )
    assert "Revoke this access?" in asked.content.decode()
    assert ShareLink.objects.get(pk=link.pk).revoked_at is None
    alice.post(
        f"/reviews/{review.pk}/items/{item('link', link.pk)}/",
        {"decision": "revoked", **CONFIRMED},
    )
    alice.post(
        f"/reviews/{review.pk}/items/{item('share', share.pk)}/",
        {"decision": "revoked", **CONFIRMED},
    )
    assert Client().get(f"/s/{token}/").status_code == 410
    assert not Share.objects.filter(pk=share.pk).exists()
    assert AuditEvent.objects.filter(action=Action.REVIEWS_ITEM_DECIDE).count() == 3

    # Alice's own membership is left pending: at the due date the admins are told.
    mail.outbox.clear()
    assert services.access_reviews_escalate(now=timezone.now() + timedelta(days=15)) == 1
    assert [m.to for m in mail.outbox] == [[site_admin.email]]
    assert "Access review of Cardiologie not finished" in mail.outbox[0].subject
    admin_list = client_signed_in(site_admin).get("/reviews/").content.decode()
    assert "Overdue: escalated" in admin_list
    assert AuditEvent.objects.filter(action=Action.REVIEWS_REVIEW_ESCALATE).exists()

    exported = alice.get(f"/reviews/{review.pk}/export.csv")
    text = exported.content.decode()
    assert "team member,Tom Teammate (member),confirmed,alice.martin@hopital.example" in text
    assert "to review" in text
    assert AuditEvent.objects.filter(action=Action.REVIEWS_REVIEW_EXPORT).count() == 1
    assert review.items.filter(decision=Decision.PENDING).count() == 1


def test_the_review_export_opens_in_a_spreadsheet_without_running_a_file_name(
    owner: User, outsider: User, team: Team
) -> None:
    """A team file named like a formula is shared outside: the manager opens the review's
    CSV in Excel, and the name stays text (OWASP CSV injection); accents read right."""
    root = space_root(space_team_get_or_create(team=team))
    trap = version_store(
        actor=owner, folder=root, name='=HYPERLINK("https:evil.example","Échéancier")', content=b"p"
    ).file
    Share.objects.create(file=trap, user=outsider, role="viewer", created_by=owner)
    services.access_reviews_open()
    review = AccessReview.objects.get(team=team)
    exported = client_signed_in(owner).get(f"/reviews/{review.pk}/export.csv")
    assert exported["Content-Type"] == "text/csv; charset=utf-8"
    assert exported.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    shared = [row for row in rows if row[1] == "share outside the team"]
    assert shared[0][2].startswith("'=HYPERLINK")
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row)


def test_a_decision_the_review_refuses_is_recorded(owner: User, team: Team) -> None:
    """A decision the rules refuse is shown on the review page it goes back to, and
    recorded: a script posting made-up decisions with a manager's session leaves a trace."""
    services.access_reviews_open()
    review = AccessReview.objects.get(team=team)
    item = review.items.filter(kind="member").first()
    assert item is not None
    answer = client_signed_in(owner).post(
        f"/reviews/{review.pk}/items/{item.pk}/", {"decision": "maybe"}, follow=True
    )
    assert "Confirm or revoke." in answer.content.decode()
    [event] = AuditEvent.objects.filter(action=Action.REQUEST_INPUT_REFUSE)
    assert event.details["view"] == "reviews:item_decide"
    assert event.details["reason"] == "ReviewRuleError"
    assert event.details["message"] == "Confirm or revoke."
    assert review.items.get(pk=item.pk).decision == Decision.PENDING


def test_the_audit_log_says_whose_access_a_review_decided(
    owner: User, teammate: User, team: Team
) -> None:
    """An auditor reads who lost or kept access through a review, and whose decision
    was refused: the membership decided is gone once revoked, so its id names nobody."""
    services.access_reviews_open()
    review = AccessReview.objects.get(team=team)
    alice = client_signed_in(owner)
    own = TeamMembership.objects.get(team=team, user=owner)
    tom = TeamMembership.objects.get(team=team, user=teammate)
    alice.post(
        f"/reviews/{review.pk}/items/{review.items.get(object_id=own.pk).pk}/",
        {"decision": "confirmed"},
    )
    alice.post(
        f"/reviews/{review.pk}/items/{review.items.get(object_id=tom.pk).pk}/",
        {"decision": "revoked", **CONFIRMED},
    )
    refused, revoked = AuditEvent.objects.filter(action=Action.REVIEWS_ITEM_DECIDE).order_by("pk")
    # Codes and names, in no one's language: the console words them for its reader.
    assert (refused.details["person"], refused.details["role"], refused.details["team"]) == (
        "Alice Martin",
        "manager",
        "Cardiologie",
    )
    assert (revoked.details["person"], revoked.details["role"], revoked.details["team"]) == (
        "Tom Teammate",
        "member",
        "Cardiologie",
    )
    with translation.override("en"):
        assert [row.what for row in readable_events([refused, revoked])] == [
            "Alice Martin (manager)",
            "Tom Teammate (member)",
        ]
    with translation.override("fr"):
        assert [row.what for row in readable_events([refused, revoked])] == [
            "Alice Martin (responsable)",
            "Tom Teammate (membre)",
        ]


def test_a_manager_does_not_confirm_a_share_or_link_she_made_herself(
    owner: User, teammate: User, outsider: User, team: Team
) -> None:
    """Alice shared a team file with Oscar and made a link to it: in the review, another
    manager (Tom) confirms them, not she. Her page says why; she may still revoke."""
    TeamMembership.objects.filter(team=team, user=teammate).update(role="manager")
    root = space_root(space_team_get_or_create(team=team))
    plan = version_store(actor=owner, folder=root, name="planning.pdf", content=b"p").file
    share = Share.objects.create(file=plan, user=outsider, role="viewer", created_by=owner)
    link, _token = links.share_link_create(
        actor=owner, target=plan, expires_at=timezone.now() + timedelta(days=20)
    )
    services.access_reviews_open()
    review = AccessReview.objects.get(team=team)
    share_item = review.items.get(kind="share", object_id=share.pk)
    link_item = review.items.get(kind="link", object_id=link.pk)

    alice = client_signed_in(owner)
    page = alice.get(f"/reviews/{review.pk}/").content.decode()
    assert f'id="own-{share_item.pk}"' in page
    assert f'id="own-{link_item.pk}"' in page
    assert "You granted this access, or it reaches you" in page
    row = page.split(f'id="own-{share_item.pk}"')[1].split("</tr>")[0]
    assert 'value="confirmed"' not in row
    assert 'value="revoked"' in row

    answer = alice.post(
        f"/reviews/{review.pk}/items/{share_item.pk}/", {"decision": "confirmed"}, follow=True
    )
    assert "Nobody confirms access they granted themselves" in answer.content.decode()
    alice.post(f"/reviews/{review.pk}/items/{link_item.pk}/", {"decision": "confirmed"})
    share_item.refresh_from_db()
    link_item.refresh_from_db()
    assert (share_item.decision, link_item.decision) == (Decision.PENDING, Decision.PENDING)
    refusals = AuditEvent.objects.filter(action=Action.REVIEWS_ITEM_DECIDE, outcome="denied")
    assert [e.details["reason"] for e in refusals.order_by("pk")] == ["own_grant", "own_grant"]
    first = refusals.first()
    assert first is not None
    assert (first.details["item_name"], first.details["recipient"]) == (
        "planning.pdf",
        "Oscar Outsider",
    )
    assert first.details["recipient_kind"] == "person"

    # Tom, the other manager, decides them; his page offers Confirm.
    tom = client_signed_in(teammate)
    assert f'id="own-{share_item.pk}"' not in tom.get(f"/reviews/{review.pk}/").content.decode()
    tom.post(f"/reviews/{review.pk}/items/{share_item.pk}/", {"decision": "confirmed"})
    share_item.refresh_from_db()
    assert (share_item.decision, share_item.decided_by) == (Decision.CONFIRMED, teammate)
    # Alice may still withdraw her own link.
    alice.post(f"/reviews/{review.pk}/items/{link_item.pk}/", {"decision": "revoked", **CONFIRMED})
    assert ShareLink.objects.get(pk=link.pk).revoked_at is not None


# What a French screen must not read: the role words, the link's "anyone", the codes of
# the kind and decision columns (as they were stored, built at opening in English).
ENGLISH_ITEM_WORDS = re.compile(
    r"\((member|manager)\)|anyone with the link|\b(member|manager|share|link|pending|"
    r"confirmed|revoked|kind|decision|decided_by|decided_at)\b"
)


def test_a_french_manager_reads_the_review_and_its_export_in_french(
    owner: User, teammate: User, outsider: User, team: Team
) -> None:
    """The review opened (in the site's default language, by the daily task): Alice reads
    it in French, the page and the CSV she exports, without an English role word."""
    root = space_root(space_team_get_or_create(team=team))
    plan = version_store(actor=owner, folder=root, name="planning.pdf", content=b"p").file
    Share.objects.create(file=plan, user=outsider, role="viewer", created_by=owner)
    links.share_link_create(
        actor=owner, target=plan, expires_at=timezone.now() + timedelta(days=20)
    )
    services.access_reviews_open()
    review = AccessReview.objects.get(team=team)
    alice = client_signed_in(owner)

    page = alice.get(f"/reviews/{review.pk}/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "Tom Teammate (membre)" in page
    assert "Alice Martin (responsable)" in page
    assert "planning.pdf → Oscar Outsider" in page
    assert "planning.pdf → toute personne ayant le lien (Alice Martin)" in page
    table = page[page.index('id="review-items"') : page.index("</table>")]
    table_text = re.sub(r"<[^>]*>", " ", table.partition(">")[2])  # what is read, no markup
    assert ENGLISH_ITEM_WORDS.search(table_text) is None

    exported = alice.get(f"/reviews/{review.pk}/export.csv", HTTP_ACCEPT_LANGUAGE="fr")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["équipe", "type", "élément", "décision"]
    team_member = "membre de l’équipe"  # noqa: RUF001  (French apostrophe)
    assert ["Cardiologie", team_member, "Tom Teammate (membre)", "à revoir"] in [
        row[:4] for row in rows
    ]
    for row in rows:
        for cell in row[:4]:
            assert ENGLISH_ITEM_WORDS.search(cell) is None, cell

    # The same review, in English, for an English reader.
    english = alice.get(f"/reviews/{review.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Tom Teammate (member)" in english
    assert "planning.pdf → anyone with the link (Alice Martin)" in english


def test_items_of_reviews_opened_before_are_read_back_into_their_parts(
    owner: User, outsider: User, team: Team
) -> None:
    """Reviews opened before the parts were kept stored the English label: the migration
    reads it back, so those items read in French too; what it cannot read stays as it was."""
    review = AccessReview.objects.create(team=team, due_at=timezone.now() + timedelta(days=14))
    stored = {
        "member": "Dr Tom Teammate (member)",
        "share": "Échos → suivi.pdf → Cardiologie",
        "link": "planning.pdf → anyone with the link (Alice Martin)",
    }
    items = {
        kind: review.items.create(kind=kind, object_id=999, unparsed_label=label)
        for kind, label in stored.items()
    }
    addressed = review.items.create(
        kind="link", object_id=998, unparsed_label="a.pdf → dr.radio@example.org (Alice Martin)"
    )
    odd = review.items.create(kind="member", object_id=997, unparsed_label="someone, cut shor")

    migration = importlib.import_module("reviews.migrations.0003_review_item_label_parts")
    migration.labels_read_back(django_apps, None)

    member = review.items.get(pk=items["member"].pk)
    assert (member.subject_name, member.member_role, member.unparsed_label) == (
        "Dr Tom Teammate",
        "member",
        "",
    )
    share = review.items.get(pk=items["share"].pk)
    # The share is gone; "Cardiologie" is a team's name: shared with that team.
    assert (share.subject_name, share.recipient_kind, share.recipient_name) == (
        "Échos → suivi.pdf",
        "team",
        "Cardiologie",
    )
    link = review.items.get(pk=items["link"].pk)
    assert (link.recipient_kind, link.recipient_name, link.creator_name) == (
        "anyone",
        "",
        "Alice Martin",
    )
    assert review.items.get(pk=addressed.pk).recipient_name == "dr.radio@example.org"
    with translation.override("fr"):
        assert member.label == "Dr Tom Teammate (membre)"
        assert link.label == "planning.pdf → toute personne ayant le lien (Alice Martin)"
        assert review.items.get(pk=odd.pk).label == "someone, cut shor"  # as stored
