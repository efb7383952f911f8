"""An outside review of "admins cut access the minute staff leave": a leaver tries to
keep access through every channel left open before the deactivation."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from accounts import invitations, offboarding, services, tokens
from accounts.models import (
    Invitation,
    PersonalAccessToken,
    Team,
    TeamMembership,
    User,
    UserSession,
)
from audit import readable
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from directory.tokens import directory_token_create
from files import services as file_services
from files import tus
from files.downloads import DownloadCutOff
from files.errors import FileRuleError
from files.models import File, UploadSession
from files.request_body import body_readinto as real_body_readinto
from files.services.spaces import space_root, space_team_get_or_create
from files.uploads import BlobIngest
from files.views import tus as tus_views
from sharing.errors import ShareRuleError
from sharing.models import Share
from sharing.services import shares as share_services
from tests.conftest import PASSWORD, user_create
from tests.files_helpers import chunks_of, content_of, root_of, version_store
from tests.helpers import client_signed_in, totp_device_confirmed

pytestmark = pytest.mark.django_db


@pytest.fixture
def departing_admin(db: None) -> User:
    return user_create("dana.depart@hopital.example", full_name="Dana Depart", is_site_admin=True)


def test_invitation_a_departing_admin_sent_to_their_own_alias_opens_nothing_after(
    site_admin: User, departing_admin: User
) -> None:
    # Before leaving, the administrator invites a private address into the team that
    # holds the patients' files...
    cardiology = Team.objects.create(name="Cardiologie", slug="cardiologie")
    sent = invitations.invitation_create(
        actor=departing_admin, email="dana.perso@mail.example", teams=[cardiology]
    )
    offboarding.user_deactivate(actor=site_admin, user=departing_admin, successor=None)

    # ...and, once gone, opens the link to come back in under that address.
    path = urlsplit(sent.url).path
    outside = Client()
    assert outside.get(path).status_code == 410
    answer = outside.post(
        path,
        {"full_name": "Dana", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert answer.status_code == 410
    assert not User.objects.filter(email="dana.perso@mail.example").exists()
    assert not TeamMembership.objects.filter(team=cardiology).exists()

    # The administrators see it: revoked with the offboarding, which says so.
    assert Invitation.objects.get().revoked_at is not None
    event = AuditEvent.objects.get(action=Action.ACCOUNTS_USER_DEACTIVATE)
    assert event.details["invitations_revoked"] == 1
    assert AuditEvent.objects.filter(
        action=Action.ACCOUNTS_INVITATION_USE, outcome=Outcome.DENIED
    ).exists()


def token_client(user: User, *scopes: str) -> Client:
    _token, plaintext = tokens.token_create(
        actor=user, name="Uploader", scopes=list(scopes), expires_in_days=30
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


def deactivated_while_reading_the_body(
    monkeypatch: pytest.MonkeyPatch, *, leaver: User, admin: User
) -> None:
    """The request was authenticated, its body is still arriving (a 2 GB study over a
    slow line) when the administrator presses Deactivate."""

    def body_readinto(request: Any) -> Callable[[memoryview], int]:
        readinto = real_body_readinto(request)

        def reading(view: memoryview) -> int:
            if User.objects.filter(pk=leaver.pk, is_active=True).exists():
                offboarding.user_deactivate(actor=admin, user=leaver, successor=None)
            return readinto(view)

        return reading

    monkeypatch.setattr(tus_views, "body_readinto", body_readinto)


@pytest.mark.usefixtures("folder_backend", "small_segments")
def test_upload_whose_body_was_still_arriving_at_deactivation_is_not_kept(
    owner: User, site_admin: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = token_client(owner, "write")
    content = content_of(3000)
    name = base64.b64encode(b"scan.dcm").decode()
    created = api.post(
        "/api/v1/uploads/",
        b"",
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(len(content)),
            "Upload-Metadata": f"filename {name}",
        },
    )
    assert created.status_code == 201
    url = created["Location"].replace("http://testserver", "")

    deactivated_while_reading_the_body(monkeypatch, leaver=owner, admin=site_admin)
    answer = api.generic(
        "PATCH",
        url,
        content,
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={"Tus-Resumable": "1.0.0", "Upload-Offset": "0"},
    )

    owner.refresh_from_db()
    assert not owner.is_active
    assert answer.status_code == 403
    assert not File.objects.filter(name="scan.dcm").exists()
    assert not UploadSession.objects.exists()
    refusal = AuditEvent.objects.get(action=Action.FILES_UPLOAD_REJECT)
    assert refusal.outcome == Outcome.DENIED
    assert refusal.actor_id == str(owner.pk)
    assert "deactivated" in refusal.details["reason"]


def drain(body: Iterator[bytes], *, into: list[bytes]) -> None:
    """Read on as the WSGI server would, keeping what arrived."""
    for chunk in body:
        into.append(chunk)


@pytest.mark.usefixtures("folder_backend", "small_segments")
def test_download_started_before_deactivation_stops_within_seconds(
    owner: User, site_admin: User
) -> None:
    study = version_store(
        actor=owner, folder=root_of(owner), name="etude.dcm", content=content_of(6000)
    ).file
    with time_machine.travel(timezone.now(), tick=False) as clock:
        browser = client_signed_in(owner)
        response = browser.get(f"/files/{study.pk}/download/")
        assert response.status_code == 200
        body = chunks_of(response)
        received = [next(body)]

        offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)
        clock.shift(dt.timedelta(seconds=30))
        with pytest.raises(DownloadCutOff, match="deactivated"):
            drain(body, into=received)
    assert len(b"".join(received)) < 6000
    refusal = AuditEvent.objects.get(action=Action.FILES_VERSION_DOWNLOAD, outcome=Outcome.DENIED)
    assert refusal.actor_id == str(owner.pk)
    assert refusal.details["reason"] == "account deactivated"
    sent = AuditEvent.objects.get(action=Action.FILES_VERSION_SENT)
    assert sent.details["completed"] is False


@pytest.mark.usefixtures("folder_backend", "small_segments")
def test_zip_of_ticked_files_started_before_deactivation_stops_within_seconds(
    owner: User, site_admin: User
) -> None:
    files = [
        version_store(
            actor=owner, folder=root_of(owner), name=f"coupe-{n}.dcm", content=content_of(4000)
        ).file
        for n in range(3)
    ]
    with time_machine.travel(timezone.now(), tick=False) as clock:
        browser = client_signed_in(owner)
        response = browser.post(
            "/sharing/selection/download/", {"file": [str(file.pk) for file in files]}
        )
        assert response.status_code == 200
        body = chunks_of(response)
        received = [next(body)]

        offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)
        clock.shift(dt.timedelta(seconds=30))
        with pytest.raises(DownloadCutOff, match="deactivated"):
            drain(body, into=received)
    assert len(b"".join(received)) < 3 * 4000
    refusal = AuditEvent.objects.get(action=Action.FILES_VERSION_DOWNLOAD, outcome=Outcome.DENIED)
    assert refusal.actor_id == str(owner.pk)
    assert refusal.details["reason"] == "account deactivated"


def test_set_up_link_handed_out_before_deactivation_sets_no_password_after(
    owner: User, site_admin: User
) -> None:
    # The operator printed a set-up link (manage.py setup_link) for an account the
    # directory created; the person leaves before using it, then tries it.
    owner.set_unusable_password()
    owner.save(update_fields=["password"])
    _user, url = services.setup_link_issue(email=owner.email)
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)

    outside = Client()
    opened = outside.get(urlsplit(url).path, follow=True)
    assert opened.status_code == 200
    assert b'name="new_password1"' not in opened.content  # the "invalid link" page
    chosen = "another horse battery staple 77"
    outside.post(
        opened.redirect_chain[-1][0] if opened.redirect_chain else urlsplit(url).path,
        {"new_password1": chosen, "new_password2": chosen},
    )
    owner.refresh_from_db()
    assert not owner.has_usable_password()
    assert AuditEvent.objects.filter(
        action=Action.ACCOUNTS_SETUP_LINK_USE, outcome=Outcome.DENIED
    ).exists()


def test_reactivation_brings_back_no_session_and_no_token(owner: User, site_admin: User) -> None:
    laptop = client_signed_in(owner)
    _token, plaintext = tokens.token_create(
        actor=owner, name="Lab export", scopes=["read"], expires_in_days=30
    )
    script = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert script.get("/api/v1/me/").status_code == 200
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)
    assert script.get("/api/v1/me/").status_code == 401
    assert laptop.get("/api/v1/me/").status_code in (401, 403)

    offboarding.user_reactivate(actor=site_admin, user=owner)
    assert script.get("/api/v1/me/").status_code == 401
    assert laptop.get("/api/v1/me/").status_code in (401, 403)
    assert laptop.get("/").status_code == 302
    refused = AuditEvent.objects.filter(
        action=Action.ACCOUNTS_TOKEN_USE, outcome=Outcome.DENIED
    ).values_list("details__reason", flat=True)
    assert list(refused) == ["revoked", "revoked"]


# --- The directory (SCIM) ---------------------------------------------------------------


def scim(raw_token: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    call = getattr(client, method.lower())
    if body is None:
        return call(f"/scim/v2/{path}")
    return call(f"/scim/v2/{path}", json.dumps(body), content_type="application/scim+json")


SCIM_PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.mark.usefixtures("folder_backend", "small_segments")
def test_directory_removing_someone_from_a_group_cuts_the_team_space_at_once(
    site_admin: User, owner: User, teammate: User
) -> None:
    _directory_token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    created = scim(
        raw, "POST", "Groups",
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Radiologie",
         "members": [{"value": str(owner.pk)}, {"value": str(teammate.pk)}]},
    )  # fmt: skip
    assert created.status_code == 201
    team = Team.objects.get(name="Radiologie")
    shared = version_store(
        actor=teammate,
        folder=space_root(space_team_get_or_create(team=team)),
        name="irm.dcm",
        content=content_of(500),
    ).file
    browser = client_signed_in(owner)
    script = token_client(owner, "read")
    assert browser.get(f"/files/{shared.pk}/download/").status_code == 200
    assert script.get(f"/api/v1/files/{shared.pk}/").status_code == 200

    removed = scim(
        raw, "PATCH", f"Groups/{created.json()['id']}",
        {"schemas": [SCIM_PATCH],
         "Operations": [{"op": "remove", "path": f'members[value eq "{owner.pk}"]'}]},
    )  # fmt: skip
    assert removed.status_code == 200, removed.content
    assert browser.get(f"/files/{shared.pk}/download/").status_code == 404
    assert script.get(f"/api/v1/files/{shared.pk}/").status_code == 404


def test_directory_recreating_a_deleted_person_gives_them_nothing_of_the_old_account(
    site_admin: User, owner: User
) -> None:
    _directory_token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    totp_device_confirmed(owner)
    assert scim(raw, "DELETE", f"Users/{owner.pk}").status_code == 204
    again = scim(
        raw, "POST", "Users",
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": owner.email,
         "externalId": "E-1234",
         "emails": [{"value": owner.email, "type": "work", "primary": True}]},
    )  # fmt: skip
    # One account per address: the old one is not revived behind the admins' backs.
    assert again.status_code == 409
    owner.refresh_from_db()
    assert not owner.is_active
    assert User.objects.filter(email__iexact=owner.email).count() == 1
    # And "active: true" on the deleted one is a 404, not a silent reactivation.
    revived = scim(
        raw, "PATCH", f"Users/{owner.pk}",
        {"schemas": [SCIM_PATCH],
         "Operations": [{"op": "replace", "path": "active", "value": True}]},
    )  # fmt: skip
    assert revived.status_code == 404
    owner.refresh_from_db()
    assert not owner.is_active


@pytest.mark.usefixtures("folder_backend", "small_segments")
def test_new_version_whose_upload_began_before_deactivation_is_not_kept(
    owner: User, site_admin: User
) -> None:
    report = version_store(
        actor=owner, folder=root_of(owner), name="cr.pdf", content=content_of(300)
    ).file
    # The person as the request loaded them, before the body (the new version) arrived.
    as_loaded = User.objects.get(pk=owner.pk)
    ingest = BlobIngest(max_bytes=1000)
    ingest.write(content_of(400, seed="v2"))
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)
    with pytest.raises(FileRuleError, match="deactivated") as refused:
        file_services.file_version_add(actor=as_loaded, file=report, sealed=ingest.finish())
    assert refused.value.status_code == 403
    assert report.versions.count() == 1
    refusal = AuditEvent.objects.get(action=Action.FILES_UPLOAD_REJECT)
    assert (refusal.actor_id, refusal.details["reason"]) == (str(owner.pk), "account deactivated")


# --- The identity provider (OpenID Connect) -------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_provider_sign_in_neither_opens_nor_revives_an_offboarded_account(
    live_server: Any, oidc_provider: Any, site_admin: User
) -> None:
    from tests.test_sso_oidc import linked_alice, sign_in

    alice = linked_alice(oidc_provider)
    offboarding.user_deactivate(actor=site_admin, user=alice, successor=None)
    assert sign_in(live_server, "alice").status_code == 403
    alice.refresh_from_db()
    assert not alice.is_active

    # Brought back by an administrator: the old link to the provider is gone with the
    # other second factors; signing in there does not open the account by itself.
    offboarding.user_reactivate(actor=site_admin, user=alice)
    assert sign_in(live_server, "alice").status_code == 403
    assert not UserSession.objects.filter(user=alice, ended_at__isnull=True).exists()
    reasons = AuditEvent.objects.filter(
        action=Action.SSO_SIGN_IN, outcome=Outcome.DENIED
    ).values_list("details__reason", flat=True)
    assert list(reasons) == ["account deactivated", "address of an unlinked account"]


def test_leaver_browser_refused_after_deactivation_is_in_the_audit_log_once(
    owner: User, site_admin: User
) -> None:
    ward_pc = client_signed_in(owner)
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)

    refused = ward_pc.get("/files/")
    assert refused.status_code == 302
    assert refused["Location"].startswith("/accounts/login/")
    ward_pc.get("/files/")  # the cookie went with the first answer: nothing more to say

    event = AuditEvent.objects.get(action=Action.ACCOUNTS_SESSION_REFUSE)
    assert event.outcome == Outcome.DENIED
    assert event.actor_id == str(owner.pk)
    assert event.details["reason"] == "account deactivated"
    assert event.details["path"] == "/files/"


def test_leaver_signing_in_with_their_password_is_refused_and_recorded_as_such(
    owner: User, site_admin: User
) -> None:
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)
    answer = Client().post("/accounts/login/", {"username": owner.email, "password": PASSWORD})
    assert answer.status_code == 200  # the form again, nothing more said to the browser
    event = AuditEvent.objects.get(action=Action.ACCOUNTS_LOGIN, outcome=Outcome.DENIED)
    assert event.actor_label == owner.email
    assert event.details["reason"] == "account deactivated"
    assert event.target_id == str(owner.pk)
    [in_words] = readable.readable_events([event])
    assert in_words.note == "account deactivated"  # on the auditor's console
    assert in_words.who == owner.email


def test_token_asked_for_in_the_instant_of_deactivation_is_not_minted(
    owner: User, site_admin: User
) -> None:
    # The token form was posted by a session authenticated just before the deactivation;
    # the token is made just after (the account row was locked by the offboarding).
    as_loaded = User.objects.get(pk=owner.pk)
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)
    with pytest.raises(ValidationError):
        tokens.token_create(actor=as_loaded, name="Late", scopes=["read"], expires_in_days=30)
    assert not PersonalAccessToken.objects.filter(user=owner, revoked_at__isnull=True).exists()
    refusal = AuditEvent.objects.get(action=Action.ACCOUNTS_TOKEN_CREATE)
    assert refusal.outcome == Outcome.DENIED
    assert refusal.details["reason"] == "account deactivated"


def test_reactivation_ends_a_session_opened_in_the_instant_of_deactivation(
    owner: User, site_admin: User
) -> None:
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)
    # A sign-in whose password was checked just before the deactivation, its session
    # written just after: no plan listed it.
    late = Client()
    late.force_login(owner)
    offboarding.user_reactivate(actor=site_admin, user=owner)
    # Back at work, the person signs in again; the old browser opens nothing.
    assert late.get("/accounts/mfa/setup/").status_code == 302
    assert not UserSession.objects.filter(user=owner, ended_at__isnull=True).exists()


# --- Files changed by a caller that did not check the account first ---------------------


@pytest.mark.parametrize(
    ("change", "action"),
    [
        (
            lambda person, report, folder: file_services.folder_create(
                actor=person, parent=folder.parent, name="Dossiers emportés"
            ),
            Action.FILES_FOLDER_CREATE,
        ),
        (
            lambda person, report, folder: file_services.folder_rename(
                actor=person, folder=folder, name="Renommé"
            ),
            Action.FILES_FOLDER_RENAME,
        ),
        (
            lambda person, report, folder: file_services.file_rename(
                actor=person, file=report, name="renomme.pdf"
            ),
            Action.FILES_FILE_RENAME,
        ),
        (
            lambda person, report, folder: file_services.file_move(
                actor=person, file=report, destination=folder
            ),
            Action.FILES_FILE_MOVE,
        ),
        (
            lambda person, report, folder: file_services.folder_delete(actor=person, folder=folder),
            Action.FILES_FOLDER_DELETE,
        ),
    ],
    ids=["folder_create", "folder_rename", "file_rename", "file_move", "folder_delete"],
)
@pytest.mark.usefixtures("folder_backend")
def test_a_leavers_account_changes_no_file_or_folder_whoever_calls(
    owner: User, site_admin: User, change: Callable[[User, File, Any], object], action: Action
) -> None:
    # A form posted, or a job queued, just before the departure: the person as it was
    # loaded then still reads "active".
    report = version_store(
        actor=owner, folder=root_of(owner), name="cr.pdf", content=content_of(300)
    ).file
    folder = file_services.folder_create(actor=owner, parent=root_of(owner), name="Patients")
    as_loaded = User.objects.get(pk=owner.pk)
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)

    with pytest.raises(FileRuleError, match="deactivated") as refused:
        change(as_loaded, report, folder)

    assert refused.value.status_code == 403
    report.refresh_from_db()
    folder.refresh_from_db()
    assert (report.name, report.folder_id) == ("cr.pdf", root_of(owner).pk)
    assert (folder.name, folder.deleted_at) == ("Patients", None)
    assert not root_of(owner).children.filter(name="Dossiers emportés").exists()
    refusal = AuditEvent.objects.get(action=action, outcome=Outcome.DENIED)
    assert (refusal.actor_id, refusal.details["reason"]) == (str(owner.pk), "account deactivated")


@pytest.mark.usefixtures("folder_backend")
def test_a_leavers_account_starts_no_upload_whoever_calls(owner: User, site_admin: User) -> None:
    as_loaded = User.objects.get(pk=owner.pk)
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)
    name = base64.b64encode(b"scan.dcm").decode()
    with pytest.raises(tus.TusError) as refused:
        tus.upload_create(actor=as_loaded, length_header="3000", metadata_header=f"filename {name}")
    assert refused.value.status == 403
    assert not UploadSession.objects.exists()
    refusal = AuditEvent.objects.get(action=Action.FILES_UPLOAD_REJECT)
    assert (refusal.actor_id, refusal.details["reason"]) == (str(owner.pk), "account deactivated")


@pytest.mark.usefixtures("folder_backend")
def test_a_leavers_account_shares_nothing_whoever_calls(
    owner: User, outsider: User, site_admin: User
) -> None:
    report = version_store(
        actor=owner, folder=root_of(owner), name="cr.pdf", content=content_of(300)
    ).file
    as_loaded = User.objects.get(pk=owner.pk)
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)
    with pytest.raises(ShareRuleError, match="deactivated"):
        share_services.share_create(actor=as_loaded, item=report, recipient=outsider, role="viewer")
    assert not Share.objects.exists()
    refusal = AuditEvent.objects.get(action=Action.SHARING_SHARE_CREATE)
    assert refusal.outcome == Outcome.DENIED
    assert (refusal.actor_id, refusal.details["reason"]) == (str(owner.pk), "account deactivated")
