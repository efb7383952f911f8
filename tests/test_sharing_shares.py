"""Internal shares: Alice lends folders and files to colleagues, and takes them back.

People: Alice (the owner, manager of Cardiologie), Tom (her teammate), Rita (a
radiologist, member of Radiologie with Raphaël), Oscar (an outsider). Alice's
personal space holds "Patients Dupont / Imagerie / 2026 / scan.dcm" (two versions);
she shares "Imagerie" with Rita. Every way in is tried: browser pages, downloads of the
current and of an old version, the REST API with a token, tus uploads.
"""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Any

import pytest
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.test import Client

from accounts import tokens
from accounts.models import Team, TeamMembership, User
from accounts.offboarding import user_deactivate
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from files import selectors, services
from files.errors import FileNotFoundForActor, FileRuleError
from files.models import File, FileVersion, Folder
from files.selectors import Permission
from sharing import selectors as sharing_selectors
from sharing.models import Share, ShareRole
from sharing.services import shares
from tests.conftest import user_create
from tests.files_helpers import body_of, root_of, upload_through_view, version_store
from tests.helpers import client_signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("folder_backend")]

TUS = {"Tus-Resumable": "1.0.0"}


# --- People and files ----------------------------------------------------------------------


@pytest.fixture
def rita(db: None) -> User:
    return user_create("rita.radiologue@hopital.example", full_name="Rita Radiologue")


@pytest.fixture
def raphael(db: None) -> User:
    return user_create("raphael.radiologue@hopital.example", full_name="Raphaël Radiologue")


@pytest.fixture
def radiology(rita: User, raphael: User) -> Team:
    radiologie = Team.objects.create(name="Radiologie", slug="radiologie")
    TeamMembership.objects.create(team=radiologie, user=rita)
    TeamMembership.objects.create(team=radiologie, user=raphael)
    return radiologie


@dataclass
class Tree:
    patient: Folder  # "Patients Dupont": never shared
    imaging: Folder  # "Imagerie": shared with Rita in the tests
    year: Folder  # "Imagerie / 2026"
    scan: File  # "Imagerie / 2026 / scan.dcm"
    scan_old: FileVersion
    letter: File  # "Patients Dupont / lettre.pdf": shared alone in some tests


@pytest.fixture
def tree(owner: User) -> Tree:
    root = root_of(owner)
    patient = services.folder_create(actor=owner, parent=root, name="Patients Dupont")
    imaging = services.folder_create(actor=owner, parent=patient, name="Imagerie")
    year = services.folder_create(actor=owner, parent=imaging, name="2026")
    old = version_store(actor=owner, folder=year, name="scan.dcm", content=b"first scan")
    version_store(actor=owner, folder=year, name="scan.dcm", content=b"second scan")
    letter = version_store(actor=owner, folder=patient, name="lettre.pdf", content=b"letter")
    return Tree(patient, imaging, year, old.file, old, letter.file)


def share(owner: User, item: File | Folder, recipient: User | Team, role: str) -> Share:
    return shares.share_create(actor=owner, item=item, recipient=recipient, role=role)


def token_client(user: User, *scopes: str) -> Client:
    _token, plaintext = tokens.token_create(
        actor=user, name=f"Script {secrets.token_hex(4)}", scopes=list(scopes), expires_in_days=30
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


def tus_create(api: Client, folder: Folder, name: str, length: int) -> Any:
    values = {"filename": name, "folder": str(folder.pk)}
    metadata = ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in values.items()
    )
    return api.post(
        "/api/v1/uploads/",
        b"",
        content_type="application/offset+octet-stream",
        headers={**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata},
    )


def reads(tree: Tree) -> list[str]:
    return [
        f"/files/folders/{tree.imaging.pk}/",
        f"/files/folders/{tree.year.pk}/",
        f"/files/{tree.scan.pk}/",
        f"/files/{tree.scan.pk}/download/",
        f"/files/{tree.scan.pk}/versions/{tree.scan_old.pk}/download/",
    ]


# --- Reading through every way in -------------------------------------------------------------


