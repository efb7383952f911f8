"""GDPR: a person downloads what SecureDrive holds about them; a leaver's content is
erased by crypto-shredding when the DPO asks.

People: Alice (a clinician, later a leaver), Tom (her teammate), Sam (a site
administrator acting for the DPO), Audrey (an auditor), Oscar (an outsider).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Team, User
from accounts.offboarding import user_deactivate
from audit import services as audit
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from audit.selectors import audit_chain_verify
from files import services
from files.models import FileVersion
from sharing.models import Share, ShareLink
from tests.conftest import user_create
from tests.files_helpers import Backend, root_of, version_store
from tests.helpers import client_signed_in

pytestmark = pytest.mark.django_db

SECRET_CONTENT = b"CONFIDENTIAL-echo-report-of-patient-Dupont"


@pytest.fixture
def auditor(db: None) -> User:
    return user_create("audrey.auditor@hopital.example", is_auditor=True)


def archive_of(response: Any) -> zipfile.ZipFile:
    assert response.status_code == 200
    assert response.streaming, "the archive must be streamed"
    assert response["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def lines(archive: zipfile.ZipFile, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in archive.read(name).decode().splitlines()]


@pytest.fixture
def alices_drive(owner: User, teammate: User, team: Team, folder_backend: Backend) -> None:
    reports = services.folder_create(actor=owner, parent=root_of(owner), name="Reports")
    echo = version_store(actor=owner, folder=reports, name="echo.pdf", content=SECRET_CONTENT)
    version_store(actor=owner, folder=reports, name="echo.pdf", content=SECRET_CONTENT + b"v2")
    team_root = services.space_root(services.space_team_get_or_create(team=team))
    version_store(actor=owner, folder=team_root, name="protocol.pdf", content=b"team protocol")
    Share.objects.create(file=echo.file, user=teammate, role="viewer", created_by=owner)
    ShareLink.objects.create(
        token_hash="0" * 64,
        file=echo.file,
        created_by=owner,
        label="for Dr Petit",
        expires_at=timezone.now() + dt.timedelta(days=7),
    )
    audit.record(action=Action.ACCOUNTS_LOGIN, actor=owner)


def test_a_person_downloads_their_data_without_any_file_content(
    owner: User, alices_drive: None
) -> None:
    client = client_signed_in(owner)
    assert "Download my data" in client.get("/privacy/").content.decode()

    archive = archive_of(client.get("/privacy/export.zip"))

    assert set(archive.namelist()) == {
        "README.txt",
        "profile.json",
        "files.jsonl",
        "shares.jsonl",
        "links.jsonl",
        "transfers.jsonl",
        "file_requests.jsonl",
        "activity.jsonl",
        "about_you.jsonl",
    }
    assert json.loads(archive.read("profile.json"))["email"] == owner.email
    files = {row["name"]: row for row in lines(archive, "files.jsonl")}
    assert set(files) == {"echo.pdf", "protocol.pdf"}
    assert files["echo.pdf"]["folder_path"] == "/Reports"
    assert files["echo.pdf"]["space"] == "personal"
    assert [version["size"] for version in files["echo.pdf"]["versions"]] == [
        len(SECRET_CONTENT),
        len(SECRET_CONTENT) + 2,
    ]
    assert files["protocol.pdf"]["space"].startswith("team:")
    assert lines(archive, "shares.jsonl")[0]["with_user"] == "tom.teammate@hopital.example"
    link = lines(archive, "links.jsonl")[0]
    assert link["label"] == "for Dr Petit"
    assert "token_hash" not in link
    activity = lines(archive, "activity.jsonl")
    assert Action.ACCOUNTS_LOGIN in {event["action"] for event in activity}
    assert {event["actor_id"] for event in activity} == {str(owner.pk)}
    everything = b"".join(archive.read(name) for name in archive.namelist())
    assert SECRET_CONTENT not in everything
    exported = AuditEvent.objects.get(action=Action.PRIVACY_EXPORT)
    assert (exported.actor_id, exported.target_id) == (str(owner.pk), str(owner.pk))


def test_the_export_tells_a_person_what_others_did_that_names_them(
    owner: User, teammate: User, site_admin: User
) -> None:
    """Tom's export lists Alice sharing with him, a transfer sent to him among others and
    his roles changed by the admin: events whose personal-data details (audit/actions.py)
    hold his address, or whose target is his account. Not his own actions (those are in
    activity.jsonl), nor events that name someone else."""
    shared = audit.record(
        action=Action.SHARING_SHARE_CREATE,
        actor=owner,
        target_type="sharing.share",
        target_id=1,
        details={"recipient_user": teammate.email.upper()},
    )
    sent = audit.record(
        action=Action.SHARING_TRANSFER_SEND,
        actor=owner,
        target_type="sharing.transfer",
        target_id=2,
        details={"recipients": ["dr.petit@clinique.example", teammate.email]},
    )
    roles = audit.record(
        action=Action.ACCOUNTS_USER_ROLES,
        actor=site_admin,
        target_type="accounts.user",
        target_id=teammate.pk,
        details={"email": teammate.email, "before": [], "after": ["auditor"]},
    )
    audit.record(
        action=Action.SHARING_SHARE_CREATE,
        actor=owner,
        details={"recipient_user": "other." + teammate.email},
    )
    audit.record(action=Action.SHARING_LINK_CREATE, actor=owner, details={"label": teammate.email})
    audit.record(action=Action.ACCOUNTS_LOGIN, actor=teammate)

    archive = archive_of(client_signed_in(teammate).get("/privacy/export.zip"))

    about = lines(archive, "about_you.jsonl")
    assert [event["sequence"] for event in about] == [
        shared.sequence,
        sent.sequence,
        roles.sequence,
    ]
    assert {event["action"] for event in lines(archive, "activity.jsonl")} == {
        Action.ACCOUNTS_LOGIN
    }


def test_the_export_shows_nobody_elses_personal_data(owner: User, teammate: User) -> None:
    """Alice sends a transfer from home to Tom and to a patient's GP; Tom's export tells
    him Alice sent it, but not the GP's address, nor Alice's home IP address and browser
    (GDPR Art. 15(4): a copy for one person must not disclose another's data)."""
    from audit.context import RequestContext

    audit.record(
        action=Action.SHARING_TRANSFER_SEND,
        actor=owner,
        target_type="sharing.transfer",
        target_id=2,
        details={"recipients": ["dr.petit@clinique.example", teammate.email], "subject": "Echo"},
        request=RequestContext(ip_address="203.0.113.77", user_agent="AlicesHomeBrowser/1.0"),
    )

    archive = archive_of(client_signed_in(teammate).get("/privacy/export.zip"))

    text = archive.read("about_you.jsonl").decode()
    for someone_elses in ("dr.petit", "203.0.113.77", "AlicesHomeBrowser"):
        assert someone_elses not in text
    (sent,) = lines(archive, "about_you.jsonl")
    assert sent["actor"] == owner.email
    assert sent["details"]["recipients"] == ["(another person)", teammate.email]
    assert sent["details"]["subject"] == "Echo"


def test_a_refused_upload_by_request_is_in_the_uploaders_export_and_no_one_elses(
    teammate: User,
) -> None:
    """Tom answered a colleague's file request with his address and was refused (the
    request was full); so was a GP. The refusal names the uploader as the upload does,
    so Tom's export lists his refusal and not the GP's (the catalogue marks the
    uploader's fields of ``sharing.request.refuse`` as personal data)."""
    from sharing.services.file_requests import refusal_record

    for name, address in (("Tom Teammate", teammate.email), ("Dr Petit", "dr.petit@gp.example")):
        refusal_record(
            None,
            "file count limit",
            name="echo.pdf",
            uploader_name=name,
            uploader_email=address,
            recipient=address,
        )

    archive = archive_of(client_signed_in(teammate).get("/privacy/export.zip"))

    (refused,) = lines(archive, "about_you.jsonl")
    assert refused["action"] == Action.SHARING_REQUEST_REFUSE
    assert refused["details"]["uploader_email"] == teammate.email
    assert "dr.petit" not in archive.read("about_you.jsonl").decode()


def test_the_export_is_not_someone_elses_to_take(
    owner: User, outsider: User, auditor: User, alices_drive: None
) -> None:
    for person in (outsider, auditor):
        response = client_signed_in(person).get(f"/privacy/people/{owner.pk}/export.zip")
        assert response.status_code == 403
    assert not AuditEvent.objects.filter(action=Action.PRIVACY_EXPORT).exists()
    assert client_signed_in(outsider).get("/privacy/export.zip").status_code == 200
    assert AuditEvent.objects.get(action=Action.PRIVACY_EXPORT).target_id == str(outsider.pk)


def test_a_site_admin_exports_a_leavers_data(
    owner: User, site_admin: User, alices_drive: None
) -> None:
    user_deactivate(actor=site_admin, user=owner, successor=None)
    client = client_signed_in(site_admin)
    assert owner.email in client.get("/privacy/people/").content.decode()
    archive = archive_of(client.get(f"/privacy/people/{owner.pk}/export.zip"))
    assert json.loads(archive.read("profile.json"))["active"] is False
    assert {row["name"] for row in lines(archive, "files.jsonl")} == {"echo.pdf", "protocol.pdf"}
    exported = AuditEvent.objects.get(action=Action.PRIVACY_EXPORT)
    assert (exported.actor_id, exported.target_id) == (str(site_admin.pk), str(owner.pk))


def test_an_active_accounts_content_cannot_be_erased(
    owner: User, site_admin: User, alices_drive: None
) -> None:
    client = client_signed_in(site_admin)
    assert "Deactivate it first" in client.get(f"/privacy/people/{owner.pk}/").content.decode()
    response = client.post(f"/privacy/people/{owner.pk}/erase/", {"confirmation": owner.email})
    assert response.status_code == 400
    assert not FileVersion.objects.filter(shredded_at__isnull=False).exists()
    assert not AuditEvent.objects.filter(action=Action.PRIVACY_ERASURE).exists()


def test_erasure_needs_the_address_typed(owner: User, site_admin: User, alices_drive: None) -> None:
    user_deactivate(actor=site_admin, user=owner, successor=None)
    response = client_signed_in(site_admin).post(
        f"/privacy/people/{owner.pk}/erase/", {"confirmation": "yes"}
    )
    assert response.status_code == 400
    assert "exactly" in response.content.decode()
    assert not FileVersion.objects.filter(shredded_at__isnull=False).exists()


def test_a_leavers_personal_content_is_crypto_shredded_and_the_log_kept(
    owner: User,
    site_admin: User,
    alices_drive: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    user_deactivate(actor=site_admin, user=owner, successor=None)
    personal = list(FileVersion.objects.filter(file__space__owner=owner))
    team_versions = list(FileVersion.objects.exclude(file__space__owner=owner))
    events_about_alice = AuditEvent.objects.filter(actor_id=str(owner.pk)).count()
    client = client_signed_in(site_admin)
    page = client.get(f"/privacy/people/{owner.pk}/").content.decode()
    assert "1 file remains" in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/privacy/people/{owner.pk}/erase/", {"confirmation": owner.email.upper()}
        )

    assert response.status_code == 302
    for version in personal:
        assert not FileVersion.objects.filter(
            pk=version.pk, wrapped_data_key__isnull=False
        ).exists()
    for version in team_versions:  # the team's record is the team's
        version.refresh_from_db()
        assert version.wrapped_data_key is not None
    erasure = AuditEvent.objects.get(action=Action.PRIVACY_ERASURE)
    assert (erasure.actor_id, erasure.target_id) == (str(site_admin.pk), str(owner.pk))
    assert erasure.details["versions_shredded"] == 2
    assert AuditEvent.objects.filter(actor_id=str(owner.pk)).count() == events_about_alice
    assert audit_chain_verify().intact
    assert "0 files remain" in client.get(f"/privacy/people/{owner.pk}/").content.decode()


@pytest.mark.usefixtures("small_segments")
def test_erasure_leaves_nothing_of_a_leavers_half_sent_upload_in_storage(
    owner: User, site_admin: User, backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    """Alice left in the middle of uploading a scan. Erasing her content removes the
    upload's staged ciphertext from storage too, not only its row: nothing of hers is
    left behind that nobody could ever account for or delete."""
    from tests.test_tus import create, location, patch, token_client

    api = token_client(owner)
    scan = b"DICM-Dupont-" * 50000
    url = location(create(api, len(scan), folder=root_of(owner).pk))
    assert patch(api, url, 0, scan[:400000]).status_code == 204
    assert [key for key, _stored in backend.everything() if key.startswith("uploads/")]
    user_deactivate(actor=site_admin, user=owner, successor=None)

    with django_capture_on_commit_callbacks(execute=True):
        response = client_signed_in(site_admin).post(
            f"/privacy/people/{owner.pk}/erase/", {"confirmation": owner.email}
        )

    assert response.status_code == 302
    assert [key for key, _stored in backend.everything() if key.startswith("uploads/")] == []


def test_only_site_admins_open_the_erasure_page(owner: User, outsider: User, auditor: User) -> None:
    user_deactivate(actor=None, user=owner, successor=None)
    for person in (outsider, auditor):
        client = client_signed_in(person)
        assert client.get(f"/privacy/people/{owner.pk}/").status_code == 403
        response = client.post(f"/privacy/people/{owner.pk}/erase/", {"confirmation": owner.email})
        assert response.status_code == 403
    assert (
        AuditEvent.objects.filter(
            action=Action.ACCOUNTS_ADMIN_ACCESS, outcome=Outcome.DENIED
        ).count()
        == 4
    )


def test_a_directory_request_refused_about_a_person_is_in_their_export_and_no_one_elses(
    owner: User, teammate: User, site_admin: User
) -> None:
    """The organisation's directory (SCIM) sent a change to Tom's account that was
    refused, and one to Alice's. The refusal names the account it was about ("Tom
    Teammate <tom@…>"), personal data of Tom's: his export lists his refusal, showing
    him his own name, and not Alice's. Before, the catalogue marked no detail of
    ``directory.request.refuse`` as personal: Tom's copy of his data left it out."""
    from django.test import Client

    from directory.tokens import directory_token_create

    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    directory = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    for person in (teammate, owner):
        response = directory.patch(
            f"/scim/v2/Users/{person.pk}",
            data=json.dumps(
                {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "explode", "path": "active", "value": False}],
                }
            ),
            content_type="application/scim+json",
        )
        assert response.status_code == 400
    assert AuditEvent.objects.filter(action=Action.DIRECTORY_REQUEST_REFUSE).count() == 2

    archive = archive_of(client_signed_in(teammate).get("/privacy/export.zip"))

    refused = [
        event
        for event in lines(archive, "about_you.jsonl")
        if event["action"] == Action.DIRECTORY_REQUEST_REFUSE
    ]
    assert len(refused) == 1, "the refusal about Tom is missing from his export"
    assert teammate.email in refused[0]["details"]["user"]
    assert owner.email not in archive.read("about_you.jsonl").decode()


