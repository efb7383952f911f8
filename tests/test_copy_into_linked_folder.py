"""Copying into a folder that external links reach asks first, as a move does.

A link to a folder shows the files added later too (docs/sharing-links.md). Alice
linked Cardiologie's folder "Dupont Marie" for the radiologist. Tom, on Mrs Durand's
scan, copies it into "Dupont Marie" from the file's page, where no banner tells him of
the link: the copy would be open to the radiologist at once. He is asked first, told
how many links, who made them and until when; ticked files ask the same; a script is
told in the answer (``opened_by_links``). A copy within what the links already show
asks nothing.

Fixtures are imported by name from tests.files_helpers and tests.withdrawal_helpers;
pytest injects them.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.formats import date_format

from accounts import tokens
from accounts.models import Team, User
from files import services
from files.models import File, Folder
from sharing.services.links import share_link_create
from tests.files_helpers import version_store
from tests.helpers import CONFIRMED, client_signed_in
from tests.withdrawal_helpers import week

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("folder_backend")]


def _linked_dupont(owner: User, team_folder: Folder) -> tuple[Folder, Folder, str]:
    """ "Dupont Marie" (linked by Alice), "Bilans" below it, and the link's last day."""
    dupont = services.folder_create(actor=owner, parent=team_folder, name="Dupont Marie")
    below = services.folder_create(actor=owner, parent=dupont, name="Bilans")
    link, _token = share_link_create(actor=owner, target=dupont, expires_at=week())
    return dupont, below, date_format(timezone.localtime(link.expires_at), "DATE_FORMAT")


def test_copying_a_file_into_a_linked_folder_asks_first_naming_the_links_and_until_when(
    owner: User, teammate: User, team: Team, team_folder: Folder
) -> None:
    dupont, below, until = _linked_dupont(owner, team_folder)
    scan = version_store(
        actor=owner, folder=team_folder, name="Durand Paul - scanner.dcm", content=b"d"
    ).file
    inside = version_store(actor=owner, folder=dupont, name="Dupont echo.jpg", content=b"e").file
    tom = client_signed_in(teammate)

    asked = tom.post(f"/files/{scan.pk}/copy/", {"copy-destination": dupont.pk})

    assert asked.status_code == 200
    page = asked.content.decode()
    assert "Copy “Durand Paul - scanner.dcm” to “Cardiologie / Dupont Marie”?" in page
    assert (
        "People outside the organisation will open what you copy: 1 external link reaches "
        "the folder it goes to (made by Alice Martin)"
    ) in page
    assert f"Open until {until} at the latest." in page
    assert not File.objects.filter(folder=dupont, name=scan.name).exists()  # not yet

    done = tom.post(f"/files/{scan.pk}/copy/", {"copy-destination": dupont.pk, **CONFIRMED})

    assert done.status_code == 302
    assert File.objects.filter(folder=dupont, name=scan.name, deleted_at__isnull=True).exists()
    within = tom.post(f"/files/{inside.pk}/copy/", {"copy-destination": below.pk})
    assert within.status_code == 302  # the link already shows it: nothing new opened
    assert File.objects.filter(folder=below, name=inside.name).exists()


def test_copying_ticked_files_into_a_linked_folder_asks_first(
    owner: User, teammate: User, team: Team, team_folder: Folder
) -> None:
    dupont, _below, until = _linked_dupont(owner, team_folder)
    scan = version_store(actor=owner, folder=team_folder, name="Durand scan.dcm", content=b"d")
    letter = version_store(actor=owner, folder=team_folder, name="Durand lettre.pdf", content=b"l")
    tom = client_signed_in(teammate)
    ticked = {"file": [scan.file.pk, letter.file.pk], "destination": dupont.pk}

    asked = tom.post("/files/selection/copy/", ticked)

    assert asked.status_code == 200
    page = asked.content.decode()
    assert "Copy 2 files to “Cardiologie / Dupont Marie”?" in page
    assert "1 external link reaches the folder it goes to (made by Alice Martin)" in page
    assert f"Open until {until} at the latest." in page
    assert not File.objects.filter(folder=dupont).exists()

    done = tom.post("/files/selection/copy/", {**ticked, **CONFIRMED})

    assert done.status_code == 302
    assert File.objects.filter(folder=dupont).count() == 2


def test_a_script_copying_into_a_linked_folder_is_told_how_many_links_show_the_copy(
    owner: User, teammate: User, team: Team, team_folder: Folder
) -> None:
    dupont, below, _until = _linked_dupont(owner, team_folder)
    scan = version_store(actor=owner, folder=team_folder, name="Durand scan.dcm", content=b"d")
    inside = version_store(actor=owner, folder=dupont, name="Dupont echo.jpg", content=b"e")
    _token, raw = tokens.token_create(
        actor=teammate, name="Tidy script", scopes=["read", "write"], expires_in_days=30
    )
    script = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    copied = script.post(
        f"/api/v1/files/{scan.file.pk}/copy/",
        {"folder": dupont.pk},
        content_type="application/json",
    )
    within = script.post(
        f"/api/v1/files/{inside.file.pk}/copy/",
        {"folder": below.pk},
        content_type="application/json",
    )

    assert copied.status_code == 201, copied.content
    assert copied.json()["opened_by_links"] == 1
    assert within.status_code == 201, within.content
    assert within.json()["opened_by_links"] == 0


def test_the_api_schema_documents_opened_by_links_on_a_copys_answer() -> None:
    schema = Client().get("/api/v1/schema/", {"format": "json"}).json()

    answer = schema["paths"]["/api/v1/files/{file_id}/copy/"]["post"]["responses"]["201"]
    reference = answer["content"]["application/json"]["schema"]["$ref"]
    copied = schema["components"]["schemas"][reference.rsplit("/", 1)[1]]
    assert copied["properties"]["opened_by_links"]["type"] == "integer"
    assert "opened_by_links" in copied["required"]
