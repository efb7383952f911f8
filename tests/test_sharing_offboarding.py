"""Offboarding (issue #6, item 7): when an admin deactivates a clinician, every link,
transfer and file request they created stops at once, in the same action."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from files import services
from sharing.models import FileRequest, ShareLink, Transfer
from sharing.services import file_requests, links, transfers
from tests.files_helpers import content_of, root_of, version_store
from tests.helpers import client_signed_in

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "small_segments"),
]


def test_deactivating_a_clinician_cuts_their_links_transfers_and_file_requests_at_once(
    owner: User, site_admin: User, teammate: User, django_capture_on_commit_callbacks: Any
) -> None:
    week = timezone.now() + timedelta(days=7)
    report = version_store(
        actor=owner, folder=root_of(owner), name="report.pdf", content=content_of(800)
    ).file
    _link, link_token = links.share_link_create(actor=owner, target=report, expires_at=week)

    transfer = transfers.transfer_create(actor=owner, subject="IRM", expires_at=week)
    assert transfer.folder is not None
    version_store(actor=owner, folder=transfer.folder, name="irm.dcm", content=content_of(900))
    with django_capture_on_commit_callbacks(execute=True):
        transfers.transfer_send(
            actor=owner, transfer=transfer, recipients=["dr.radio@clinique.example"]
        )
    transfer_token = re.search(r"/s/([A-Za-z0-9_-]{43})/", str(mail.outbox[-1].body))
    assert transfer_token

    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Labo")
    _request, request_token = file_requests.file_request_create(
        actor=owner, folder=folder, title="Résultats", expires_at=week
    )

    outside = Client()
    assert outside.get(f"/s/{link_token}/").status_code == 200
    assert outside.get(f"/s/{transfer_token.group(1)}/").status_code == 200
    assert outside.get(f"/r/{request_token}/").status_code == 200

    response = client_signed_in(site_admin).post(
        f"/accounts/admin/users/{owner.pk}/deactivate/",
        {"when": "now", "successor": str(teammate.pk), "confirmed": "yes"},
    )
    assert response.status_code == 302

    assert outside.get(f"/s/{link_token}/").status_code == 410
    assert outside.get(f"/s/{transfer_token.group(1)}/").status_code == 410
    assert outside.get(f"/r/{request_token}/").status_code == 410
    upload = outside.post(
        f"/r/{request_token}/uploads/",
        b"",
        content_type="application/offset+octet-stream",
        headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10"},
    )
    assert upload.status_code == 410

    assert not ShareLink.objects.filter(created_by=owner, revoked_at__isnull=True).exists()
    assert Transfer.objects.get(pk=transfer.pk).revoked_at is not None
    assert FileRequest.objects.get(created_by=owner).closed_at is not None
    event = AuditEvent.objects.get(action=Action.ACCOUNTS_USER_DEACTIVATE)
    summary = event.details["sharing_revoke_for_leaver"]
    assert summary == {"links_revoked": 2, "transfers_revoked": 1, "file_requests_closed": 1}
    assert AuditEvent.objects.filter(
        action=Action.SHARING_REQUEST_CLOSE, details__reason="offboarding"
    ).exists()
    assert AuditEvent.objects.filter(
        action=Action.SHARING_TRANSFER_REVOKE, details__reason="offboarding"
    ).exists()


def test_receivers_are_idempotent(owner: User) -> None:
    week = timezone.now() + timedelta(days=7)
    transfers.transfer_create(actor=owner, subject="IRM", expires_at=week)
    assert transfers.transfers_revoke_for_owner(owner=owner) == 1
    assert transfers.transfers_revoke_for_owner(owner=owner) == 0
    assert file_requests.file_requests_close_for_owner(owner=owner) == 0
