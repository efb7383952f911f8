"""Every refusal of what someone sent leaves an audit event (audit/refusals.py): a folder
moved into itself, a name already taken, a broken JSON body. Views that audit their own
refusal are not recorded twice, and a page that is not there is not recorded at all."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings

from accounts.models import User
from audit import refusals as refusals_recorder
from audit.actions import Action
from audit.models import AuditEvent
from audit.readable import readable_events
from files import services
from tests.conftest import user_create
from tests.files_helpers import root_of
from tests.helpers import client_signed_in


def refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=Action.REQUEST_INPUT_REFUSE).order_by("pk"))


@pytest.mark.django_db
def test_moving_a_folder_into_its_own_subfolder_is_refused_and_audited(
    owner: User, folder_backend: Any
) -> None:
    labo = services.folder_create(actor=owner, parent=root_of(owner), name="Labo")
    inside = services.folder_create(actor=owner, parent=labo, name="2026")
    answer = client_signed_in(owner).post(
        f"/files/folders/{labo.pk}/move/", {"move-destination": inside.pk}
    )
    assert answer.status_code in {400, 409}
    [event] = refusals()
    assert event.outcome == "denied"
    assert event.actor_id == str(owner.pk)
    assert (event.target_type, event.target_id) == ("files.folder", str(labo.pk))
    assert event.details["view"] == "files:folder_move"
    assert event.details["status"] == answer.status_code
    assert event.details["message"]  # what Alice was told, in her words
    labo.refresh_from_db()
    assert labo.parent_id == root_of(owner).pk


@pytest.mark.django_db
def test_renaming_a_folder_to_a_taken_name_is_refused_and_audited_once(
    owner: User, folder_backend: Any
) -> None:
    root = root_of(owner)
    services.folder_create(actor=owner, parent=root, name="Labo")
    other = services.folder_create(actor=owner, parent=root, name="Imagerie")
    client = client_signed_in(owner)
    answer = client.post(f"/files/folders/{other.pk}/rename/", {"rename-name": "Labo"})
    assert answer.status_code == 409
    empty = client.post(f"/files/folders/{other.pk}/rename/", {})
    assert empty.status_code == 400
    taken, invalid = refusals()
    assert taken.details["reason"] == "NameClashError"
    assert taken.details["message"] == "Something called “labo” is already in this folder."
    assert invalid.details["reason"] == "invalid form"
    other.refresh_from_db()
    assert other.name == "Imagerie"


@pytest.mark.django_db
def test_a_broken_json_body_on_the_api_is_refused_and_audited(
    owner: User, folder_backend: Any
) -> None:
    folder = root_of(owner)
    answer = client_signed_in(owner).post(
        f"/api/v1/files/folders/{folder.pk}/folders/", b"{", content_type="application/json"
    )
    assert answer.status_code == 400
    [event] = refusals()
    assert event.details["reason"] == "parse_error"
    assert "JSON" in event.details["message"]
    assert event.details["route"] == "api/v1/files/folders/<int:folder_id>/folders/"
    missing = client_signed_in(owner).post(
        f"/api/v1/files/folders/{folder.pk}/folders/", {}, content_type="application/json"
    )
    assert missing.status_code == 400
    assert refusals()[-1].details["fields"] == ["name"]  # the field's name, not its value


@pytest.mark.django_db
def test_a_refusal_the_view_audits_itself_is_not_recorded_twice(
    owner: User, folder_backend: Any
) -> None:
    """A bulk action with ids that are no ids: ``files.selection.refuse`` says it."""
    answer = client_signed_in(owner).post("/files/selection/trash/", {"file": "1;DROP"})
    assert answer.status_code == 400
    assert AuditEvent.objects.filter(action=Action.FILES_SELECTION_REFUSE).count() == 1
    assert refusals() == []


@pytest.mark.django_db
def test_a_page_that_is_not_there_is_not_recorded(owner: User) -> None:
    client = client_signed_in(owner)
    assert client.get("/files/no-such-page/").status_code == 404
    assert client.get("/api/v1/files/folders/999999999/").status_code == 404
    assert refusals() == []


@pytest.mark.django_db
def test_the_auditor_reads_who_was_refused_what_on_which_folder(
    owner: User, auditor: User, folder_backend: Any
) -> None:
    root = root_of(owner)
    services.folder_create(actor=owner, parent=root, name="Labo")
    other = services.folder_create(actor=owner, parent=root, name="Imagerie")
    client_signed_in(owner).post(f"/files/folders/{other.pk}/rename/", {"rename-name": "Labo"})
    page = client_signed_in(auditor).get("/audit/failures/").content.decode()
    assert "refused what was sent" in page
    assert "Imagerie" in page  # the folder, by name
    assert owner.email in page or owner.get_full_name() in page
    assert "Something called “labo” is already in this folder." in page  # why


@pytest.mark.django_db
def test_the_auditor_reads_it_in_french(owner: User, auditor: User, folder_backend: Any) -> None:
    other = services.folder_create(actor=owner, parent=root_of(owner), name="Imagerie")
    client_signed_in(owner).post(f"/files/folders/{other.pk}/rename/", {})
    reader = client_signed_in(auditor)
    reader.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    page = reader.get("/audit/failures/").content.decode()
    assert "a refusé ce qui était envoyé" in page
    assert "ce qui était envoyé n\u2019a pas pu être utilisé" in page  # why, in French
    assert "Imagerie" in page


@pytest.mark.django_db
@pytest.mark.usefixtures("rate_limit_cache")
def test_a_flood_of_refusals_from_one_client_cannot_fill_the_log(
    owner: User, folder_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A script sends empty renames in a loop: the first ones are recorded, then one
    event says the next ones are not (the console says so), and the log stops growing;
    another person's refusal is still recorded."""
    monkeypatch.setattr(refusals_recorder, "RECORDED_RATE", "3/10m")
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Labo")
    script = client_signed_in(owner)
    for _ in range(8):
        assert script.post(f"/files/folders/{folder.pk}/rename/", {}).status_code == 400
    recorded = refusals()
    assert [bool(event.details.get("next_not_recorded")) for event in recorded] == [
        False,
        False,
        False,
        True,
    ]
    assert "not recorded" in readable_events(recorded[-1:])[0].note
    colleague = user_create("colleague@example.org")
    theirs = services.folder_create(actor=colleague, parent=root_of(colleague), name="Bilan")
    client_signed_in(colleague).post(f"/files/folders/{theirs.pk}/rename/", {})
    assert len(refusals()) == 5
    folder.refresh_from_db()
    assert folder.name == "Labo"
