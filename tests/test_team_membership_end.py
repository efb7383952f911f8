"""Leaving a team ends what one held through it, whatever the way out: a manager's
removal on the team page, a revocation in an access review, or a deactivation. A
reactivated account comes back with no team: a manager adds the person again.

People: Alice (manager of Cardiologie), Tom (her teammate), Sam (a site administrator).
"""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import pytest

from accounts import offboarding
from accounts.models import OffboardingReport, Team, TeamMembership, User
from accounts.offboarding_report import plan_in_words
from audit.actions import Action
from audit.models import AuditEvent
from files.models import File
from files.selectors import Permission, file_permission
from files.services import space_root, space_team_get_or_create
from sharing.models import Share
from tests.files_helpers import version_store
from tests.helpers import CONFIRMED, client_signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("folder_backend")]


def team_file_shared_with_tom_before_he_joined(owner: User, teammate: User, team: Team) -> File:
    root = space_root(space_team_get_or_create(team=team))
    plan = version_store(actor=owner, folder=root, name="planning.pdf", content=b"p").file
    Share.objects.create(file=plan, user=teammate, role="editor", created_by=owner)
    return plan


def test_a_leaver_leaves_every_team_and_a_reactivation_does_not_bring_them_back(
    owner: User, teammate: User, team: Team, site_admin: User
) -> None:
    """Tom leaves the hospital; months later he comes back on another ward. His account
    is reactivated: he must not find Cardiologie's files again without Alice adding him."""
    plan_file = team_file_shared_with_tom_before_he_joined(owner, teammate, team)
    preview = offboarding.offboarding_plan(user=teammate, successor=None)
    words = " ".join(line["text"] for line in plan_in_words(preview.as_json(), done=False))
    assert "They leave 1 team: Cardiologie" in words

    summary = offboarding.user_deactivate(actor=site_admin, user=teammate, successor=None)

    assert summary["teams_left"] == ["Cardiologie"]
    assert not TeamMembership.objects.filter(user=teammate).exists()
    removal = AuditEvent.objects.get(action=Action.ACCOUNTS_TEAM_MEMBER_REMOVE)
    assert removal.details["team"] == "Cardiologie"
    assert removal.details["email"] == teammate.email
    assert removal.details["reason"] == "offboarding"
    assert removal.actor_id == str(site_admin.pk)
    report = OffboardingReport.objects.get(user=teammate)
    done = " ".join(line["text"] for line in plan_in_words(report.plan, done=True))
    assert "Left 1 team: Cardiologie" in done

    offboarding.user_reactivate(actor=site_admin, user=teammate)
    teammate.refresh_from_db()
    assert teammate.is_active
    assert not TeamMembership.objects.filter(user=teammate).exists()
    assert file_permission(actor=teammate, file=plan_file) < Permission.VIEW


def test_a_member_removed_on_the_team_page_keeps_no_older_share_of_a_team_file(
    owner: User, teammate: User, team: Team
) -> None:
    """Alice removes Tom from Cardiologie on the team page (no review): the planning
    shared with him by name before he joined must end with the membership, as a review's
    revocation ends it."""
    plan_file = team_file_shared_with_tom_before_he_joined(owner, teammate, team)
    toms = TeamMembership.objects.get(team=team, user=teammate)

    response = client_signed_in(owner).post(
        f"/accounts/teams/{team.slug}/members/{toms.pk}/remove/", CONFIRMED
    )

    assert response.status_code == 302
    assert not TeamMembership.objects.filter(pk=toms.pk).exists()
    assert not Share.objects.filter(file=plan_file, user=teammate).exists()
    assert file_permission(actor=teammate, file=plan_file) < Permission.VIEW
    ended = AuditEvent.objects.get(action=Action.SHARING_SHARE_DELETE)
    assert ended.details["reason"] == "team_management"
    assert ended.details["recipient_user"] == teammate.email
    removal = AuditEvent.objects.get(action=Action.ACCOUNTS_TEAM_MEMBER_REMOVE)
    assert removal.details["reason"] == "team_management"
    assert removal.details["shares_ended"] == 1