def test_viewer_reads_the_shared_folder_in_the_browser_api_and_old_versions(
    owner: User, rita: User, outsider: User, tree: Tree
) -> None:
    share(owner, tree.imaging, rita, ShareRole.VIEWER)
    browser = client_signed_in(rita)
    for url in reads(tree):
        assert browser.get(url).status_code == 200, url
    assert body_of(browser.get(reads(tree)[-1])) == b"first scan"
    assert body_of(browser.get(f"/files/{tree.scan.pk}/download/")) == b"second scan"

    api = token_client(rita, "read")
    listing = api.get(f"/api/v1/files/folders/{tree.year.pk}/")
    assert listing.status_code == 200
    assert [entry["name"] for entry in listing.json()["files"]] == ["scan.dcm"]
    old = api.get(f"/api/v1/files/{tree.scan.pk}/versions/{tree.scan_old.pk}/content/")
    assert old.status_code == 200
    assert body_of(old) == b"first scan"

    # The folder above what was shared, and its other content, stay out of reach.
    assert browser.get(f"/files/folders/{tree.patient.pk}/").status_code == 404
    assert browser.get(f"/files/{tree.letter.pk}/download/").status_code == 404
    assert api.get(f"/api/v1/files/folders/{tree.patient.pk}/").status_code == 404

    stranger = client_signed_in(outsider)
    for url in reads(tree):
        assert stranger.get(url).status_code == 404, url
    assert token_client(outsider, "read").get(f"/api/v1/files/{tree.scan.pk}/").status_code == 404


def test_recipient_never_sees_the_names_of_the_owners_folders_above_the_share(
    owner: User, rita: User, tree: Tree
) -> None:
    share(owner, tree.imaging, rita, ShareRole.EDITOR)
    share(owner, tree.letter, rita, ShareRole.VIEWER)
    browser = client_signed_in(rita)
    for url in (f"/files/folders/{tree.year.pk}/", f"/files/{tree.scan.pk}/"):
        page = browser.get(url).content.decode()
        assert "Imagerie" in page
        assert "Patients Dupont" not in page, url
        assert "Shared with me" in page
        assert f"/files/spaces/{tree.year.space_id}/trash/" not in page
    letter_page = browser.get(f"/files/{tree.letter.pk}/").content.decode()
    assert "lettre.pdf" in letter_page
    assert "Patients Dupont" not in letter_page
    # The owner still sees the whole path.
    assert (
        "Patients Dupont" in client_signed_in(owner).get(f"/files/{tree.scan.pk}/").content.decode()
    )


def test_viewer_cannot_change_anything(owner: User, rita: User, tree: Tree) -> None:
    share(owner, tree.imaging, rita, ShareRole.VIEWER)
    browser = client_signed_in(rita)
    page = browser.get(f"/files/folders/{tree.year.pk}/").content.decode()
    assert 'id="upload-zone"' not in page
    assert 'id="share-button"' not in page
    assert tus_create(token_client(rita, "write"), tree.year, "intrus.dcm", 10).status_code == 404
    assert upload_through_view(browser, tree.year, "intrus.dcm", b"x").status_code == 404
    assert browser.post(f"/files/{tree.scan.pk}/rename/", {"rename-name": "x"}).status_code == 404
    assert browser.post(f"/files/{tree.scan.pk}/delete/").status_code == 404
    api = token_client(rita, "read", "write")
    upload = api.post(
        f"/api/v1/files/folders/{tree.year.pk}/upload/?name=intrus.dcm",
        b"x",
        content_type="application/octet-stream",
    )
    assert upload.status_code == 404
    assert not File.objects.filter(name="intrus.dcm").exists()


# --- Editors -------------------------------------------------------------------------------


def test_editor_uploads_with_tus_and_adds_versions_in_the_owners_space(
    owner: User, rita: User, tree: Tree
) -> None:
    share(owner, tree.imaging, rita, ShareRole.EDITOR)
    created = tus_create(token_client(rita, "write"), tree.year, "irm.dcm", 10)
    assert created.status_code == 201, created.content

    browser = client_signed_in(rita)
    assert upload_through_view(browser, tree.year, "scan.dcm", b"third scan").status_code == 302
    tree.scan.refresh_from_db()
    assert tree.scan.current_version is not None
    assert tree.scan.current_version.number == 3
    assert tree.scan.current_version.uploaded_by == rita
    assert tree.scan.space_id == root_of(owner).space_id
    page = browser.get(f"/files/folders/{tree.year.pk}/").content.decode()
    assert 'id="upload-zone"' in page


