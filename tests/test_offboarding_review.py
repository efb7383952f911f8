"""A second outside review of "admins cut access the minute staff leave": each way of
leaving (the admin's button, the departure date, the directory, leaving a team), and
what must not outlive it."""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone, translation

from accounts import invitations, offboarding, roles, services, tokens
from accounts.errors import AccountRuleError
from accounts.models import OffboardingReport, Team, TeamMembership, TeamRole, User
from accounts.offboarding_report import plan_in_words
from audit import services as audit_services
from audit.actions import Action
from audit.exports import ExportCutOff
from audit.models import AuditEvent, Outcome
from directory.tokens import directory_token_create
from files import services as file_services
from files import tus
from files.models import File, UploadSession
from files.services.spaces import space_root, space_team_get_or_create
from sso.models import AccountLinkRequest
from tests.conftest import PASSWORD, user_create
from tests.files_helpers import chunks_of, content_of, root_of, version_store
from tests.helpers import client_signed_in

pytestmark = pytest.mark.django_db


def scim(raw_token: str, method: str, path: str) -> Any:
    return getattr(Client(HTTP_AUTHORIZATION=f"Bearer {raw_token}"), method.lower())(
        f"/scim/v2/{path}"
    )


@pytest.fixture
def cardiology(owner: User) -> Team:
    team = Team.objects.create(name="Cardiologie", slug="cardiologie")
    manager = user_create("marc.manager@hopital.example", full_name="Marc Manager")
    TeamMembership.objects.create(team=team, user=manager, role=TeamRole.MANAGER)
    TeamMembership.objects.create(team=team, user=owner)
    return team


@pytest.mark.usefixtures("folder_backend", "small_segments")
def test_directory_ignores_the_successor_of_a_departure_that_was_cancelled(
    site_admin: User, owner: User, outsider: User, cardiology: Team
) -> None:
    # In March an administrator schedules Alice's departure and names Oscar (then her
    # colleague in another department) to receive her files; she stays after all.
    version_store(actor=owner, folder=root_of(owner), name="cr-dupont.pdf", content=b"x" * 40)
    offboarding.user_departure_schedule(
        actor=site_admin,
        user=owner,
        departure_on=timezone.localdate() + dt.timedelta(days=30),
        successor=outsider,
    )
    offboarding.user_departure_cancel(actor=site_admin, user=owner)

    # In October she leaves for real: the directory deletes her. Nobody named Oscar for
    # this departure; the token's rule (her team's manager) applies.
    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    assert scim(raw, "DELETE", f"Users/{owner.pk}").status_code == 204

    report = OffboardingReport.objects.get(user=owner)
    assert report.successor is not None
    assert report.successor.email == "marc.manager@hopital.example"
    assert not File.objects.filter(name="cr-dupont.pdf", space__owner=outsider).exists()


@pytest.mark.usefixtures("folder_backend", "small_segments")
def test_directory_ignores_the_successor_of_an_earlier_departure_after_a_return(
    site_admin: User, owner: User, outsider: User, cardiology: Team
) -> None:
    # Alice left once; her files went to Oscar. She came back (reactivated) and joined
    # cardiology again. When she leaves again, her new files go by this departure's
    # rule, not to whoever received them the first time.
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=outsider)
    offboarding.user_reactivate(actor=site_admin, user=owner)
    TeamMembership.objects.create(team=cardiology, user=owner)
    version_store(actor=owner, folder=root_of(owner), name="cr-martin.pdf", content=b"y" * 40)

    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    assert scim(raw, "DELETE", f"Users/{owner.pk}").status_code == 204

    report = OffboardingReport.objects.filter(user=owner).latest("pk")
    assert report.successor is not None
    assert report.successor.email == "marc.manager@hopital.example"