def test_a_share_of_another_space_survives_leaving_the_team(
    owner: User, teammate: User, team: Team
) -> None:
    """Only what Tom held through Cardiologie ends: a file Alice shared with him from
    her own space stays shared."""
    from tests.files_helpers import root_of

    own = version_store(actor=owner, folder=root_of(owner), name="notes.txt", content=b"n").file
    Share.objects.create(file=own, user=teammate, role="viewer", created_by=owner)
    toms = TeamMembership.objects.get(team=team, user=teammate)

    client_signed_in(owner).post(
        f"/accounts/teams/{team.slug}/members/{toms.pk}/remove/", CONFIRMED
    )

    assert Share.objects.filter(file=own, user=teammate).exists()


def test_the_directory_dropping_a_member_ends_their_older_share_of_a_team_file(
    owner: User, teammate: User, team: Team, site_admin: User
) -> None:
    """The hospital's directory takes Tom out of the Cardiologie group (SCIM PUT): the
    same way out as the team page, so the planning shared with him ends too."""
    import json

    from django.test import Client

    from directory.tokens import directory_token_create

    plan_file = team_file_shared_with_tom_before_he_joined(owner, teammate, team)
    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    directory = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Cardiologie",
        "members": [{"value": str(owner.pk)}],
    }
    response = directory.put(
        f"/scim/v2/Groups/{team.pk}", json.dumps(body), content_type="application/scim+json"
    )

    assert response.status_code == 200, response.content
    assert not TeamMembership.objects.filter(team=team, user=teammate).exists()
    assert not Share.objects.filter(file=plan_file, user=teammate).exists()
    removal = AuditEvent.objects.get(action=Action.ACCOUNTS_TEAM_MEMBER_REMOVE)
    assert removal.details["reason"] == "directory"
    assert removal.actor_label.startswith("directory “Entra ID”")


def test_the_plan_says_when_the_leaver_was_the_teams_only_manager(
    owner: User, teammate: User, team: Team, site_admin: User
) -> None:
    """Alice, Cardiologie's only manager, leaves: nobody would manage the team and no
    access review would open for it. Sam reads it in the plan, and in the report."""
    preview = offboarding.offboarding_plan(user=owner, successor=None)
    words = " ".join(line["text"] for line in plan_in_words(preview.as_json(), done=False))
    assert "1 team is left without a manager: Cardiologie" in words
    # Tom leaving instead leaves Alice in charge: nothing to say.
    toms = offboarding.offboarding_plan(user=teammate, successor=None).as_json()
    assert "teams_without_manager" not in {line["key"] for line in toms["lines"]}

    offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)
    report = OffboardingReport.objects.get(user=owner)
    done = " ".join(line["text"] for line in plan_in_words(report.plan, done=True))
    assert "1 team left without a manager: Cardiologie" in done


def test_a_leavers_draft_transfer_neither_shows_nor_sends_the_team_file_it_picked(
    owner: User, teammate: User, team: Team
) -> None:
    """Tom picked Cardiologie's echo report and a letter of his own into a draft
    transfer, then left the team. Through the API he no longer reads the report's live
    name and size in his draft, and sending it sends his letter only, the report named
    in the send's audit event as withdrawn (its recipients would get nothing of it)."""
    from django.test import Client

    from accounts import tokens
    from accounts.services import MembershipEndReason, team_member_remove
    from sharing.models import TransferItem
    from tests.files_helpers import root_of

    root = space_root(space_team_get_or_create(team=team))
    echo = version_store(actor=owner, folder=root, name="Dupont Jean echo.pdf", content=b"e").file
    letter = version_store(
        actor=teammate, folder=root_of(teammate), name="cover letter.pdf", content=b"l"
    ).file
    _token, raw = tokens.token_create(
        actor=teammate, name="Tom's script", scopes=["read", "share"], expires_in_days=30
    )
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    draft = api.post(
        "/api/v1/sharing/transfers/", {"subject": "Echo"}, content_type="application/json"
    ).json()
    added = api.post(
        f"/api/v1/sharing/transfers/{draft['id']}/files/",
        {"files": [echo.pk, letter.pk]},
        content_type="application/json",
    )
    assert [file["name"] for file in added.json()["files"]] == [
        "cover letter.pdf",
        "Dupont Jean echo.pdf",
    ]
    team_member_remove(
        actor=owner,
        membership=TeamMembership.objects.get(user=teammate),
        reason=MembershipEndReason.TEAM_MANAGEMENT,
    )
    echo.name = "Dupont Jean 1961-04-02 echo.pdf"
    echo.save(update_fields=["name"])

    seen = api.get(f"/api/v1/sharing/transfers/{draft['id']}/")
    sent = api.post(
        f"/api/v1/sharing/transfers/{draft['id']}/send/",
        {"recipients": ["cardio@clinique.example"]},
        content_type="application/json",
    )

    assert seen.status_code == 200
    assert [file["name"] for file in seen.json()["files"]] == ["cover letter.pdf"]
    assert seen.json()["total_bytes"] == 1
    assert sent.status_code == 200, sent.content
    assert [file["name"] for file in sent.json()["files"]] == ["cover letter.pdf"]
    assert list(
        TransferItem.objects.filter(transfer_id=draft["id"]).values_list("file_id", flat=True)
    ) == [letter.pk]
    event = AuditEvent.objects.get(action=Action.SHARING_TRANSFER_SEND)
    assert event.details["files"] == 1
    assert event.details["withdrawn"] == ["Dupont Jean 1961-04-02 echo.pdf"]


