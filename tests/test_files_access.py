"""Who may reach which file, through every way in.

Five people: Alice (the owner, manager of Cardiologie), Tom (her teammate), Oscar (an
outsider), Sam (site administrator) and Audrey (auditor). Two files: one in Alice's
personal space, one in the Cardiologie team space. Every way in (browser pages,
downloads of the current and of an old version, changes, the REST API with a token) is
tried by each person. Roles grant no content: what someone may not see is a 404, the
same as an id that does not exist, and the refusal is audited.
"""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import secrets
from dataclasses import dataclass

import pytest
from django.test import Client

from accounts import tokens
from accounts.models import Team, User
from audit.actions import Action
from audit.models import AuditEvent
from files import services
from files.models import File, FileVersion
from tests.files_helpers import Backend, body_of, content_of, root_of, version_store
from tests.helpers import client_signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("folder_backend")]


@dataclass
class Files:
    personal: File
    personal_old: FileVersion
    team: File
    team_old: FileVersion


@pytest.fixture
def files(owner: User, team: Team) -> Files:
    personal_root = root_of(owner)
    team_root = services.space_root(services.space_team_get_or_create(team=team))
    personal_old = version_store(actor=owner, folder=personal_root, name="mine.pdf", content=b"1")
    version_store(actor=owner, folder=personal_root, name="mine.pdf", content=b"22")
    team_old = version_store(actor=owner, folder=team_root, name="ward.pdf", content=b"333")
    version_store(actor=owner, folder=team_root, name="ward.pdf", content=b"4444")
    return Files(personal_old.file, personal_old, team_old.file, team_old)


def browser_reads(file: File, old: FileVersion) -> list[str]:
    return [
        f"/files/{file.pk}/",
        f"/files/{file.pk}/download/",
        f"/files/{file.pk}/versions/{old.pk}/download/",
        f"/files/folders/{file.folder_id}/",
        f"/files/spaces/{file.space_id}/trash/",
    ]


def browser_changes(file: File, old: FileVersion) -> list[tuple[str, dict[str, str]]]:
    return [
        (f"/files/{file.pk}/rename/", {"rename-name": "renamed.pdf"}),
        (f"/files/{file.pk}/delete/", {}),
        (f"/files/{file.pk}/versions/{old.pk}/restore/", {}),
        (f"/files/folders/{file.folder_id}/new-folder/", {"new-name": "Intrus"}),
        (f"/files/folders/{file.folder_id}/upload/", {}),
    ]


def api_reads(file: File, old: FileVersion) -> list[str]:
    return [
        f"/api/v1/files/{file.pk}/",
        f"/api/v1/files/{file.pk}/versions/",
        f"/api/v1/files/{file.pk}/content/",
        f"/api/v1/files/{file.pk}/versions/{old.pk}/content/",
        f"/api/v1/files/folders/{file.folder_id}/",
        f"/api/v1/files/spaces/{file.space_id}/trash/",
    ]


