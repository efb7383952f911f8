"""A folder reached by an external link says so to whoever may add to it.

A link to a folder shows the folder's live files, those added later too
(docs/sharing-links.md). Alice linked Cardiologie's folder "Dupont Marie" for the
radiologist. Tom, her teammate, opens its subfolder "Bilans" to drop Mrs Dupont's
latest results there: nothing told him the radiologist would see them. The page now
says it, with who made the links and until when; it says nothing once they are
withdrawn, nor on folders no link reaches, nor to someone who may only view.

Fixtures are imported by name from tests.files_helpers and tests.withdrawal_helpers;
pytest injects them.
"""

from __future__ import annotations

import pytest
from django.test import Client

from accounts import tokens
from accounts.models import Team, User
from files import services
from files.models import Folder
from sharing.models import Share
from sharing.services.links import share_link_create, share_link_revoke
from tests.conftest import user_create
from tests.files_helpers import root_of, version_store
from tests.helpers import CONFIRMED, client_signed_in
from tests.withdrawal_helpers import week

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("folder_backend")]

BANNER = 'id="folder-open-to-outsiders"'


def test_tom_adding_to_a_folder_below_alices_link_is_told_outsiders_will_see_it(
    owner: User, teammate: User, team: Team, team_folder: Folder
) -> None:
    dupont = services.folder_create(actor=owner, parent=team_folder, name="Dupont Marie")
    results = services.folder_create(actor=owner, parent=dupont, name="Bilans")
    elsewhere = services.folder_create(actor=owner, parent=team_folder, name="Durand Paul")
    link, _token = share_link_create(actor=owner, target=dupont, expires_at=week())
    tom = client_signed_in(teammate)

    page = tom.get(f"/files/folders/{results.pk}/").content.decode()

    assert BANNER in page
    assert "People outside the organisation can open what you put in this folder" in page
    assert "1 external link reaches it" in page
    assert "Made by Alice Martin" in page
    assert BANNER not in tom.get(f"/files/folders/{elsewhere.pk}/").content.decode()

    share_link_revoke(actor=owner, link=link)
    assert BANNER not in tom.get(f"/files/folders/{results.pk}/").content.decode()


def test_a_used_up_link_or_a_viewer_of_a_share_shows_no_banner(owner: User) -> None:
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Envois labo")
    used_up, _token = share_link_create(
        actor=owner, target=folder, expires_at=week(), max_downloads=1
    )
    share_link_create(actor=owner, target=folder, expires_at=week())
    viewer = user_create("victor.viewer@hopital.example", full_name="Victor Viewer")
    Share.objects.create(folder=folder, user=viewer, role="viewer", created_by=owner)

    assert (
        "2 external links reach it"
        in client_signed_in(owner).get(f"/files/folders/{folder.pk}/").content.decode()
    )
    assert (
        BANNER not in client_signed_in(viewer).get(f"/files/folders/{folder.pk}/").content.decode()
    )
    used_up.download_count = 1
    used_up.save(update_fields=["download_count"])
    assert (
        "1 external link reaches it"
        in client_signed_in(owner).get(f"/files/folders/{folder.pk}/").content.decode()
    )


def test_moving_a_file_into_a_linked_folder_asks_first_and_naming_the_links(
    owner: User, teammate: User, team: Team, team_folder: Folder
) -> None:
    """Tom tidies Cardiologie: he moves Mrs Durand's scan into "Dupont Marie", which
    Alice linked for the radiologist. He is asked first, told the radiologist's link
    will show it; moving a file already inside the linked folder asks nothing."""
    dupont = services.folder_create(actor=owner, parent=team_folder, name="Dupont Marie")
    below = services.folder_create(actor=owner, parent=dupont, name="Bilans")
    scan = version_store(
        actor=owner, folder=team_folder, name="Durand Paul - scanner.dcm", content=b"d"
    ).file
    inside = version_store(actor=owner, folder=dupont, name="Dupont echo.jpg", content=b"e").file
    share_link_create(actor=owner, target=dupont, expires_at=week())
    tom = client_signed_in(teammate)

    asked = tom.post(f"/files/{scan.pk}/move/", {"move-destination": dupont.pk})

    assert asked.status_code == 200
    page = asked.content.decode()
    assert (
        "People outside the organisation will open it: 1 external link reaches the folder "
        "it goes to (made by Alice Martin)"
    ) in page
    assert "Open until " in page  # and until when, as a copy's confirmation says
    scan.refresh_from_db()
    assert scan.folder_id == team_folder.pk  # not before the confirmation
    done = tom.post(f"/files/{scan.pk}/move/", {"move-destination": dupont.pk, **CONFIRMED})
    assert done.status_code == 302
    scan.refresh_from_db()
    assert scan.folder_id == dupont.pk

    within = tom.post(f"/files/{inside.pk}/move/", {"move-destination": below.pk})
    assert within.status_code == 302  # already shown by the link: nothing new opened


def test_a_script_moving_a_file_into_a_linked_folder_is_told_how_many_links_show_it(
    owner: User, teammate: User, team: Team, team_folder: Folder
) -> None:
    dupont = services.folder_create(actor=owner, parent=team_folder, name="Dupont Marie")
    scan = version_store(
        actor=owner, folder=team_folder, name="Durand Paul - scanner.dcm", content=b"d"
    ).file
    share_link_create(actor=owner, target=dupont, expires_at=week())
    _token, raw = tokens.token_create(
        actor=teammate, name="Tidy script", scopes=["read", "write"], expires_in_days=30
    )
    script = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    moved = script.patch(
        f"/api/v1/files/{scan.pk}/", {"folder": dupont.pk}, content_type="application/json"
    )

    assert moved.status_code == 200, moved.content
    assert moved.json()["opened_by_links"] == 1
    renamed = script.patch(
        f"/api/v1/files/{scan.pk}/", {"name": "Durand P.dcm"}, content_type="application/json"
    )
    assert renamed.json()["opened_by_links"] == 0


def test_the_upload_zone_says_outsiders_will_open_what_is_dropped_there(
    owner: User, teammate: User, team: Team, team_folder: Folder
) -> None:
    """The banner is at the top of the page; Tom drops the results on the list, maybe
    scrolled down: the drop zone itself says it, and each file's row as it uploads
    (tests/test_browser_upload_open_to_outsiders.py)."""
    dupont = services.folder_create(actor=owner, parent=team_folder, name="Dupont Marie")
    results = services.folder_create(actor=owner, parent=dupont, name="Bilans")
    elsewhere = services.folder_create(actor=owner, parent=team_folder, name="Durand Paul")
    share_link_create(actor=owner, target=dupont, expires_at=week())
    share_link_create(actor=owner, target=results, expires_at=week())
    tom = client_signed_in(teammate)

    page = tom.get(f"/files/folders/{results.pk}/").content.decode()

    zone = page.split('id="upload-zone"')[1].split("</div>")[0]
    assert 'id="upload-open-to-outsiders"' in zone
    assert (
        "People outside the organisation can open what you drop here: 2 external links "
        "reach this folder."
    ) in zone
    assert (
        'data-label-open-to-outsiders="People outside the organisation can open it through '
        '2 external links once it is scanned."'
    ) in zone
    quiet = tom.get(f"/files/folders/{elsewhere.pk}/").content.decode()
    assert 'id="upload-zone"' in quiet
    assert "upload-open-to-outsiders" not in quiet
