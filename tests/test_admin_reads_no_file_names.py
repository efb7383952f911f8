"""A site administrator manages accounts, never content: he reads no patient file's name.

Tom works in Cardiologie (Alice manages it): he linked Mrs Dupont's echo to a
radiologist, sent it by transfer and opened a file request for her results; a planning
file was shared with him by name. Sam, a site administrator who manages no team, walks
every page of his that touches Tom or Cardiologie (people, the person's page, the team,
its removal confirmation, the access reviews and their export, the deactivation
preview, role approvals, the privacy pages) and never reads "Dupont": counts, kinds and
people, yes; file names, transfer subjects and request titles, no
(ARCHITECTURE.md, invariant 4; docs/accounts.md, docs/access-reviews.md).

Fixtures are imported by name from tests.files_helpers and tests.withdrawal_helpers;
pytest injects them.
"""

from __future__ import annotations

from typing import Any

import pytest

from accounts import roles
from accounts.models import Team, TeamMembership, User
from files.models import File, Folder
from reviews import services as reviews
from reviews.models import AccessReview
from sharing.models import Share
from sharing.services import file_requests, links
from tests.files_helpers import content_of, version_store
from tests.helpers import client_signed_in
from tests.withdrawal_helpers import RADIOLOGIST, transfer_sent, week

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "small_segments", "transfers_without_code"),
]

NAMES = ["Dupont"]


@pytest.fixture
def toms_week(
    owner: User,
    teammate: User,
    team: Team,
    team_folder: Folder,
    echo: File,
    outsider: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    planning = version_store(
        actor=owner, folder=team_folder, name="Planning Dupont.pdf", content=content_of(300)
    ).file
    Share.objects.create(file=planning, user=teammate, role="editor", created_by=owner)
    Share.objects.create(file=echo, user=outsider, role="viewer", created_by=owner)
    links.share_link_create(
        actor=teammate, target=echo, expires_at=week(), recipient_email=RADIOLOGIST
    )
    transfer_sent(teammate, "Echo Dupont", [echo], django_capture_on_commit_callbacks)
    file_requests.file_request_create(
        actor=teammate, folder=team_folder, title="Bilans Dupont", expires_at=week()
    )
    reviews.access_reviews_open()
    AccessReview.objects.update(escalated_at=AccessReview.objects.get().opened_at)


def test_an_administrator_who_manages_no_team_reads_no_file_name_on_his_pages(
    site_admin: User, teammate: User, team: Team, toms_week: None
) -> None:
    sam = client_signed_in(site_admin)
    review = AccessReview.objects.get()
    membership = TeamMembership.objects.get(team=team, user=teammate)
    pages = {
        url: sam.get(url)
        for url in [
            "/accounts/admin/users/",
            f"/accounts/admin/users/{teammate.pk}/",
            f"/accounts/teams/{team.slug}/",
            "/accounts/admin/access-review/",
            "/reviews/",
            f"/reviews/{review.pk}/",
            f"/reviews/{review.pk}/export.csv",
            "/privacy/people/",
            f"/privacy/people/{teammate.pk}/",
        ]
    }
    pages["remove"] = sam.post(f"/accounts/teams/{team.slug}/members/{membership.pk}/remove/")
    pages["deactivate"] = sam.post(
        f"/accounts/admin/users/{teammate.pk}/deactivate/", {"when": "now", "successor": ""}
    )
    for item in review.items.all():
        pages[f"revoke {item.kind}"] = sam.post(
            f"/reviews/{review.pk}/items/{item.pk}/", {"decision": "revoked"}
        )
    TeamMembership.objects.filter(user=teammate).delete()
    Share.objects.filter(user=teammate).delete()
    second = User.objects.create_user(
        "sophie.admin@hopital.example", "x" * 20, full_name="Sophie Admin", is_site_admin=True
    )
    roles.role_propose(actor=second, subject=teammate, role="auditor")
    pages["role approvals"] = sam.get("/accounts/admin/role-approvals/")

    for where, answer in pages.items():
        assert answer.status_code in (200, 400), (where, answer.status_code)
        text = answer.content.decode("utf-8-sig")
        for name in NAMES:
            assert name not in text, (where, text[text.find(name) - 200 : text.find(name) + 80])
