"""No one-click disasters (issue #15): what cannot be undone asks first, on a page that
says exactly what will be lost, and the server refuses to act without the confirming
POST; what can be undone is done at once and offered back with "Undo"."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from accounts import invitations
from accounts.models import Invitation, Team, TeamMembership, User
from audit.actions import Action
from audit.models import AuditEvent
from files import services
from files.models import File, FileVersion, Folder
from sharing.models import Share, ShareLink, ShareRole
from sharing.services import file_requests, shares
from tests.files_helpers import root_of, version_store
from tests.helpers import CONFIRMED, client_signed_in
from tests.test_sharing_transfers import add_upload, new_transfer, send

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "small_segments"),
]


def text_of(response: Any) -> str:
    return html.unescape(re.sub(r"\s+", " ", response.content.decode()))


def trashed_report(owner: User) -> File:
    """ "Compte-rendu.pdf" with three versions, in the trash."""
    for content in (b"v1", b"v2", b"v3"):
        file = version_store(
            actor=owner, folder=root_of(owner), name="Compte-rendu.pdf", content=content
        ).file
    services.file_delete(actor=owner, file=file)
    return file


def test_permanent_deletion_without_confirmation_changes_nothing(owner: User) -> None:
    file = trashed_report(owner)
    client = client_signed_in(owner)

    asked = client.post(f"/files/{file.pk}/purge/")

    assert asked.status_code == 200
    assert FileVersion.objects.filter(file=file, wrapped_data_key__isnull=False).count() == 3
    assert not File.objects.get(pk=file.pk).purged_at
    assert not AuditEvent.objects.filter(action=Action.FILES_FILE_PURGE).exists()
    page = text_of(asked)
    assert "Delete “Compte-rendu.pdf” permanently?" in page
    assert "the file “Compte-rendu.pdf” and all its 3 versions" in page
    assert "This cannot be undone." in page
    assert 'name="confirmed" value="yes"' in page

    done = client.post(f"/files/{file.pk}/purge/", CONFIRMED)
    assert done.status_code == 302
    assert not FileVersion.objects.filter(file_id=file.pk, wrapped_data_key__isnull=False).exists()


def test_the_confirmation_speaks_french(owner: User) -> None:
    file = trashed_report(owner)
    client = client_signed_in(owner)
    client.cookies["django_language"] = "fr"
    page = text_of(client.post(f"/files/{file.pk}/purge/", HTTP_ACCEPT_LANGUAGE="fr"))
    assert "Supprimer définitivement « Compte-rendu.pdf » ?" in page
    assert "le fichier « Compte-rendu.pdf » et ses 3 versions" in page
    assert "Cette action est irréversible." in page


def test_purging_a_folder_counts_what_is_inside(owner: User) -> None:
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Ancien")
    sub = services.folder_create(actor=owner, parent=folder, name="2019")
    for index, where in enumerate([folder, sub, sub]):
        version_store(actor=owner, folder=where, name=f"{index}.pdf", content=b"o")
    version_store(actor=owner, folder=sub, name="2.pdf", content=b"second version")
    services.folder_delete(actor=owner, folder=folder)

    page = text_of(client_signed_in(owner).post(f"/files/folders/{folder.pk}/purge/"))

    assert "3 files inside it" in page
    assert "4 versions of those files" in page
    assert Folder.objects.get(pk=folder.pk).purged_at is None


def test_revoking_a_transfer_asks_first(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_signed_in(owner)
    transfer = new_transfer(client, subject="IRM genou")
    add_upload(owner, transfer, "scan.dcm")
    with django_capture_on_commit_callbacks(execute=True):
        send(client, transfer, "a@clinique.example\nb@clinique.example")
    assert len(mail.outbox) == 2

    for url in (
        f"/sharing/transfers/{transfer.pk}/revoke/",
        f"/sharing/transfers/{transfer.pk}/delete/",
    ):
        asked = client.post(url)
        assert asked.status_code == 200
        assert "IRM genou" in text_of(asked)
    assert "the download links of 2 recipients stop working" in text_of(
        client.post(f"/sharing/transfers/{transfer.pk}/revoke/")
    )
    transfer.refresh_from_db()
    assert transfer.revoked_at is None
    assert transfer.purged_at is None
    assert not ShareLink.objects.filter(transfer=transfer, revoked_at__isnull=False).exists()


def test_deactivating_a_person_asks_first_and_keeps_the_form(
    site_admin: User, owner: User, outsider: User
) -> None:
    client_signed_in(owner)  # one open session
    admin = client_signed_in(site_admin)
    url = f"/accounts/admin/users/{owner.pk}/deactivate/"

    asked = admin.post(url, {"when": "now", "successor": str(outsider.pk)})

    owner.refresh_from_db()
    assert owner.is_active
    page = text_of(asked)
    assert "Deactivate Alice Martin now?" in page
    assert "1 open session ends at once" in page
    assert "Deactivating now does exactly this" in page  # the plan (test_offboarding_plan.py)
    # The confirming form carries the choices made on the first one.
    assert f'name="successor" value="{outsider.pk}"' in page

    assert (
        admin.post(url, {"when": "now", "successor": str(outsider.pk), **CONFIRMED}).status_code
        == 302
    )
    owner.refresh_from_db()
    assert not owner.is_active


def test_moving_to_the_trash_is_offered_back_with_undo(owner: User) -> None:
    file = version_store(actor=owner, folder=root_of(owner), name="Bilan.pdf", content=b"b").file
    client = client_signed_in(owner)

    page = text_of(client.post(f"/files/{file.pk}/delete/", follow=True))

    assert "“Bilan.pdf” is in the trash: you can restore it." in page
    undo = re.search(r'<form method="post" action="([^"]+)" class="ms-auto undo-offer">', page)
    assert undo is not None
    assert undo.group(1) == f"/files/{file.pk}/restore/"
    client.post(undo.group(1))
    file.refresh_from_db()
    assert file.deleted_at is None


def test_a_rename_is_offered_back_with_undo(owner: User) -> None:
    file = version_store(actor=owner, folder=root_of(owner), name="Bilan.pdf", content=b"b").file
    client = client_signed_in(owner)

    page = text_of(
        client.post(f"/files/{file.pk}/rename/", {"rename-name": "Bilan 2026.pdf"}, follow=True)
    )

    assert "Renamed to “Bilan 2026.pdf”." in page
    assert 'name="rename-name" value="Bilan.pdf"' in page
    client.post(f"/files/{file.pk}/rename/", {"rename-name": "Bilan.pdf"})
    file.refresh_from_db()
    assert file.name == "Bilan.pdf"


def test_removing_a_member_from_a_team_asks_first(owner: User, teammate: User, team: Team) -> None:
    """Tom's shares of Cardiologie's files by name end with his membership and adding him
    back does not restore them: one click on "Remove" must not do it."""
    membership = TeamMembership.objects.get(team=team, user=teammate)
    client = client_signed_in(owner)
    url = f"/accounts/teams/{team.slug}/members/{membership.pk}/remove/"

    asked = client.post(url)

    assert asked.status_code == 200
    assert TeamMembership.objects.filter(pk=membership.pk).exists()
    assert not AuditEvent.objects.filter(action=Action.ACCOUNTS_TEAM_MEMBER_REMOVE).exists()
    page = text_of(asked)
    assert "Remove Tom Teammate from Cardiologie?" in page
    # What he loses, named (tests/test_revoke_shows_losses.py: shares and withdrawals).
    assert "Tom Teammate can no longer open the files and folders of Cardiologie" in page
    assert f'href="/accounts/teams/{team.slug}/"' in page  # "Cancel" leads back

    assert client.post(url, CONFIRMED).status_code == 302
    assert not TeamMembership.objects.filter(pk=membership.pk).exists()


def test_closing_a_file_request_asks_first(owner: User) -> None:
    """A closed request is not reopened and cuts uploads under way."""
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Labo")
    file_request, _token = file_requests.file_request_create(
        actor=owner,
        folder=folder,
        title="Bilan sanguin",
        expires_at=timezone.now() + dt.timedelta(days=3),
    )
    client = client_signed_in(owner)
    url = f"/sharing/requests/{file_request.pk}/close/"

    asked = client.post(url)

    assert asked.status_code == 200
    file_request.refresh_from_db()
    assert file_request.closed_at is None
    assert "Close the file request “Bilan sanguin”?" in text_of(asked)
    assert "cannot be reopened" in text_of(asked)

    assert client.post(url, CONFIRMED).status_code == 302
    file_request.refresh_from_db()
    assert file_request.closed_at is not None


def test_revoking_an_invitation_asks_first(site_admin: User) -> None:
    sent = invitations.invitation_create(actor=site_admin, email="dan@hopital.example")
    client = client_signed_in(site_admin)
    url = f"/accounts/admin/invitations/{sent.invitation.pk}/revoke/"

    asked = client.post(url)

    assert asked.status_code == 200
    assert Invitation.objects.get(pk=sent.invitation.pk).revoked_at is None
    assert "Revoke the invitation of dan@hopital.example?" in text_of(asked)

    assert client.post(url, CONFIRMED).status_code == 302
    assert Invitation.objects.get(pk=sent.invitation.pk).revoked_at is not None


def test_withdrawing_a_share_is_offered_back_with_undo(owner: User, teammate: User) -> None:
    """Removing Tom's access is one click, as a move to the trash is: it must be offered
    back, with the same role, not leave Alice to type his address again."""
    file = version_store(actor=owner, folder=root_of(owner), name="Bilan.pdf", content=b"b").file
    share = shares.share_create(actor=owner, item=file, recipient=teammate, role=ShareRole.EDITOR)
    client = client_signed_in(owner)

    page = text_of(client.post(f"/sharing/shares/{share.pk}/remove/", follow=True))

    assert "Access of Tom Teammate to “Bilan.pdf” withdrawn." in page
    assert not Share.objects.filter(file=file, user=teammate).exists()
    undo = re.search(r'<form method="post" action="([^"]+)" class="ms-auto undo-offer">', page)
    assert undo is not None
    assert undo.group(1) == f"/sharing/files/{file.pk}/share/"
    fields = dict(
        re.findall(r'<input type="hidden" name="(recipient|role)" value="([^"]*)">', page)
    )
    assert fields == {"recipient": "tom.teammate@hopital.example", "role": "editor"}
    client.post(undo.group(1), fields)
    assert Share.objects.get(file=file, user=teammate).role == ShareRole.EDITOR