def test_the_export_tells_a_person_her_address_was_moved_and_what_was_asked_about_it(
    owner: User, site_admin: User
) -> None:
    """An address someone else changed, and the second administrator's approval it
    called for, are data about her: her export names the former address and who
    asked, approved and used the link."""
    from accounts.models import CredentialApproval, CredentialKind

    moved_at = timezone.now() - dt.timedelta(days=2)
    owner.email_previous = "alice.old@hopital.example"
    owner.email_changed_at = moved_at
    owner.email_changed_by = "the directory “Entra ID”"
    owner.save(update_fields=["email_previous", "email_changed_at", "email_changed_by"])
    CredentialApproval.objects.create(
        subject=owner,
        kind=CredentialKind.SETUP_LINK,
        email=owner.email,
        requested_by=site_admin,
        expires_at=timezone.now() + dt.timedelta(days=1),
    )

    profile = json.loads(
        archive_of(client_signed_in(owner).get("/privacy/export.zip")).read("profile.json")
    )

    assert profile["email_previous"] == "alice.old@hopital.example"
    assert profile["email_changed_at"] == moved_at.isoformat()
    assert profile["email_changed_by"] == "the directory “Entra ID”"
    assert [
        (row["kind"], row["to_address"], row["requested_by"], row["approved"])
        for row in profile["link_approvals"]
    ] == [("setup_link", owner.email, site_admin.email, None)]
