"""Who may manage what Alice shares: every way in to her links, transfers, file requests
and shares (pages and API), tried by Alice, her teammate, an outsider, a site
administrator and an auditor. Only Alice gets in; the others get the same 404 as for
something that does not exist, and their attempts to withdraw change nothing."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Team, User
from files import services
from sharing.models import FileRequest, Share, ShareLink, ShareRole, Transfer
from sharing.services import file_requests, shares, transfers
from sharing.services.links import share_link_create
from tests.conftest import user_create
from tests.files_helpers import root_of, version_store
from tests.helpers import client_signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("folder_backend")]


@dataclass
class Shared:
    link: ShareLink
    transfer: Transfer
    file_request: FileRequest
    share: Share
    file_id: int


@pytest.fixture
def shared(owner: User, team: Team) -> Shared:
    """Alice's personal file with a link and a share, a transfer and a file request."""
    soon = timezone.now() + dt.timedelta(days=3)
    version = version_store(
        actor=owner, folder=root_of(owner), name="compte-rendu.pdf", content=b"%PDF-1.4 CR"
    )
    link, _token = share_link_create(actor=owner, target=version.file)
    transfer = transfers.transfer_create(actor=owner, subject="IRM", expires_at=soon)
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Résultats")
    file_request, _token = file_requests.file_request_create(
        actor=owner, folder=folder, title="Bilan", expires_at=soon
    )
    rita = user_create("rita.radiologue@hopital.example")
    share = shares.share_create(
        actor=owner, item=version.file, recipient=rita, role=ShareRole.VIEWER
    )
    return Shared(link, transfer, file_request, share, version.file_id)


def ways_in(shared: Shared) -> list[str]:
    return [
        f"/sharing/files/{shared.file_id}/links/",
        f"/sharing/files/{shared.file_id}/share/",
        f"/sharing/transfers/{shared.transfer.pk}/",
        f"/sharing/requests/{shared.file_request.pk}/",
        f"/api/v1/sharing/files/{shared.file_id}/links/",
        f"/api/v1/sharing/shares/{shared.share.pk}/",
        f"/api/v1/sharing/shares/?file={shared.file_id}",
        f"/api/v1/sharing/transfers/{shared.transfer.pk}/",
        f"/api/v1/sharing/requests/{shared.file_request.pk}/",
    ]


def test_the_owner_manages_everything_she_shares(owner: User, shared: Shared) -> None:
    alice = client_signed_in(owner)
    for url in ways_in(shared):
        assert alice.get(url).status_code == 200, url


@pytest.mark.parametrize("person", ["teammate", "outsider", "site_admin", "auditor"])
def test_nobody_else_sees_or_withdraws_what_she_shares(
    person: str, request: pytest.FixtureRequest, shared: Shared
) -> None:
    other: Client = client_signed_in(request.getfixturevalue(person))
    for url in ways_in(shared):
        assert other.get(url).status_code == 404, url
    attempts = [
        f"/sharing/links/{shared.link.pk}/revoke/",
        f"/api/v1/sharing/links/{shared.link.pk}/revoke/",
        f"/sharing/transfers/{shared.transfer.pk}/revoke/",
        f"/sharing/requests/{shared.file_request.pk}/close/",
        f"/sharing/shares/{shared.share.pk}/remove/",
    ]
    for url in attempts:
        assert other.post(url).status_code == 404, url
    assert other.delete(f"/api/v1/sharing/shares/{shared.share.pk}/").status_code == 404
    for listing in ("/sharing/links/", "/sharing/transfers/", "/sharing/requests/"):
        page = other.get(listing).content.decode()
        assert "compte-rendu.pdf" not in page, listing
        assert "Bilan" not in page, listing
    shared.link.refresh_from_db()
    shared.transfer.refresh_from_db()
    shared.file_request.refresh_from_db()
    assert shared.link.revoked_at is None
    assert shared.transfer.revoked_at is None
    assert shared.file_request.closed_at is None
    assert Share.objects.filter(pk=shared.share.pk).exists()
