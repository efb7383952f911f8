"""Nothing withdrawn at a departure comes back with the person.

Tom (Cardiologie) sent Mrs Dupont's echo, a team file, to a radiologist by link and by
transfer, opened a file request into the team's folder for the lab, and ran a lab
export with an API token. Alice (his manager) had shared her own letter with him and
sent him her planning by a personal link to his address. Then he left: removed from
the team, or deactivated. Weeks later he comes back: added to the team again,
reactivated. Each thing that stopped when he left must stay stopped, checked with the
requests its holder would make: the radiologist's and the lab's links, his token, the
share and the link to his address. He makes new ones if he still needs them.

Fixtures are imported by name from tests.files_helpers and tests.withdrawal_helpers;
pytest injects them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from accounts import offboarding, tokens
from accounts.models import Team, TeamMembership, TeamRole, User
from accounts.services import MembershipEndReason, team_member_remove, team_member_set
from files.models import File, Folder
from files.selectors import Permission, file_permission
from sharing.models import Share
from sharing.services import file_requests, links
from tests.files_helpers import content_of, root_of, version_store
from tests.withdrawal_helpers import CLOSED_PAGE, WITHDRAWN_PAGE, transfer_sent, week

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures(
        "folder_backend", "small_segments", "transfers_without_code", "rate_limit_cache"
    ),
]


@dataclass
class Opened:
    """What Tom opened to outsiders on Cardiologie's files, and his script's token."""

    link: str
    transfer: str
    file_request: str
    api_token: str


def toms_openings(tom: User, echo: File, team_folder: Folder, capture: Any) -> Opened:
    _link, link_token = links.share_link_create(actor=tom, target=echo, expires_at=week())
    transfer_token = transfer_sent(tom, "Echo Dupont", [echo], capture)
    _request, request_token = file_requests.file_request_create(
        actor=tom, folder=team_folder, title="Bilans Dupont", expires_at=week()
    )
    _token, raw = tokens.token_create(
        actor=tom, name="Lab export", scopes=["read"], expires_in_days=30
    )
    opened = Opened(
        link=link_token, transfer=transfer_token, file_request=request_token, api_token=raw
    )
    assert_working(opened)
    return opened


def assert_working(opened: Opened) -> None:
    assert Client().get(f"/s/{opened.link}/").status_code == 200
    assert Client().get(f"/s/{opened.transfer}/").status_code == 200
    assert Client().get(f"/r/{opened.file_request}/").status_code == 200
    api = Client(HTTP_AUTHORIZATION=f"Bearer {opened.api_token}")
    assert api.get("/api/v1/me/").status_code == 200


def assert_withdrawn_for_good(opened: Opened) -> None:
    for token in (opened.link, opened.transfer):
        page = Client().get(f"/s/{token}/")
        assert page.status_code == 410, token
        assert WITHDRAWN_PAGE in page.content.decode()
    page = Client().get(f"/r/{opened.file_request}/")
    assert page.status_code == 410
    assert CLOSED_PAGE in page.content.decode()


def test_removed_from_the_team_and_added_back_his_links_stay_withdrawn(
    owner: User,
    teammate: User,
    team: Team,
    team_folder: Folder,
    echo: File,
    django_capture_on_commit_callbacks: Any,
) -> None:
    opened = toms_openings(teammate, echo, team_folder, django_capture_on_commit_callbacks)
    team_member_remove(
        actor=owner,
        membership=TeamMembership.objects.get(team=team, user=teammate),
        reason=MembershipEndReason.TEAM_MANAGEMENT,
    )
    assert_withdrawn_for_good(opened)

    team_member_set(actor=owner, team=team, user=teammate, role=TeamRole.MEMBER)

    assert file_permission(actor=teammate, file=echo) >= Permission.EDIT  # he is back
    assert_withdrawn_for_good(opened)
    # What he makes now works: the withdrawal did not stop him sharing, only what was.
    _link, fresh = links.share_link_create(actor=teammate, target=echo, expires_at=week())
    assert Client().get(f"/s/{fresh}/").status_code == 200


def test_deactivated_then_reactivated_nothing_of_before_works_again(
    owner: User,
    teammate: User,
    team: Team,
    team_folder: Folder,
    echo: File,
    site_admin: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    opened = toms_openings(teammate, echo, team_folder, django_capture_on_commit_callbacks)
    letter = version_store(
        actor=owner, folder=root_of(owner), name="Lettre Martin.pdf", content=content_of(300)
    ).file
    Share.objects.create(file=letter, user=teammate, role="viewer", created_by=owner)
    planning = version_store(
        actor=owner, folder=root_of(owner), name="Planning.pdf", content=content_of(200)
    ).file
    _link, to_him = links.share_link_create(
        actor=owner, target=planning, expires_at=week(), recipient_email=teammate.email
    )
    assert Client().get(f"/s/{to_him}/").status_code == 200
    assert file_permission(actor=teammate, file=letter) == Permission.VIEW

    with django_capture_on_commit_callbacks(execute=True):
        offboarding.user_deactivate(actor=site_admin, user=teammate, successor=None)
    assert_withdrawn_for_good(opened)

    offboarding.user_reactivate(actor=site_admin, user=teammate)
    team_member_set(actor=owner, team=team, user=teammate, role=TeamRole.MEMBER)
    teammate.refresh_from_db()

    assert_withdrawn_for_good(opened)
    script = Client(HTTP_AUTHORIZATION=f"Bearer {opened.api_token}")
    assert script.get("/api/v1/me/").status_code == 401
    assert file_permission(actor=teammate, file=letter) == Permission.NONE
    assert not Share.objects.filter(user=teammate).exists()
    page = Client().get(f"/s/{to_him}/")
    assert page.status_code == 410
    assert WITHDRAWN_PAGE in page.content.decode()
