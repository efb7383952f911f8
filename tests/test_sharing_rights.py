"""Who may send Alice's files further: every sharing entry point (links to a file and to
a folder, transfers, file requests, internal shares), page and API, tried by Alice, Eddie
(her folder is shared with him as editor), Vera (shared as viewer), an outsider, a site
administrator and an auditor.

The rule (docs/sharing-shares.md, "Who may share"): only the people of the item's space
share it or send it outside. Eddie and Vera see the folder (403 saying why), the others
do not (404); every refusal is audited and creates nothing. A link or a file request made
through a share before the rule was enforced stops working for outsiders too (the same
rule is checked again at every public request, ZIP archives included).
"""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone

from accounts import tokens
from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from files import services
from files.models import File, Folder
from sharing import selectors
from sharing.models import FileRequest, Share, ShareLink, ShareRole
from sharing.services import shares, transfers
from sharing.services.tokens import token_new
from tests.conftest import user_create
from tests.files_helpers import root_of, version_store
from tests.helpers import client_signed_in, expiry_fields

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("folder_backend")]

PEOPLE = ["owner", "editor", "viewer", "outsider", "site_admin", "auditor"]
# What each person gets from an entry point on Alice's item.
EXPECTED_REFUSAL = {
    "editor": 403,  # sees it through a share: told why
    "viewer": 403,
    "outsider": 404,  # does not see it: the same answer as for an unknown id
    "site_admin": 404,
    "auditor": 404,
}


@pytest.fixture(autouse=True)
def rate_limit_cache(service_url: Callable[[str], str]) -> Iterator[None]:
    """Link rate limits count in Redis; a key prefix per story keeps workers apart."""
    cache = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": service_url("redis"),
            "KEY_PREFIX": f"sd-rights-test-{uuid.uuid4().hex}",
        }
    }
    with override_settings(CACHES=cache):
        yield


@dataclass
class Alices:
    folder: Folder
    file: File


@pytest.fixture
def editor(db: None) -> User:
    return user_create("eddie.editeur@hopital.example", full_name="Eddie Editeur")


@pytest.fixture
def viewer(db: None) -> User:
    return user_create("vera.lectrice@hopital.example", full_name="Vera Lectrice")


@pytest.fixture
def alices(owner: User, editor: User, viewer: User) -> Alices:
    """Alice's folder "Résultats" with a report, shared with Eddie (editor) and Vera
    (viewer). Eddie's folder share gives him even MANAGE on the report inside."""
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Résultats")
    version = version_store(actor=owner, folder=folder, name="bilan.pdf", content=b"%PDF bilan")
    shares.share_create(actor=owner, item=folder, recipient=editor, role=ShareRole.EDITOR)
    shares.share_create(actor=owner, item=folder, recipient=viewer, role=ShareRole.VIEWER)
    return Alices(folder=folder, file=version.file)


def api_client(user: User) -> Client:
    if user.is_auditor:
        # An auditor holds no API token (refused at creation, docs/api.md): the API's
        # way in left to her is her signed-in browser session, with the same checks.
        return client_signed_in(user)
    _token, plaintext = tokens.token_create(
        actor=user, name=f"t {secrets.token_hex(4)}", scopes=["read", "share"], expires_in_days=30
    )
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


def person(request: pytest.FixtureRequest, name: str) -> User:
    user: User = request.getfixturevalue(name)
    return user


def link_form() -> dict[str, str]:
    return {**expiry_fields(7), "notify_owner": "on"}


def expected(name: str, allowed: int) -> int:
    return allowed if name == "owner" else EXPECTED_REFUSAL[name]


def denied_events(user: User, action: str) -> int:
    return AuditEvent.objects.filter(action=action, outcome="denied", actor_id=str(user.pk)).count()