def token_client(user: User, *scopes: str) -> Client:
    _token, plaintext = tokens.token_create(
        actor=user, name="Uploader", scopes=list(scopes), expires_in_days=30
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


def tus_patch(api: Client, url: str, body: bytes, offset: int) -> Any:
    return api.generic(
        "PATCH",
        url,
        body,
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={"Tus-Resumable": "1.0.0", "Upload-Offset": str(offset)},
    )


@pytest.mark.usefixtures("folder_backend", "small_segments")
def test_upload_into_a_team_space_stops_at_its_next_patch_once_the_person_left_the_team(
    site_admin: User, owner: User, cardiology: Team
) -> None:
    # Alice starts sending a large study into the cardiology space...
    team_root = space_root(space_team_get_or_create(team=cardiology))
    api = token_client(owner, "write")
    content = content_of(3000)
    name = base64.b64encode(b"echo-dupont.dcm").decode()
    folder = base64.b64encode(str(team_root.pk).encode()).decode()
    created = api.post(
        "/api/v1/uploads/",
        b"",
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(len(content)),
            "Upload-Metadata": f"filename {name},folder {folder}",
        },
    )
    assert created.status_code == 201
    url = created["Location"].replace("http://testserver", "")
    assert tus_patch(api, url, content[:1000], 0).status_code == 204

    # ...then she is moved to another department: the team's manager removes her.
    services.team_member_remove(
        actor=site_admin,
        membership=TeamMembership.objects.get(team=cardiology, user=owner),
        reason=services.MembershipEndReason.TEAM_MANAGEMENT,
    )

    # Her client goes on sending: the next PATCH writes nothing more into the team's
    # space (nor holds its room), and the upload is gone.
    answer = tus_patch(api, url, content[1000:2000], 1000)
    assert answer.status_code in (403, 404)
    assert not UploadSession.objects.exists()
    assert tus_patch(api, url, content[2000:], 2000).status_code == 404
    assert not File.objects.filter(name="echo-dupont.dcm").exists()
    refusal = AuditEvent.objects.get(action=Action.FILES_UPLOAD_REJECT)
    assert refusal.outcome == Outcome.DENIED
    assert refusal.actor_id == str(owner.pk)


def test_a_scan_verdict_after_the_departure_is_not_mailed_to_the_leaver(
    clamd: str, site_admin: User, owner: User, teammate: User
) -> None:
    # Alice's last upload (named after a patient) is still being scanned when she
    # leaves; her files go to Tom.
    eicar = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    version = version_store(
        actor=owner, folder=root_of(owner), name="bilan-dupont.txt", content=eicar, clean=False
    )
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=teammate)
    mail.outbox.clear()

    assert file_services.version_finalize(version_id=version.pk) == "quarantined"

    # Her mailbox (forwarded, or soon someone else's) hears nothing more of the
    # hospital's files; Tom, who holds the file now, is told.
    assert all(owner.email not in message.to for message in mail.outbox)
    [told] = mail.outbox
    assert told.to == [teammate.email]
    assert "bilan-dupont.txt" in told.body


def test_the_second_of_two_admins_confirming_the_same_departure_is_told_it_was_done(
    site_admin: User, owner: User
) -> None:
    other_admin = user_create(
        "nina.admin@hopital.example", full_name="Nina Admin", is_site_admin=True
    )
    url = f"/accounts/admin/users/{owner.pk}/deactivate/"
    first, second = client_signed_in(site_admin), client_signed_in(other_admin)
    digests = []
    for admin in (first, second):
        page = admin.post(url, {"when": "now", "successor": ""}).content.decode()
        found = re.search(r'name="plan_digest" value="([0-9a-f]{64})"', page)
        assert found
        digests.append(found.group(1))

    confirm = {"when": "now", "successor": "", "confirmed": "yes"}
    assert first.post(url, {**confirm, "plan_digest": digests[0]}).status_code == 302
    answer = second.post(url, {**confirm, "plan_digest": digests[1]}, follow=True)

    assert "Alice Martin was already deactivated: nothing more was done." in answer.content.decode()
    assert OffboardingReport.objects.filter(user=owner).count() == 1


def test_a_role_proposed_before_a_departure_cannot_be_approved_after_a_return(
    site_admin: User, owner: User, auditor: User
) -> None:
    # Sam proposes Alice as auditor; she leaves before anyone approves it.
    [proposal] = services.user_roles_set(
        actor=site_admin, user=owner, is_site_admin=False, is_auditor=True
    )
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)
    # The plan's report says it lapsed, in words.
    report = OffboardingReport.objects.get(user=owner)
    assert {"key": "role_proposals_closed", "count": 1, "roles": ["auditor"]} in report.plan[
        "lines"
    ]
    assert "1 role proposal for them closed: auditor" in [
        line["text"] for line in plan_in_words(report.plan, done=True)
    ]

    # Months later she comes back. The reactivation withdrew her roles so that they are
    # proposed and approved again: the old proposal is not that.
    offboarding.user_reactivate(actor=site_admin, user=owner)
    with pytest.raises(AccountRuleError):
        roles.role_proposal_decide(actor=auditor, proposal_id=proposal.pk, approve=True)
    owner.refresh_from_db()
    assert not owner.is_auditor
    lapsed = AuditEvent.objects.get(action=Action.ACCOUNTS_ROLE_EXPIRE)
    assert lapsed.details["reason"] == "account deactivated"


