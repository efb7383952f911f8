"""Auditors read access reviews and never decide them (docs/access-reviews.md).

Who keeps access to patient files is content governance: the team's managers decide,
then the site administrators once a review is escalated. The auditor checks those
decisions; deciding them too would make her check her own. Sam is a site administrator
who was also made auditor; Audrey is the auditor and, from before the rule, still a
manager of Cardiologie. Neither decides; both read the review and its export.
"""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import pytest
from django.utils import timezone

from accounts.models import Team, TeamMembership, TeamRole, User
from audit.actions import Action
from audit.models import AuditEvent
from reviews import services
from reviews.models import AccessReview, Decision
from tests.helpers import CONFIRMED, client_signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("folder_backend", "small_segments")]

REFUSAL = "An auditor reads access reviews but does not decide them"


@pytest.fixture
def review(team: Team) -> AccessReview:
    assert services.access_reviews_open() == 1
    return AccessReview.objects.get(team=team)


def refusals() -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action=Action.REVIEWS_ITEM_DECIDE, outcome="denied").order_by(
            "pk"
        )
    )


def test_an_administrator_who_is_also_auditor_does_not_decide_an_escalated_review(
    site_admin: User, teammate: User, team: Team, review: AccessReview
) -> None:
    User.objects.filter(pk=site_admin.pk).update(is_auditor=True)
    AccessReview.objects.filter(pk=review.pk).update(escalated_at=timezone.now())
    tom = review.items.get(object_id=TeamMembership.objects.get(team=team, user=teammate).pk)
    sam = client_signed_in(User.objects.get(pk=site_admin.pk))
    page = sam.get(f"/reviews/{review.pk}/").content.decode()
    assert 'id="auditor-reads-only"' in page
    assert 'value="confirmed"' not in page  # no button to press
    answer = sam.post(f"/reviews/{review.pk}/items/{tom.pk}/", {"decision": "confirmed"})
    assert answer.status_code == 403
    assert REFUSAL in answer.content.decode()
    tom.refresh_from_db()
    assert tom.decision == Decision.PENDING
    [refusal] = refusals()
    assert refusal.details["reason"] == "auditor"
    assert (refusal.details["person"], refusal.details["role"]) == (tom.subject_name, "member")


def test_an_auditor_still_manager_of_the_team_reads_but_does_not_revoke(
    auditor: User, teammate: User, team: Team
) -> None:
    TeamMembership.objects.create(team=team, user=auditor, role=TeamRole.MANAGER)
    assert services.access_reviews_open() == 1
    review = AccessReview.objects.get(team=team)
    tom = review.items.get(object_id=TeamMembership.objects.get(team=team, user=teammate).pk)
    audrey = client_signed_in(auditor)
    # Refused before any "Revoke this access?" page, with the confirmation or without.
    for data in ({"decision": "revoked"}, {"decision": "revoked", **CONFIRMED}):
        answer = audrey.post(f"/reviews/{review.pk}/items/{tom.pk}/", data)
        assert answer.status_code == 403
        assert REFUSAL in answer.content.decode()
    assert TeamMembership.objects.filter(team=team, user=teammate).exists()
    assert [event.details["reason"] for event in refusals()] == ["auditor", "auditor"]
    export = audrey.get(f"/reviews/{review.pk}/export.csv")
    assert export.status_code == 200
    assert "Tom Teammate" in export.content.decode("utf-8-sig")


def test_an_auditor_reads_every_review(auditor: User, review: AccessReview) -> None:
    audrey = client_signed_in(auditor)
    assert "Cardiologie" in audrey.get("/reviews/").content.decode()
    page = audrey.get(f"/reviews/{review.pk}/")
    assert page.status_code == 200
    assert "Tom Teammate" in page.content.decode()