# --- Links -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PEOPLE)
@pytest.mark.parametrize("target", ["file", "folder"])
def test_only_the_people_of_the_space_make_links_page_and_api(
    name: str, target: str, request: pytest.FixtureRequest, alices: Alices
) -> None:
    user = person(request, name)
    item_id = alices.file.pk if target == "file" else alices.folder.pk
    browser, api = client_signed_in(user), api_client(user)
    page = f"/sharing/{target}s/{item_id}/links/"
    endpoint = f"/api/v1/sharing/{target}s/{item_id}/links/"

    assert browser.get(page).status_code == expected(name, 200)
    assert browser.post(page, link_form()).status_code == expected(name, 200)
    assert api.get(endpoint).status_code == expected(name, 200)
    created = api.post(endpoint, {}, content_type="application/json")
    assert created.status_code == expected(name, 201)

    made = ShareLink.objects.filter(created_by=user)
    if name == "owner":
        assert made.count() == 2
        assert (
            Client().get(reverse("share_link:open", args=[created.json()["token"]])).status_code
            == 200
        )
        return
    assert not made.exists()
    if name in ("editor", "viewer"):
        assert "only the people of the space" in browser.get(page).content.decode()
        assert denied_events(user, Action.SHARING_LINK_CREATE) >= 4
        refusal = AuditEvent.objects.filter(
            action=Action.SHARING_LINK_CREATE, actor_id=str(user.pk)
        )
        assert refusal.latest("pk").details["rule"] == "not_space_member"


def test_a_viewer_cannot_publish_the_owners_file_through_the_api(
    viewer: User, alices: Alices
) -> None:
    """The review's probe, as written: POST /api/v1/sharing/files/<id>/links/ with a
    viewer share used to answer 201 and the anonymous link served the content."""
    answer = api_client(viewer).post(
        f"/api/v1/sharing/files/{alices.file.pk}/links/", {}, content_type="application/json"
    )
    assert answer.status_code == 403
    assert "token" not in answer.json()
    assert not ShareLink.objects.exists()


# --- Transfers ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", PEOPLE)
def test_only_the_people_of_the_space_send_a_file_in_a_transfer(
    name: str, request: pytest.FixtureRequest, alices: Alices
) -> None:
    user = person(request, name)
    soon = timezone.now() + dt.timedelta(days=3)
    by_page = transfers.transfer_create(actor=user, subject="Page", expires_at=soon)
    by_api = transfers.transfer_create(actor=user, subject="API", expires_at=soon)

    page = client_signed_in(user).post(
        f"/sharing/transfers/{by_page.pk}/files/", {"file_ids": [str(alices.file.pk)]}
    )
    assert page.status_code == expected(name, 302)
    api = api_client(user).post(
        f"/api/v1/sharing/transfers/{by_api.pk}/files/",
        {"files": [alices.file.pk]},
        content_type="application/json",
    )
    assert api.status_code == expected(name, 200)

    copies = len(selectors.transfer_files(by_page)) + len(selectors.transfer_files(by_api))
    assert copies == (2 if name == "owner" else 0)
    if name in ("editor", "viewer"):
        assert denied_events(user, Action.SHARING_TRANSFER_FILES_ADD) == 2


# --- File requests -----------------------------------------------------------------------


@pytest.mark.parametrize("name", PEOPLE)
def test_only_the_people_of_the_space_open_a_folder_to_uploads_from_outside(
    name: str, request: pytest.FixtureRequest, alices: Alices
) -> None:
    user = person(request, name)
    form = {
        "title": "Bilan",
        "folder": str(alices.folder.pk),
        **expiry_fields(7),
        "max_files": "5",
        "max_megabytes": "10",
    }
    page = client_signed_in(user).post("/sharing/requests/new/", form)
    # The page lists only the person's own folders: an id it did not offer is checked
    # and refused as the API refuses it (the owner's request is created: 201).
    assert page.status_code == expected(name, 201)
    api = api_client(user).post(
        "/api/v1/sharing/requests/",
        {"folder": alices.folder.pk, "title": "Bilan"},
        content_type="application/json",
    )
    assert api.status_code == expected(name, 201)
    made = FileRequest.objects.filter(created_by=user).count()
    assert made == (2 if name == "owner" else 0)
    if name in ("editor", "viewer"):
        assert denied_events(user, Action.SHARING_REQUEST_CREATE) == 2


