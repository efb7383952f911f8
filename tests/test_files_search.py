"""Search by name (issue #15, item 3): Alice types "echo" and finds "Échographie…"
wherever she may read it — her files, her team's, what colleagues shared with her, deep
inside a shared folder — with the path she may see. Nobody else finds her things: not her
teammate (for her personal files), not an outsider, not the site administrator, not the
auditor. The trash has its own search box."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.test import Client

from accounts import tokens
from accounts.models import Team, User
from audit.actions import Action
from audit.models import AuditEvent
from files import selectors, services
from files.models import File, Folder
from files.names import name_search_key
from sharing.models import ShareRole
from sharing.services import shares
from tests.files_helpers import root_of, version_store
from tests.helpers import client_signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("folder_backend")]


@dataclass
class Ward:
    mine: File  # Alice's own, in a subfolder
    team_file: File  # in the Cardiologie team space, put there by Tom
    team_folder: Folder
    deep_shared: File  # two folders below a folder Oscar shared with Alice
    shared_folder: Folder
    team_shared: File  # a file Oscar shared with the Cardiologie team
    oscar_private: File  # Oscar's, not shared
    trashed: File  # Alice's, in her trash


def _store(actor: User, folder: Folder, name: str) -> File:
    return version_store(actor=actor, folder=folder, name=name, content=b"x").file


@pytest.fixture
def ward(owner: User, teammate: User, outsider: User, team: Team) -> Ward:
    imaging = services.folder_create(actor=owner, parent=root_of(owner), name="Imagerie")
    mine = _store(owner, imaging, "Échographie cardiaque.pdf")
    team_root = services.space_root(services.space_team_get_or_create(team=team))
    team_folder = services.folder_create(actor=teammate, parent=team_root, name="ÉCHOS 2026")
    team_file = _store(teammate, team_folder, "echo-rein.pdf")
    lent = services.folder_create(actor=outsider, parent=root_of(outsider), name="Dossiers")
    shared_folder = services.folder_create(actor=outsider, parent=lent, name="Partagé")
    below = services.folder_create(actor=outsider, parent=shared_folder, name="Sous-dossier")
    deep_shared = _store(outsider, below, "Compte-rendu échographique.pdf")
    shares.share_create(actor=outsider, item=shared_folder, recipient=owner, role=ShareRole.VIEWER)
    team_shared = _store(outsider, lent, "Echo-doppler.pdf")
    shares.share_create(actor=outsider, item=team_shared, recipient=team, role=ShareRole.VIEWER)
    oscar_private = _store(outsider, lent, "Échographie privée.pdf")
    trashed = _store(owner, root_of(owner), "Écho ancienne.pdf")
    services.file_delete(actor=owner, file=trashed)
    return Ward(
        mine,
        team_file,
        team_folder,
        deep_shared,
        shared_folder,
        team_shared,
        oscar_private,
        trashed,
    )


def found(person: User, query: str = "echo") -> set[tuple[str, int]]:
    results = selectors.search_for_actor(actor=person, query=query)
    return {("folder" if hit.is_folder else "file", hit.item.pk) for hit in results.hits}


def test_accents_case_and_compatibility_forms_are_ignored() -> None:
    assert name_search_key("Échographie") == "echographie"
    assert name_search_key("ÉCHOGRAPHIE") == name_search_key("e\u0301chographie")
    assert name_search_key("\uff45\uff43\uff48\uff4f") == "echo"  # fullwidth letters
    assert name_search_key("Straße") == "strasse"


def test_alice_finds_what_she_may_read_and_nothing_else(owner: User, ward: Ward) -> None:
    assert found(owner) == {
        ("file", ward.mine.pk),
        ("file", ward.team_file.pk),
        ("folder", ward.team_folder.pk),
        ("file", ward.deep_shared.pk),
        ("file", ward.team_shared.pk),
    }


def test_the_teammate_finds_the_team_files_not_alices_own(teammate: User, ward: Ward) -> None:
    assert found(teammate) == {
        ("file", ward.team_file.pk),
        ("folder", ward.team_folder.pk),
        ("file", ward.team_shared.pk),
    }


def test_the_outsider_finds_only_his_own(outsider: User, ward: Ward) -> None:
    assert found(outsider) == {
        ("file", ward.deep_shared.pk),
        ("file", ward.team_shared.pk),
        ("file", ward.oscar_private.pk),
    }


@pytest.mark.parametrize("person", ["site_admin", "auditor"])
def test_admin_and_auditor_find_nothing_of_anyone(
    person: str, request: pytest.FixtureRequest, ward: Ward
) -> None:
    someone: User = request.getfixturevalue(person)
    assert found(someone) == set()
    assert found(someone, "pdf") == set()
    page = client_signed_in(someone).get("/files/search/", {"q": "echo"})
    assert page.status_code == 200
    assert "chographie" not in page.content.decode()


def test_search_agrees_with_the_permission_functions_for_everyone(
    owner: User, teammate: User, outsider: User, site_admin: User, auditor: User, ward: Ward
) -> None:
    for person in (owner, teammate, outsider, site_admin, auditor):
        expected = {
            ("file", file.pk)
            for file in File.objects.filter(deleted_at__isnull=True)
            if selectors.file_permission(actor=person, file=file) >= selectors.Permission.VIEW
        } | {
            ("folder", folder.pk)
            for folder in Folder.objects.filter(deleted_at__isnull=True, parent__isnull=False)
            if selectors.folder_permission(actor=person, folder=folder) >= selectors.Permission.VIEW
        }
        assert found(person, "e") == set(), "one letter is too short to search"
        everything = found(person, ".pdf") | {
            hit
            for query in ("dossier", "partag", "echos", "imagerie")
            for hit in found(person, query)
        }
        assert everything == expected, person.email


def test_paths_are_those_the_person_may_see(owner: User, ward: Ward) -> None:
    results = selectors.search_for_actor(actor=owner, query="ÉCHO")
    paths = {hit.item.pk: hit.path for hit in results.hits if not hit.is_folder}
    assert paths[ward.mine.pk] == "My files / Imagerie"
    assert paths[ward.team_file.pk] == "Cardiologie / ÉCHOS 2026"
    # From the shared folder down: Oscar's "Dossiers" above it stays hidden.
    assert paths[ward.deep_shared.pk] == "Shared with me / Partagé / Sous-dossier"
    assert paths[ward.team_shared.pk] == "Shared with me"
    for hit in results.hits:
        where = hit.item.folder if isinstance(hit.item, File) else hit.item.parent
        assert where is not None
        assert hit.path == selectors.folder_label_for(actor=owner, folder=where)


def test_the_page_links_each_result_and_shows_its_path(owner: User, ward: Ward) -> None:
    alice = client_signed_in(owner)
    page = alice.get("/files/search/", {"q": "echo"})
    html = page.content.decode()
    assert page.status_code == 200
    assert 'role="search"' in html
    assert f'href="/files/{ward.deep_shared.pk}/"' in html
    assert "Shared with me / Partagé / Sous-dossier" in html
    assert f'href="/files/folders/{ward.team_folder.pk}/"' in html
    assert "Écho ancienne" not in html, "the trash is searched from the trash page"
    assert alice.get(f"/files/{ward.deep_shared.pk}/").status_code == 200
    folder_page = alice.get(f"/files/folders/{ward.team_folder.pk}/").content.decode()
    assert 'id="files-search-q"' in folder_page, "the box is on every files page"


def test_the_page_speaks_french(owner: User, ward: Ward) -> None:
    html = (
        client_signed_in(owner)
        .get("/files/search/", {"q": "echo"}, HTTP_ACCEPT_LANGUAGE="fr")
        .content.decode()
    )
    assert "Rechercher des fichiers et dossiers" in html
    assert "résultats pour" in html


def test_a_renamed_file_is_found_by_its_new_name(owner: User, ward: Ward) -> None:
    services.file_rename(actor=owner, file=ward.mine, name="Scanner thoracique.pdf")
    assert ("file", ward.mine.pk) in found(owner, "thorac")
    assert ("file", ward.mine.pk) not in found(owner, "echo")


def test_a_too_long_search_is_refused_and_recorded_without_its_text(owner: User) -> None:
    text = "Dupont " * 40
    page = client_signed_in(owner).get("/files/search/", {"q": text})
    assert page.status_code == 400
    event = AuditEvent.objects.filter(action=Action.FILES_SEARCH_REFUSE).get()
    assert event.details["length"] == len(text)
    assert "Dupont" not in str(event.details)


def test_searching_is_not_recorded_in_the_audit_log(owner: User, ward: Ward) -> None:
    alice = client_signed_in(owner)
    before = AuditEvent.objects.count()
    assert alice.get("/files/search/", {"q": "echo"}).status_code == 200
    assert AuditEvent.objects.count() == before


def test_the_trash_search_finds_only_what_is_in_that_trash(owner: User, ward: Ward) -> None:
    alice = client_signed_in(owner)
    trash = f"/files/spaces/{ward.trashed.space_id}/trash/"
    html = alice.get(trash, {"q": "ECHO"}).content.decode()
    assert f'data-file="{ward.trashed.pk}"' in html
    assert 'id="trash-search-q"' in html
    assert "trash-search-empty" in alice.get(trash, {"q": "scanner"}).content.decode()


def test_the_api_searches_with_a_read_token(
    owner: User, outsider: User, site_admin: User, auditor: User, ward: Ward
) -> None:
    def api(user: User, *scopes: str) -> Client:
        if user.is_auditor:
            # An auditor holds no API token (docs/api.md): her browser session instead.
            return client_signed_in(user)
        _token, plaintext = tokens.token_create(
            actor=user, name=f"Search {'+'.join(scopes)}", scopes=list(scopes), expires_in_days=30
        )
        return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")

    alice = api(owner, "read")
    body = alice.get("/api/v1/files/search/", {"q": "echo"}).json()
    assert {(hit["kind"], hit["id"]) for hit in body["results"]} == found(owner)
    paths = {hit["id"]: hit["path"] for hit in body["results"]}
    assert paths[ward.deep_shared.pk] == "Shared with me / Partagé / Sous-dossier"
    for other in (outsider, site_admin, auditor):
        results = api(other, "read").get("/api/v1/files/search/", {"q": "echographie"}).json()
        ids = {hit["id"] for hit in results["results"]}
        assert ward.mine.pk not in ids
        assert ward.team_file.pk not in ids
    assert api(owner, "write").get("/api/v1/files/search/", {"q": "echo"}).status_code == 403
    refused = alice.get("/api/v1/files/search/", {"q": "x" * 201})
    assert refused.status_code == 400