def test_editor_works_inside_but_cannot_rename_move_or_trash_the_shared_folder(
    owner: User, rita: User, tree: Tree
) -> None:
    share(owner, tree.imaging, rita, ShareRole.EDITOR)
    browser = client_signed_in(rita)
    api = token_client(rita, "read", "write")
    imaging = tree.imaging.pk

    # The shared folder itself stays where Alice put it, with its name.
    assert (
        browser.post(f"/files/folders/{imaging}/rename/", {"rename-name": "X"}).status_code == 404
    )
    assert browser.post(f"/files/folders/{imaging}/delete/").status_code == 404
    assert api.delete(f"/api/v1/files/folders/{imaging}/").status_code == 404
    assert (
        api.patch(
            f"/api/v1/files/folders/{imaging}/", {"name": "X"}, content_type="application/json"
        ).status_code
        == 404
    )
    tree.imaging.refresh_from_db()
    assert (tree.imaging.name, tree.imaging.deleted_at) == ("Imagerie", None)

    # Inside it, Rita renames and creates.
    renamed = browser.post(f"/files/folders/{tree.year.pk}/rename/", {"rename-name": "Année 2026"})
    assert renamed.status_code == 302
    assert (
        browser.post(f"/files/folders/{imaging}/new-folder/", {"new-name": "CR"}).status_code == 302
    )

    # Moving something lent to her into her own space would take it from Alice.
    mine = root_of(rita)
    moved = browser.post(f"/files/{tree.scan.pk}/move/", {"move-destination": mine.pk})
    assert moved.status_code == 400  # her own folder is not offered for it
    api_move = api.patch(
        f"/api/v1/files/{tree.scan.pk}/", {"folder": mine.pk}, content_type="application/json"
    )
    assert api_move.status_code == 400
    assert "stays in its owner's space" in api_move.json()["detail"]
    refusal = AuditEvent.objects.get(action=Action.FILES_ACCESS, details__need="move_out_of_space")
    assert (refusal.actor_label, refusal.target_id) == (rita.email, str(tree.scan.pk))
    tree.scan.refresh_from_db()
    assert tree.scan.folder_id == tree.year.pk

    # Trashing inside goes to Alice's trash; Rita cannot bring it back.
    assert browser.post(f"/files/{tree.scan.pk}/delete/").status_code == 302
    trash = client_signed_in(owner).get(f"/files/spaces/{tree.scan.space_id}/trash/")
    assert "scan.dcm" in trash.content.decode()
    assert browser.post(f"/files/{tree.scan.pk}/restore/").status_code == 404
    assert browser.get(f"/files/spaces/{tree.scan.space_id}/trash/").status_code == 404


def test_the_files_services_refuse_an_editor_on_the_shared_item_itself(
    owner: User, rita: User, tree: Tree
) -> None:
    """Defence in depth: a caller that forgot the view's MANAGE check still cannot rename,
    move or trash the item lent to Rita, nor move what is inside out of Alice's space."""
    share(owner, tree.imaging, rita, ShareRole.EDITOR)
    mine = root_of(rita)
    with pytest.raises(FileNotFoundForActor):
        services.folder_rename(actor=rita, folder=tree.imaging, name="X")
    with pytest.raises(FileNotFoundForActor):
        services.folder_delete(actor=rita, folder=tree.imaging)
    with pytest.raises(FileNotFoundForActor):
        services.folder_move(actor=rita, folder=tree.imaging, destination=mine)
    with pytest.raises(FileRuleError, match="stays in its owner's space"):
        services.file_move(actor=rita, file=tree.scan, destination=mine)
    tree.imaging.refresh_from_db()
    tree.scan.refresh_from_db()
    assert (tree.imaging.name, tree.imaging.deleted_at) == ("Imagerie", None)
    assert tree.scan.folder_id == tree.year.pk