def test_the_request_page_offers_only_folders_of_ones_own_spaces(
    editor: User, alices: Alices
) -> None:
    page = client_signed_in(editor).get("/sharing/requests/new/").content.decode()
    assert "Résultats" not in page


# --- Internal shares (re-sharing) ---------------------------------------------------------


@pytest.mark.parametrize("name", PEOPLE)
def test_only_the_people_of_the_space_share_it_further(
    name: str, request: pytest.FixtureRequest, alices: Alices
) -> None:
    user = person(request, name)
    rita = user_create(f"rita.{name}@hopital.example")
    before = Share.objects.count()
    page = client_signed_in(user).post(
        f"/sharing/folders/{alices.folder.pk}/share/", {"recipient": rita.email, "role": "viewer"}
    )
    assert page.status_code == expected(name, 302)
    api = api_client(user).post(
        "/api/v1/sharing/shares/",
        {"file": alices.file.pk, "user": rita.email, "role": "viewer"},
        content_type="application/json",
    )
    assert api.status_code == expected(name, 201)
    assert Share.objects.count() - before == (2 if name == "owner" else 0)
    if name in ("editor", "viewer"):
        assert denied_events(user, Action.SHARING_SHARE_CREATE) == 2


# --- Links and requests made through a share before: dead at the next request ----------------


def _link_made_before(creator: User, **target: Any) -> str:
    """A link row as the old code let a share recipient create it (no service: the
    service now refuses)."""
    token, token_hash = token_new()
    ShareLink.objects.create(
        token_hash=token_hash,
        created_by=creator,
        expires_at=timezone.now() + dt.timedelta(days=7),
        **target,
    )
    return token


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_a_link_made_through_a_share_serves_nothing_not_even_a_zip(
    role: str, request: pytest.FixtureRequest, alices: Alices
) -> None:
    creator = person(request, role)
    file_token = _link_made_before(creator, file=alices.file)
    folder_token = _link_made_before(creator, folder=alices.folder)
    anonymous = Client()
    assert anonymous.get(reverse("share_link:open", args=[file_token])).status_code == 410
    assert (
        anonymous.get(reverse("share_link:file", args=[file_token, alices.file.pk])).status_code
        == 410
    )
    assert anonymous.get(reverse("share_link:open", args=[folder_token])).status_code == 410
    assert anonymous.get(reverse("share_link:archive", args=[folder_token])).status_code == 410


def test_the_owners_own_folder_link_still_serves_its_zip(owner: User, alices: Alices) -> None:
    token = _link_made_before(owner, folder=alices.folder)
    archive = Client().get(reverse("share_link:archive", args=[token]))
    assert archive.status_code == 200


def test_a_file_request_made_through_a_share_accepts_nothing(editor: User, alices: Alices) -> None:
    token, token_hash = token_new()
    FileRequest.objects.create(
        token_hash=token_hash,
        created_by=editor,
        folder=alices.folder,
        title="Avant",
        expires_at=timezone.now() + dt.timedelta(days=7),
        max_files=5,
        max_bytes=10_000_000,
    )
    assert Client().get(reverse("file_request:open", args=[token])).status_code == 410
    refusal = AuditEvent.objects.filter(action=Action.SHARING_REQUEST_REFUSE).latest("pk")
    assert refusal.details["reason"] == "owner may no longer share"


def test_an_editor_no_longer_sees_nor_withdraws_the_owners_links(
    owner: User, editor: User, alices: Alices
) -> None:
    """Seeing or changing an item's shares is for the people of its space only; the
    links' recipients (e-mail addresses) are part of that."""
    created = api_client(owner).post(
        f"/api/v1/sharing/files/{alices.file.pk}/links/",
        {"recipient_email": "labo@clinique.example"},
        content_type="application/json",
    )
    link_id = created.json()["id"]
    eddie = client_signed_in(editor)
    assert eddie.post(f"/sharing/links/{link_id}/revoke/").status_code == 404
    assert api_client(editor).post(f"/api/v1/sharing/links/{link_id}/revoke/").status_code == 404
    assert ShareLink.objects.get(pk=link_id).revoked_at is None
