"""An outside review of the file features as a hospital's security officer and a
clinician would probe them (December 2026): what a share lets a colleague do with
copies and the trash, and what the pages promise them."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import pytest
from django.test import Client

from accounts import tokens
from accounts.models import Team, User
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from files import services
from files.errors import FileNotFoundForActor
from files.models import File
from sharing.models import ShareRole
from sharing.services import shares
from tests.conftest import user_create
from tests.files_helpers import Backend, root_of, version_store
from tests.helpers import client_signed_in

pytestmark = pytest.mark.django_db


def rita() -> User:
    return user_create("rita.radiologue@hopital.example", full_name="Rita Radiologue")


def test_a_viewer_still_cannot_copy_into_the_folder_she_only_views(
    owner: User, folder_backend: Backend
) -> None:
    radiologist = rita()
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Imagerie")
    letter = version_store(actor=owner, folder=folder, name="cr.pdf", content=b"%PDF-1.4").file
    shares.share_create(actor=owner, item=folder, recipient=radiologist, role=ShareRole.VIEWER)

    browser = client_signed_in(radiologist)
    page = browser.post(
        f"/files/{letter.pk}/copy/", {"copy-destination": folder.pk, "copy-name": "autre.pdf"}
    )
    bulk = browser.post("/files/selection/copy/", {"file": letter.pk, "destination": folder.pk})

    assert page.status_code == 400  # not among the folders offered
    assert bulk.status_code == 404
    assert File.objects.filter(folder=folder).count() == 1
    assert not File.objects.filter(name="autre.pdf").exists()


def test_a_caller_that_skipped_the_lookup_is_refused_on_record(
    owner: User, outsider: User, folder_backend: Backend
) -> None:
    """The services check rights again (STYLE 3): that refusal is audited as the
    selectors' are, so a code path that forgot its lookup still leaves a trace."""
    letter = version_store(actor=owner, folder=root_of(owner), name="cr.pdf", content=b"x").file

    with pytest.raises(FileNotFoundForActor):
        services.file_rename(actor=outsider, file=letter, name="pris.pdf")

    refusal = AuditEvent.objects.filter(
        actor_id=str(outsider.pk), action=Action.FILES_ACCESS, outcome=Outcome.DENIED
    ).get()
    assert (refusal.target_type, refusal.target_id) == ("files.file", str(letter.pk))
    assert refusal.details["need"] == "manage"
    letter.refresh_from_db()
    assert letter.name == "cr.pdf"


def test_an_editor_who_trashes_is_not_offered_an_undo_she_cannot_use(
    owner: User, folder_backend: Backend
) -> None:
    """What an editor of a shared folder trashes goes to the owner's trash, which she
    cannot open (docs/sharing-shares.md): the page offered "Undo", which answered 404."""
    radiologist = rita()
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Service")
    letter = version_store(actor=owner, folder=folder, name="cr.pdf", content=b"%PDF").file
    sub = services.folder_create(actor=owner, parent=folder, name="Anciens")
    shares.share_create(actor=owner, item=folder, recipient=radiologist, role=ShareRole.EDITOR)
    browser = client_signed_in(radiologist)

    for url in [f"/files/{letter.pk}/delete/", f"/files/folders/{sub.pk}/delete/"]:
        page = browser.post(url, {}, follow=True).content.decode()
        assert "/restore/" not in page
        assert "only its owner can restore it" in page

    other = version_store(actor=owner, folder=folder, name="autre.pdf", content=b"%PDF").file
    third = version_store(actor=owner, folder=folder, name="3.pdf", content=b"%PDF").file
    page = browser.post(
        "/files/selection/trash/",
        {"file": f"{other.pk},{third.pk}", "next": f"/files/folders/{folder.pk}/"},
        follow=True,
    ).content.decode()
    assert "/files/selection/restore/" not in page
    assert "only their owner can restore them" in page

    # The owner still gets "Undo", and it works.
    owner_browser = client_signed_in(owner)
    last = version_store(actor=owner, folder=folder, name="dernier.pdf", content=b"%PDF").file
    page = owner_browser.post(f"/files/{last.pk}/delete/", follow=True).content.decode()
    assert f"/files/{last.pk}/restore/" in page
    assert owner_browser.post(f"/files/{last.pk}/restore/").status_code == 302


def test_a_look_alike_name_is_refused_at_rename_on_the_page_and_the_api(
    owner: User, folder_backend: Backend
) -> None:
    """A soft hyphen draws nothing: "rap<SHY>port-irm.pdf" beside "rapport-irm.pdf"
    would look the same to the next clinician choosing which one to open."""
    folder = root_of(owner)
    version_store(actor=owner, folder=folder, name="rapport-irm.pdf", content=b"%PDF vrai")
    planted = version_store(actor=owner, folder=folder, name="brouillon.pdf", content=b"%PDF").file
    twin = "rap\u00adport-irm.pdf"
    _token, plaintext = tokens.token_create(
        actor=owner, name="Poste", scopes=["read", "write"], expires_in_days=30
    )

    page = client_signed_in(owner).post(f"/files/{planted.pk}/rename/", {"rename-name": twin})
    api = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}").patch(
        f"/api/v1/files/{planted.pk}/", {"name": twin}, content_type="application/json"
    )

    assert page.status_code == 400
    assert api.status_code == 400
    assert "invisible" in page.content.decode()
    planted.refresh_from_db()
    assert planted.name == "brouillon.pdf"


def test_a_move_to_the_top_of_a_space_names_that_space(
    owner: User, team: Team, folder_backend: Backend
) -> None:
    """Moving to a space's top folder said "Moved to “”" (one file) or "moved to “My
    files”" (a selection) even when the files had gone to the whole team's space."""
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Consultations")
    letter = version_store(actor=owner, folder=folder, name="cr.pdf", content=b"%PDF").file
    other = version_store(actor=owner, folder=folder, name="cr2.pdf", content=b"%PDF").file
    team_root = services.space_root(services.space_team_get_or_create(team=team))
    browser = client_signed_in(owner)

    single = browser.post(
        f"/files/{letter.pk}/move/", {"move-destination": root_of(owner).pk}, follow=True
    )
    bulk = browser.post(
        "/files/selection/move/", {"file": other.pk, "destination": team_root.pk}, follow=True
    )

    assert "Moved to “My files”." in single.content.decode()
    assert "1 item moved to “Cardiologie”." in bulk.content.decode()