def test_an_audit_export_under_way_stops_when_the_auditor_leaves(
    site_admin: User, auditor: User
) -> None:
    user_create("ines.audit@hopital.example", full_name="Inès Audit", is_auditor=True)
    for number in range(40):
        audit_services.record(
            action=Action.FILES_VERSION_DOWNLOAD,
            actor=site_admin,
            target_type="files.file",
            target_id=str(number),
            details={"name": f"compte-rendu-patient-{number}.pdf"},
        )
    with time_machine.travel(timezone.now(), tick=False) as clock:
        console = client_signed_in(auditor)
        response = console.get("/audit/export.jsonl")
        assert response.status_code == 200
        body = chunks_of(response)
        received = [next(body)]

        # Audrey leaves (or loses the role) while the whole log is on its way to her.
        offboarding.user_deactivate(actor=site_admin, user=auditor, successor=None)
        clock.shift(dt.timedelta(seconds=30))
        with pytest.raises(ExportCutOff):
            received.extend(body)
    assert len(received) < 40
    refusal = AuditEvent.objects.get(action=Action.AUDIT_EXPORT, outcome=Outcome.DENIED)
    assert refusal.actor_id == str(auditor.pk)
    assert refusal.details["reason"] == "account deactivated"


def test_an_invitation_sent_by_an_administrator_whose_role_was_withdrawn_opens_nothing(
    site_admin: User,
) -> None:
    # Dana, an administrator about to be moved out of the role, invites a private
    # address into the team that holds the patients' files...
    dana = user_create("dana.depart@hopital.example", full_name="Dana Depart", is_site_admin=True)
    cardiology = Team.objects.create(name="Cardiologie", slug="cardiologie")
    sent = invitations.invitation_create(
        actor=dana, email="dana.perso@mail.example", teams=[cardiology]
    )
    # ...then the role is withdrawn (the same holds for an invitation that a
    # deactivation's plan missed because it was sent in that very instant).
    services.user_roles_set(actor=site_admin, user=dana, is_site_admin=False, is_auditor=False)

    path = urlsplit(sent.url).path
    outside = Client()
    assert outside.get(path).status_code == 410
    answer = outside.post(path, {"full_name": "Dana", "password1": PASSWORD, "password2": PASSWORD})
    assert answer.status_code == 410
    assert not User.objects.filter(email="dana.perso@mail.example").exists()
    assert not TeamMembership.objects.filter(team=cardiology).exists()
    refusal = AuditEvent.objects.filter(
        action=Action.ACCOUNTS_INVITATION_USE, outcome=Outcome.DENIED
    ).first()
    assert refusal is not None
    assert refusal.details["reason"] == "sender no longer an administrator"
    # The administrators' list says why it no longer works.
    listing = client_signed_in(site_admin).get("/accounts/admin/invitations/").content.decode()
    assert "Lapsed: its sender is no longer an administrator" in listing


def test_scheduling_a_departure_shows_when_access_ends_and_the_plan_before_anything_is_set(
    site_admin: User, owner: User, cardiology: Team
) -> None:
    admin = client_signed_in(site_admin)
    day = timezone.localdate() + dt.timedelta(days=10)
    url = f"/accounts/admin/users/{owner.pk}/deactivate/"

    preview = admin.post(url, {"when": "later", "departure_on": day.isoformat()})
    page = preview.content.decode()
    assert preview.status_code == 200
    assert "Schedule the departure of Alice Martin?" in page
    assert "at 00:00 (Europe/Paris)" in page
    assert "They leave 1 team: Cardiologie" in page
    owner.refresh_from_db()
    assert owner.departure_scheduled_for is None  # nothing set before the confirmation

    done = admin.post(url, {"when": "later", "departure_on": day.isoformat(), "confirmed": "yes"})
    assert done.status_code == 302
    owner.refresh_from_db()
    assert owner.departure_scheduled_for == day
    shown = admin.get(f"/accounts/admin/users/{owner.pk}/").content.decode()
    assert "access ends at 00:00 (Europe/Paris) that day" in shown


def test_a_pending_link_to_the_identity_provider_is_named_in_the_plan_and_the_report(
    site_admin: User, owner: User
) -> None:
    AccountLinkRequest.objects.create(
        user=owner,
        provider="keycloak",
        token_hash="a" * 64,
        requested_by=site_admin,
        expires_at=timezone.now() + dt.timedelta(hours=72),
    )
    plan = offboarding.offboarding_plan(user=owner, successor=None)
    assert {"key": "identity_links_revoked", "count": 1} in plan.lines()

    offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)
    report = OffboardingReport.objects.get(user=owner)
    with translation.override("fr"):
        words = [line["text"] for line in plan_in_words(report.plan, done=True)]
    assert "1 lien vers le fournisseur d’identité révoqué" in words  # noqa: RUF001
    assert AccountLinkRequest.objects.get().revoked_at is not None