def test_editor_moves_within_the_shared_folder_and_copies_out(
    owner: User, rita: User, tree: Tree
) -> None:
    share(owner, tree.imaging, rita, ShareRole.EDITOR)
    browser = client_signed_in(rita)
    moved = browser.post(f"/files/{tree.scan.pk}/move/", {"move-destination": tree.imaging.pk})
    assert moved.status_code == 302
    tree.scan.refresh_from_db()
    assert tree.scan.folder_id == tree.imaging.pk
    copied = browser.post(
        f"/files/{tree.scan.pk}/copy/", {"copy-destination": root_of(rita).pk, "copy-name": ""}
    )
    assert copied.status_code == 302
    assert File.objects.filter(space=root_of(rita).space, name="scan.dcm").exists()


def test_editor_of_a_file_adds_a_version_but_cannot_rename_or_trash_it(
    owner: User, rita: User, tree: Tree
) -> None:
    share(owner, tree.scan, rita, ShareRole.EDITOR)
    browser = client_signed_in(rita)
    from django.core.files.uploadedfile import SimpleUploadedFile

    added = browser.post(
        f"/files/{tree.scan.pk}/upload/", {"file": SimpleUploadedFile("scan.dcm", b"third")}
    )
    assert added.status_code == 302
    assert browser.post(f"/files/{tree.scan.pk}/rename/", {"rename-name": "x"}).status_code == 404
    assert browser.post(f"/files/{tree.scan.pk}/delete/").status_code == 404
    # The folder it lives in stays hidden.
    assert browser.get(f"/files/folders/{tree.year.pk}/").status_code == 404


# --- Taking access back -----------------------------------------------------------------------


def test_removing_a_share_cuts_access_at_once(owner: User, rita: User, tree: Tree) -> None:
    granted = share(owner, tree.imaging, rita, ShareRole.VIEWER)
    browser = client_signed_in(rita)
    api = token_client(rita, "read")
    assert browser.get(f"/files/{tree.scan.pk}/download/").status_code == 200

    alice = client_signed_in(owner)
    assert alice.post(f"/sharing/shares/{granted.pk}/remove/").status_code == 302
    assert not Share.objects.filter(pk=granted.pk).exists()
    for url in reads(tree):
        assert browser.get(url).status_code == 404, url
    assert api.get(f"/api/v1/files/{tree.scan.pk}/content/").status_code == 404
    removal = AuditEvent.objects.get(action=Action.SHARING_SHARE_DELETE)
    assert (removal.actor_label, removal.target_id) == (owner.email, str(granted.pk))


def test_owner_turns_an_editor_into_a_viewer(owner: User, rita: User, tree: Tree) -> None:
    granted = share(owner, tree.imaging, rita, ShareRole.EDITOR)
    api = token_client(rita, "write")
    assert tus_create(api, tree.year, "a.dcm", 5).status_code == 201
    alice = client_signed_in(owner)
    changed = alice.post(f"/sharing/shares/{granted.pk}/role/", {f"s{granted.pk}-role": "viewer"})
    assert changed.status_code == 302
    assert tus_create(api, tree.year, "b.dcm", 5).status_code == 404
    event = AuditEvent.objects.get(action=Action.SHARING_SHARE_UPDATE)
    assert (event.details["old_role"], event.details["role"]) == ("editor", "viewer")


def test_trashed_items_stop_giving_access_until_restored(
    owner: User, rita: User, tree: Tree
) -> None:
    share(owner, tree.imaging, rita, ShareRole.VIEWER)
    browser = client_signed_in(rita)
    services.folder_delete(actor=owner, folder=tree.imaging)
    assert browser.get(f"/files/{tree.scan.pk}/download/").status_code == 404
    assert sharing_selectors.shared_with_me(actor=rita) == []
    services.folder_restore(actor=owner, folder=tree.imaging)
    assert browser.get(f"/files/{tree.scan.pk}/download/").status_code == 200


# --- Teams and the strongest role -----------------------------------------------------------------


