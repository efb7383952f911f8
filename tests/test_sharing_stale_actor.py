"""A leaver's request that was already under way when the administrator pressed
Deactivate (a form posted, an API call authenticated, a job queued a moment before)
still holds a person object reading "active". Whatever it then tries on the sharing
side — a link, a transfer, a file request, a share — is refused on record, and nothing
is created, sent or e-mailed (docs/accounts.md, Offboarding)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from accounts import offboarding
from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from files.models import File, Folder
from sharing.errors import (
    FileRequestRuleError,
    LinkRuleError,
    ShareRuleError,
    TransferRuleError,
)
from sharing.models import FileRequest, Share, ShareLink, Transfer
from sharing.services import file_requests, links, shares, transfers
from tests.conftest import user_create
from tests.files_helpers import content_of, root_of, version_store

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "small_segments"),
]


def in_a_week() -> dt.datetime:
    return timezone.now() + dt.timedelta(days=7)


def report_of(owner: User) -> File:
    return version_store(
        actor=owner, folder=root_of(owner), name="compte-rendu.pdf", content=content_of(800)
    ).file


def loaded_then_deactivated(owner: User, admin: User) -> User:
    """The person as the request loaded them, then the offboarding (files kept)."""
    as_loaded = User.objects.get(pk=owner.pk)
    offboarding.user_deactivate(actor=admin, user=owner, successor=None)
    assert as_loaded.is_active  # what the request still believes
    return as_loaded


def refusal(action: str) -> AuditEvent:
    event = AuditEvent.objects.get(action=action, outcome=Outcome.DENIED)
    assert event.details["reason"] == "account deactivated"
    return event


def test_leaver_request_under_way_publishes_no_link(
    owner: User, site_admin: User, django_capture_on_commit_callbacks: Any
) -> None:
    report = report_of(owner)
    as_loaded = loaded_then_deactivated(owner, site_admin)

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(LinkRuleError, match="deactivated") as refused,
    ):
        links.share_link_create(
            actor=as_loaded,
            target=report,
            expires_at=in_a_week(),
            recipient_email="ami@mail.example",
        )
    assert refused.value.status_code == 403
    assert not ShareLink.objects.exists()
    assert mail.outbox == []
    event = refusal(Action.SHARING_LINK_CREATE)
    assert (event.actor_id, event.target_id) == (str(owner.pk), str(report.pk))


def test_leaver_request_under_way_starts_no_transfer(owner: User, site_admin: User) -> None:
    as_loaded = loaded_then_deactivated(owner, site_admin)

    with pytest.raises(TransferRuleError, match="deactivated") as refused:
        transfers.transfer_create(actor=as_loaded, subject="IRM genou", expires_at=in_a_week())
    assert refused.value.status_code == 403
    assert not Transfer.objects.exists()
    assert not Folder.objects.filter(name__startswith="IRM genou").exists()
    refusal(Action.SHARING_TRANSFER_CREATE)


def test_leaver_send_under_way_mails_nobody(
    owner: User, site_admin: User, django_capture_on_commit_callbacks: Any
) -> None:
    report = report_of(owner)
    draft = transfers.transfer_create(actor=owner, subject="IRM genou", expires_at=in_a_week())
    transfers.transfer_files_add(actor=owner, transfer=draft, files=[report])
    as_loaded = loaded_then_deactivated(owner, site_admin)

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(TransferRuleError, match="deactivated") as refused,
    ):
        transfers.transfer_send(
            actor=as_loaded, transfer=draft, recipients=["dr.radio@clinique.example"]
        )
    assert refused.value.status_code == 403
    draft.refresh_from_db()
    assert draft.sent_at is None
    assert not ShareLink.objects.filter(transfer=draft).exists()
    assert mail.outbox == []
    event = refusal(Action.SHARING_TRANSFER_SEND)
    assert event.target_id == str(draft.pk)


def test_leaver_delete_under_way_shreds_no_transfer(owner: User, site_admin: User) -> None:
    report = report_of(owner)
    draft = transfers.transfer_create(actor=owner, subject="IRM genou", expires_at=in_a_week())
    transfers.transfer_files_add(actor=owner, transfer=draft, files=[report])
    as_loaded = loaded_then_deactivated(owner, site_admin)

    with pytest.raises(TransferRuleError, match="deactivated"):
        transfers.transfer_purge(transfer_id=draft.pk, actor=as_loaded)
    draft.refresh_from_db()
    assert draft.purged_at is None  # kept for the retention, as the offboarding decided
    refusal(Action.SHARING_TRANSFER_PURGE)


def test_leaver_request_under_way_opens_no_folder_to_outsiders(
    owner: User, site_admin: User
) -> None:
    folder = root_of(owner)
    as_loaded = loaded_then_deactivated(owner, site_admin)

    with pytest.raises(FileRequestRuleError, match="deactivated") as refused:
        file_requests.file_request_create(
            actor=as_loaded, folder=folder, title="Vos analyses", expires_at=in_a_week()
        )
    assert refused.value.status_code == 403
    assert not FileRequest.objects.exists()
    event = refusal(Action.SHARING_REQUEST_CREATE)
    assert event.target_id == str(folder.pk)


def test_leaver_request_under_way_shares_nothing_inside(owner: User, site_admin: User) -> None:
    report = report_of(owner)
    colleague = user_create("bob.colleague@hopital.example", full_name="Bob Colleague")
    as_loaded = loaded_then_deactivated(owner, site_admin)

    with pytest.raises(ShareRuleError, match="deactivated"):
        shares.share_create(actor=as_loaded, item=report, recipient=colleague, role="viewer")
    assert not Share.objects.exists()
    refusal(Action.SHARING_SHARE_CREATE)