def token_client(user: User) -> Client:
    if user.is_auditor:
        # An auditor holds no API token (refused at creation, docs/api.md): the API's
        # way in left to her is her signed-in browser session, with the same checks.
        return client_signed_in(user)
    _token, plaintext = tokens.token_create(
        actor=user,
        name=f"tests {secrets.token_hex(4)}",
        scopes=["read", "write"],
        expires_in_days=30,
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


def assert_all_ways_in(user: User, file: File, old: FileVersion, *, allowed: bool) -> None:
    browser, api = client_signed_in(user), token_client(user)
    expected_read = {200} if allowed else {404}
    for url in browser_reads(file, old):
        assert browser.get(url).status_code in expected_read, (user.email, url)
    for url in api_reads(file, old):
        assert api.get(url).status_code in expected_read, (user.email, url)
    if allowed:
        return
    for url, data in browser_changes(file, old):
        assert browser.post(url, data).status_code == 404, (user.email, url)
    assert (
        api.patch(
            f"/api/v1/files/{file.pk}/", {"name": "x.pdf"}, content_type="application/json"
        ).status_code
        == 404
    )
    assert api.delete(f"/api/v1/files/{file.pk}/").status_code == 404
    assert (
        api.post(
            f"/api/v1/files/folders/{file.folder_id}/upload/?name=x.bin",
            b"data",
            content_type="application/octet-stream",
        ).status_code
        == 404
    )
    file.refresh_from_db()
    assert file.deleted_at is None
    assert file.name in {"mine.pdf", "ward.pdf"}
    assert file.versions.count() == 2


def test_owner_reaches_both_files_every_way(owner: User, files: Files) -> None:
    assert_all_ways_in(owner, files.personal, files.personal_old, allowed=True)
    assert_all_ways_in(owner, files.team, files.team_old, allowed=True)


def test_teammate_reaches_the_team_file_but_not_the_personal_one(
    teammate: User, files: Files
) -> None:
    assert_all_ways_in(teammate, files.team, files.team_old, allowed=True)
    assert_all_ways_in(teammate, files.personal, files.personal_old, allowed=False)


@pytest.mark.parametrize("who", ["outsider", "site_admin", "auditor"])
def test_no_role_reaches_someone_elses_files(
    request: pytest.FixtureRequest, who: str, files: Files
) -> None:
    user: User = request.getfixturevalue(who)
    assert_all_ways_in(user, files.personal, files.personal_old, allowed=False)
    assert_all_ways_in(user, files.team, files.team_old, allowed=False)
    refusals = AuditEvent.objects.filter(actor_id=str(user.pk), outcome="denied")
    assert refusals.filter(action=Action.FILES_ACCESS, target_type="files.file").exists()
    assert refusals.filter(action=Action.FILES_ACCESS, target_type="files.folder").exists()
    assert refusals.filter(action=Action.FILES_ACCESS, target_type="files.space").exists()


def test_outsider_cannot_download_by_guessing_ids(outsider: User, files: Files) -> None:
    browser = client_signed_in(outsider)
    guesses = range(max(1, files.personal.pk - 2), files.team.pk + 3)
    for file_id in guesses:
        assert browser.get(f"/files/{file_id}/download/").status_code == 404
    events = AuditEvent.objects.filter(action=Action.FILES_ACCESS, actor_id=str(outsider.pk))
    assert events.count() == len(guesses)


def test_a_version_id_only_opens_through_its_own_file(
    owner: User, teammate: User, files: Files
) -> None:
    """Tom may read the team file; that must not open Alice's personal version."""
    browser = client_signed_in(teammate)
    url = f"/files/{files.team.pk}/versions/{files.personal_old.pk}/download/"
    assert browser.get(url).status_code == 404


def test_lists_show_nothing_of_other_people(owner: User, site_admin: User, files: Files) -> None:
    admin_api = token_client(site_admin)
    spaces = admin_api.get("/api/v1/files/spaces/").json()
    assert [space["kind"] for space in spaces] == ["personal"]
    admin_root = spaces[0]["root_folder"]
    listing = admin_api.get(f"/api/v1/files/folders/{admin_root}/").json()
    assert listing["files"] == []
    assert listing["folders"] == []
    page = client_signed_in(site_admin).get("/files/", follow=True).content.decode()
    assert "mine.pdf" not in page
    assert "ward.pdf" not in page
    assert "Cardiologie" not in page


def test_move_or_copy_into_someone_elses_folder_is_refused(
    owner: User, outsider: User, files: Files
) -> None:
    outsider_root = root_of(outsider)
    version_store(actor=outsider, folder=outsider_root, name="theirs.pdf", content=b"x")
    theirs = File.objects.get(name="theirs.pdf")
    alice = client_signed_in(owner)
    # Alice names Oscar's folder as the destination: unknown to her, so refused.
    assert alice.post(
        f"/files/{files.personal.pk}/move/", {"move-destination": outsider_root.pk}
    ).status_code in {400, 404}
    assert alice.post(
        f"/files/{files.personal.pk}/copy/", {"copy-destination": outsider_root.pk}
    ).status_code in {400, 404}
    api = token_client(owner)
    assert (
        api.patch(
            f"/api/v1/files/{files.personal.pk}/",
            {"folder": outsider_root.pk},
            content_type="application/json",
        ).status_code
        == 404
    )
    assert (
        api.post(
            f"/api/v1/files/{files.personal.pk}/copy/",
            {"folder": outsider_root.pk},
            content_type="application/json",
        ).status_code
        == 404
    )
    assert File.objects.filter(folder=outsider_root).get() == theirs


def test_a_read_only_token_cannot_change_anything(owner: User, files: Files) -> None:
    _token, plaintext = tokens.token_create(
        actor=owner, name="reader", scopes=["read"], expires_in_days=30
    )
    reader = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert reader.get(f"/api/v1/files/{files.personal.pk}/").status_code == 200
    assert reader.delete(f"/api/v1/files/{files.personal.pk}/").status_code == 403
    assert (
        reader.post(
            f"/api/v1/files/folders/{files.personal.folder_id}/upload/?name=x.bin",
            b"data",
            content_type="application/octet-stream",
        ).status_code
        == 403
    )


def test_a_write_only_token_cannot_read(owner: User, files: Files) -> None:
    _token, plaintext = tokens.token_create(
        actor=owner, name="writer", scopes=["write"], expires_in_days=30
    )
    writer = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert writer.get(f"/api/v1/files/{files.personal.pk}/content/").status_code == 403


def test_a_leaver_loses_access_and_the_successor_gains_it(
    owner: User, teammate: User, site_admin: User, files: Files
) -> None:
    from accounts.offboarding import user_deactivate

    content = content_of(64, seed="handover")
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Patients")
    version_store(actor=owner, folder=folder, name="suivi.pdf", content=content)

    summary = user_deactivate(actor=site_admin, user=owner, successor=teammate)

    assert summary["personal_files_hand_over"]["files_moved"] == 2
    moved = File.objects.get(name="suivi.pdf")
    tom = client_signed_in(teammate)
    response = tom.get(f"/files/{moved.pk}/download/")
    assert response.status_code == 200
    assert body_of(response) == content
    listing = tom.get(f"/files/folders/{root_of(teammate).pk}/").content.decode()
    assert "From Alice Martin" in listing
    event = AuditEvent.objects.get(action=Action.FILES_SPACE_HANDOVER)
    assert event.details["successor"] == teammate.email


def test_a_handover_survives_any_name_and_none_without_a_successor(
    owner: User, teammate: User, outsider: User, site_admin: User, folder_backend: Backend
) -> None:
    from accounts.offboarding import user_deactivate

    User.objects.filter(pk=owner.pk).update(full_name="Dr. A/B \\ CON.")
    owner.refresh_from_db()
    version_store(actor=owner, folder=root_of(owner), name="a.pdf", content=b"a")
    version_store(actor=outsider, folder=root_of(outsider), name="b.pdf", content=b"b")

    moved = user_deactivate(actor=site_admin, user=owner, successor=teammate)
    kept = user_deactivate(actor=site_admin, user=outsider, successor=None)

    assert moved["personal_files_hand_over"]["files_moved"] == 1
    assert moved["personal_files_hand_over"]["folder"].startswith("From Dr. AB  CON (")
    assert kept["personal_files_hand_over"] == {
        "files_moved": 0,
        "folders_moved": 0,
        "files_kept": 1,
    }
    assert File.objects.get(name="b.pdf").space.owner == outsider