def test_team_share_reaches_its_members_and_stops_when_they_leave(
    owner: User, rita: User, raphael: User, radiology: Team, tree: Tree
) -> None:
    share(owner, tree.imaging, radiology, ShareRole.VIEWER)
    assert client_signed_in(raphael).get(f"/files/{tree.scan.pk}/download/").status_code == 200
    TeamMembership.objects.filter(team=radiology, user=raphael).delete()
    assert client_signed_in(raphael).get(f"/files/{tree.scan.pk}/download/").status_code == 404
    assert client_signed_in(rita).get(f"/files/{tree.scan.pk}/download/").status_code == 200


def test_the_strongest_share_wins(owner: User, rita: User, radiology: Team, tree: Tree) -> None:
    share(owner, tree.year, rita, ShareRole.VIEWER)
    share(owner, tree.imaging, radiology, ShareRole.EDITOR)
    assert selectors.folder_permission(actor=rita, folder=tree.year) == Permission.MANAGE
    assert selectors.folder_permission(actor=rita, folder=tree.imaging) == Permission.EDIT
    assert tus_create(token_client(rita, "write"), tree.year, "c.dcm", 5).status_code == 201


def test_permission_check_costs_the_same_few_queries_at_any_depth(
    owner: User, rita: User, tree: Tree, django_assert_max_num_queries: Any
) -> None:
    share(owner, tree.imaging, rita, ShareRole.VIEWER)
    deep = tree.year
    for level in range(8):
        deep = services.folder_create(actor=owner, parent=deep, name=f"niveau {level}")
    deep = Folder.objects.select_related("space").get(pk=deep.pk)
    # The space check, the ancestor chain (one recursive query), the shares of the chain.
    with django_assert_max_num_queries(3):
        assert selectors.folder_permission(actor=rita, folder=deep) == Permission.VIEW


# --- Who may share ----------------------------------------------------------------------------


def test_a_recipient_may_not_pass_the_share_on(
    owner: User, rita: User, outsider: User, tree: Tree
) -> None:
    share(owner, tree.imaging, rita, ShareRole.EDITOR)
    browser = client_signed_in(rita)
    page = browser.get(f"/sharing/folders/{tree.imaging.pk}/share/")
    assert page.status_code == 403
    assert "Only the people of the space" in page.content.decode()
    posted = browser.post(
        f"/sharing/folders/{tree.year.pk}/share/",
        {"recipient": outsider.email, "role": "viewer"},
    )
    assert posted.status_code == 403
    api = token_client(rita, "share")
    created = api.post(
        "/api/v1/sharing/shares/",
        {"folder": tree.year.pk, "user": outsider.email, "role": "viewer"},
        content_type="application/json",
    )
    assert created.status_code == 403
    assert not Share.objects.filter(user=outsider).exists()
    assert AuditEvent.objects.filter(
        action=Action.SHARING_SHARE_CREATE, outcome=Outcome.DENIED, actor_label=rita.email
    ).exists()
    # Oscar, who sees nothing, learns nothing.
    assert (
        client_signed_in(outsider).get(f"/sharing/folders/{tree.imaging.pk}/share/").status_code
        == 404
    )


def test_team_members_share_team_files(owner: User, teammate: User, rita: User, team: Team) -> None:
    team_root = services.space_root(services.space_team_get_or_create(team=team))
    ward = services.folder_create(actor=owner, parent=team_root, name="Staff")
    tom = client_signed_in(teammate)
    added = tom.post(
        f"/sharing/folders/{ward.pk}/share/", {"recipient": rita.email, "role": "viewer"}
    )
    assert added.status_code == 302
    assert client_signed_in(rita).get(f"/files/folders/{ward.pk}/").status_code == 200
    # Sharing with the team that owns the space adds nothing.
    again = tom.post(
        f"/sharing/folders/{ward.pk}/share/", {"recipient": "Cardiologie", "role": "viewer"}
    )
    assert again.status_code == 409


# --- The sharing page and the e-mail ------------------------------------------------------------


