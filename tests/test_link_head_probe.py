"""A mail scanner's ``HEAD`` of a link is not the recipient opening it.

Hospital mail gateways and link previews check each address in a message before the
recipient clicks, often with ``HEAD``. ``/s/<token>/`` answered 405 to it (some
scanners then flag the link, or retry with ``GET``). It now answers as a ``GET`` does,
without a body, and nobody opened anything: no ``sharing.link.access`` event, no "last
opened", no use of a link's limit (docs/sharing-links.md). The same for a transfer's
link and a file request's page. A guess with ``HEAD`` is refused and recorded as one.

Fixtures are imported by name from tests.files_helpers; pytest injects them.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from files import services
from sharing.models import ShareLink
from sharing.services import file_requests, transfers
from sharing.services.links import share_link_create
from tests.files_helpers import body_of, root_of, version_store

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "rate_limit_cache"),
]


def _soon() -> dt.datetime:
    return timezone.now() + dt.timedelta(days=3)


def _opened(token_link: ShareLink) -> int:
    return AuditEvent.objects.filter(
        action=Action.SHARING_LINK_ACCESS, target_id=str(token_link.pk)
    ).count()


def test_a_scanners_head_does_not_use_up_a_link_shared_once(owner: User) -> None:
    letter = version_store(
        actor=owner, folder=root_of(owner), name="Courrier Dupont.pdf", content=b"%PDF lettre"
    )
    link, token = share_link_create(actor=owner, target=letter.file, max_downloads=1)
    scanner, patient = Client(), Client()

    probed = scanner.head(f"/s/{token}/")

    assert probed.status_code == 200
    assert probed.content == b""
    assert probed["Cache-Control"].startswith("max-age=0")
    link.refresh_from_db()
    assert link.download_count == 0
    assert link.last_accessed_at is None
    assert _opened(link) == 0
    assert patient.get(f"/s/{token}/").status_code == 200
    assert _opened(link) == 1
    download = patient.get(reverse("share_link:file", args=[token, letter.file_id]))
    assert download.status_code == 200
    assert body_of(download) == b"%PDF lettre"
    assert patient.get(f"/s/{token}/").status_code == 410  # the one use was the patient's


def test_a_head_of_an_unknown_or_dead_link_is_refused_as_a_get_is(owner: User) -> None:
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Envois")
    used_up, token = share_link_create(actor=owner, target=folder, max_downloads=1)
    ShareLink.objects.filter(pk=used_up.pk).update(download_count=1)

    assert Client().head(f"/s/{'x' * 43}/").status_code == 404
    assert Client().head(f"/s/{token}/").status_code == 410
    refused = AuditEvent.objects.filter(action=Action.SHARING_LINK_ACCESS).order_by("sequence")
    assert [event.details.get("method") for event in refused] == ["HEAD", "HEAD"]


@pytest.mark.usefixtures("transfers_without_code")
def test_a_scanners_head_of_a_transfer_link_is_not_the_recipient_opening_it(owner: User) -> None:
    report = version_store(actor=owner, folder=root_of(owner), name="IRM genou.pdf", content=b"i")
    transfer = transfers.transfer_create(actor=owner, subject="IRM genou", expires_at=_soon())
    transfers.transfer_files_add(actor=owner, transfer=transfer, files=[report.file])
    [sent] = transfers.transfer_send(
        actor=owner, transfer=transfer, recipients=["dr.radio@clinique.example"]
    )
    link = ShareLink.objects.get(transfer=transfer)

    probed = Client().head(f"/s/{sent.token}/")

    assert probed.status_code == 200
    assert probed.content == b""
    assert _opened(link) == 0
    link.refresh_from_db()
    assert link.last_accessed_at is None
    page = Client().get(f"/s/{sent.token}/")
    assert page.status_code == 200
    assert "IRM genou" in page.content.decode()
    assert _opened(link) == 1


def test_a_scanners_head_of_a_file_request_gets_the_page_status_and_records_nothing(
    owner: User,
) -> None:
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Résultats labo")
    _request, token = file_requests.file_request_create(
        actor=owner, folder=folder, title="Bilan sanguin M. Petit", expires_at=_soon(), max_files=1
    )
    before = AuditEvent.objects.count()

    probed = Client().head(f"/r/{token}/")

    assert probed.status_code == 200
    assert probed.content == b""
    assert probed["Cache-Control"] == "no-store"
    assert AuditEvent.objects.count() == before
    page = Client().get(f"/r/{token}/")
    assert page.status_code == 200
    assert "Bilan sanguin M. Petit" in page.content.decode()
    assert Client().head(f"/r/{'x' * 43}/").status_code == 404