def test_a_leaver_no_longer_reads_the_links_and_file_requests_they_made_for_the_team(
    owner: User, teammate: User, team: Team
) -> None:
    """Tom made an outside link to Cardiologie's echo report and a file request into its
    folder, through which a patient's GP sent a letter. Once he has left the team, the
    link and the request are no longer his: through the API he neither lists nor opens
    them (the GP's name and address, what was downloaded), nor withdraws the link;
    Alice, who stays, still sees his link."""
    from django.test import Client

    from accounts import tokens
    from accounts.services import MembershipEndReason, team_member_remove
    from sharing.models import FileRequestUpload

    root = space_root(space_team_get_or_create(team=team))
    echo = version_store(actor=owner, folder=root, name="Dupont Jean echo.pdf", content=b"e").file
    _token, raw = tokens.token_create(
        actor=teammate, name="Tom's script", scopes=["read", "share"], expires_in_days=30
    )
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    link = api.post(
        f"/api/v1/sharing/files/{echo.pk}/links/", {}, content_type="application/json"
    ).json()
    asked = api.post(
        "/api/v1/sharing/requests/",
        {"folder": root.pk, "title": "Letters for Mr Dupont"},
        content_type="application/json",
    ).json()
    FileRequestUpload.objects.create(
        request_id=asked["id"],
        name="Dupont Jean letter.pdf",
        size=10,
        uploader_name="Dr Gérard Lenoir",
        uploader_email="g.lenoir@cabinet.example",
    )
    assert [row["id"] for row in api.get("/api/v1/sharing/links/").json()] == [link["id"]]
    team_member_remove(
        actor=owner,
        membership=TeamMembership.objects.get(user=teammate),
        reason=MembershipEndReason.TEAM_MANAGEMENT,
    )

    assert api.get("/api/v1/sharing/links/").json() == []
    assert api.get("/api/v1/sharing/requests/").json() == []
    opened = api.get(f"/api/v1/sharing/requests/{asked['id']}/")
    assert opened.status_code == 404
    assert b"Lenoir" not in opened.content
    assert api.post(f"/api/v1/sharing/links/{link['id']}/revoke/").status_code == 404
    assert AuditEvent.objects.filter(
        action=Action.SHARING_LINK_REVOKE, outcome="denied", target_id=str(link["id"])
    ).exists()
    assert AuditEvent.objects.filter(
        action=Action.SHARING_REQUEST_ACCESS, outcome="denied", target_id=str(asked["id"])
    ).exists()
    _alices, alices_raw = tokens.token_create(
        actor=owner, name="Alice's script", scopes=["read"], expires_in_days=1
    )
    alices = Client(HTTP_AUTHORIZATION=f"Bearer {alices_raw}")
    # Alice sees it as its recipients find it: dead with Tom's membership.
    assert [
        (row["id"], row["state"])
        for row in alices.get(f"/api/v1/sharing/files/{echo.pk}/links/").json()
    ] == [(link["id"], "revoked")]