def test_owner_shares_from_the_page_and_the_recipient_is_emailed(
    owner: User, rita: User, tree: Tree, django_capture_on_commit_callbacks: Any
) -> None:
    alice = client_signed_in(owner)
    folder_page = alice.get(f"/files/folders/{tree.imaging.pk}/").content.decode()
    assert f'href="/sharing/folders/{tree.imaging.pk}/share/"' in folder_page
    assert (
        f'href="/sharing/files/{tree.scan.pk}/share/"'
        in alice.get(f"/files/{tree.scan.pk}/").content.decode()
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(
            f"/sharing/folders/{tree.imaging.pk}/share/",
            {"recipient": "RITA.radiologue@hopital.example", "role": "editor"},
        )
    assert response.status_code == 302
    created = Share.objects.get(folder=tree.imaging, user=rita)
    assert (created.role, created.created_by) == ("editor", owner)
    page = alice.get(f"/sharing/folders/{tree.imaging.pk}/share/").content.decode()
    assert "Rita Radiologue" in page

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [rita.email]
    assert "Alice" in message.subject or owner.get_full_name() in message.subject
    assert f"/files/folders/{tree.imaging.pk}/" in message.body
    html = message.alternatives[0][0]  # type: ignore[attr-defined]
    assert f"/files/folders/{tree.imaging.pk}/" in html
    # Folder names often name a patient: they stay out of e-mail.
    assert "Imagerie" not in message.body + html + message.subject

    event = AuditEvent.objects.get(action=Action.SHARING_SHARE_CREATE, outcome=Outcome.SUCCESS)
    assert event.details["recipient_user"] == rita.email
    assert event.details["role"] == "editor"

    listed = client_signed_in(rita).get("/sharing/shared-with-me/").content.decode()
    assert "Imagerie" in listed
    assert owner.get_full_name() in listed


def test_team_share_emails_each_member(
    owner: User,
    rita: User,
    raphael: User,
    radiology: Team,
    tree: Tree,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        share(owner, tree.imaging, radiology, ShareRole.VIEWER)
    assert sorted(message.to[0] for message in mail.outbox) == sorted([rita.email, raphael.email])
    listed = client_signed_in(raphael).get("/sharing/shared-with-me/").content.decode()
    assert "Imagerie" in listed
    assert "Radiologie" in listed


def test_the_email_goes_out_in_the_sharers_language(
    owner: User, rita: User, tree: Tree, django_capture_on_commit_callbacks: Any
) -> None:
    alice = client_signed_in(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(
            f"/sharing/folders/{tree.imaging.pk}/share/",
            {"recipient": rita.email, "role": "viewer"},
            HTTP_ACCEPT_LANGUAGE="fr",
        )
    assert response.status_code == 302
    message = mail.outbox[0]
    assert isinstance(message, EmailMultiAlternatives)
    assert '<html lang="fr">' in str(message.alternatives[0][0])


def test_the_email_goes_out_in_the_recipients_language_once_known(
    owner: User, rita: User, tree: Tree, django_capture_on_commit_callbacks: Any
) -> None:
    User.objects.filter(pk=rita.pk).update(language="fr")  # she reads SecureDrive in French
    alice = client_signed_in(owner)
    with django_capture_on_commit_callbacks(execute=True):
        alice.post(
            f"/sharing/folders/{tree.imaging.pk}/share/",
            {"recipient": rita.email, "role": "viewer"},
            HTTP_ACCEPT_LANGUAGE="en",
        )
    message = mail.outbox[0]
    assert isinstance(message, EmailMultiAlternatives)
    assert '<html lang="fr">' in str(message.alternatives[0][0])
    assert "partagé" in message.subject


def test_unknown_and_inactive_people_are_refused_alike(owner: User, rita: User, tree: Tree) -> None:
    rita.is_active = False
    rita.save(update_fields=["is_active"])
    alice = client_signed_in(owner)
    answers = [
        alice.post(
            f"/sharing/folders/{tree.imaging.pk}/share/", {"recipient": email, "role": "viewer"}
        )
        for email in (rita.email, "nobody@hopital.example", "rita")
    ]
    assert [answer.status_code for answer in answers] == [400, 400, 400]
    assert len({answer.content.decode().count("only exact matches") for answer in answers}) == 1
    assert not Share.objects.exists()
    misses = AuditEvent.objects.filter(
        action=Action.SHARING_SHARE_CREATE,
        outcome=Outcome.DENIED,
        details__reason="recipient_unknown",
    )
    assert sorted(misses.values_list("details__recipient", flat=True)) == sorted(
        [rita.email, "nobody@hopital.example", "rita"]
    )


def test_the_top_of_a_space_cannot_be_shared(owner: User, rita: User) -> None:
    page = client_signed_in(owner).get(f"/sharing/folders/{root_of(owner).pk}/share/")
    assert page.status_code == 403


# --- The API -------------------------------------------------------------------------------------


def test_api_creates_lists_changes_and_removes_shares(owner: User, rita: User, tree: Tree) -> None:
    reader = token_client(owner, "read")
    refused = reader.post(
        "/api/v1/sharing/shares/",
        {"folder": tree.imaging.pk, "user": rita.email, "role": "viewer"},
        content_type="application/json",
    )
    assert refused.status_code == 403  # a read token cannot share

    api = token_client(owner, "read", "share")
    created = api.post(
        "/api/v1/sharing/shares/",
        {"folder": tree.imaging.pk, "user": rita.email, "role": "viewer"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["folder"], body["user"], body["role"]) == (tree.imaging.pk, rita.email, "viewer")
    twice = api.post(
        "/api/v1/sharing/shares/",
        {"folder": tree.imaging.pk, "user": rita.email, "role": "editor"},
        content_type="application/json",
    )
    assert twice.status_code == 409

    listed = api.get(f"/api/v1/sharing/shares/?folder={tree.imaging.pk}")
    assert [entry["user"] for entry in listed.json()] == [rita.email]

    mine = token_client(rita, "read").get("/api/v1/sharing/shared-with-me/")
    assert mine.status_code == 200
    assert [(entry["folder"], entry["role"], entry["shared_by"]) for entry in mine.json()] == [
        (tree.imaging.pk, "viewer", owner.email)
    ]

    url = f"/api/v1/sharing/shares/{body['id']}/"
    changed = api.patch(url, {"role": "editor"}, content_type="application/json")
    assert changed.json()["role"] == "editor"
    assert token_client(rita, "read", "share").delete(url).status_code == 404
    assert api.delete(url).status_code == 204
    assert token_client(rita, "read").get("/api/v1/sharing/shared-with-me/").json() == []


# --- Offboarding ---------------------------------------------------------------------------------


def test_a_deactivated_recipient_gets_nothing(
    owner: User, rita: User, site_admin: User, tree: Tree
) -> None:
    share(owner, tree.imaging, rita, ShareRole.EDITOR)
    user_deactivate(actor=site_admin, user=rita, successor=None)
    rita.refresh_from_db()
    assert selectors.folder_permission(actor=rita, folder=tree.imaging) == Permission.NONE
    assert selectors.file_permission(actor=rita, file=tree.scan) == Permission.NONE
    assert sharing_selectors.shared_with_me(actor=rita) == []


def test_shares_a_leaver_gave_stay_with_the_files_handed_to_the_successor(
    owner: User, teammate: User, rita: User, site_admin: User, tree: Tree
) -> None:
    granted = share(owner, tree.imaging, rita, ShareRole.VIEWER)
    user_deactivate(actor=site_admin, user=owner, successor=teammate)
    tree.scan.refresh_from_db()
    assert tree.scan.space_id == root_of(teammate).space_id
    assert Share.objects.filter(pk=granted.pk).exists()
    assert client_signed_in(rita).get(f"/files/{tree.scan.pk}/download/").status_code == 200
    # The successor now decides: he sees the share and may remove it.
    tom = client_signed_in(teammate)
    page = tom.get(f"/sharing/folders/{tree.imaging.pk}/share/")
    assert page.status_code == 200
    assert "Rita Radiologue" in page.content.decode()
    assert tom.post(f"/sharing/shares/{granted.pk}/remove/").status_code == 302
    assert client_signed_in(rita).get(f"/files/{tree.scan.pk}/download/").status_code == 404
