"""Incident response: a security officer suspects a leak and suspends every external
link, transfer and file request at once (sharing/services/suspension.py). Nothing is
deleted; lifting the suspension lets each link work again until its own expiry.

The people: Alice (``owner``) shares a study with an outside radiologist; Sam
(``site_admin``) is the administrator who switches the suspension on and off."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from files.downloads import DownloadCutOff
from sharing.errors import FileRequestRuleError, LinkPolicyError, TransferRuleError
from sharing.models import ShareLink, Transfer
from sharing.services import file_requests, transfers
from sharing.services.links import share_link_create
from tests.files_helpers import chunks_of, content_of, root_of, version_store
from tests.helpers import CONFIRMED, client_signed_in

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "small_segments", "rate_limit_cache"),
]

SUSPENSION = "/sharing/policy/suspension/"


def switch(admin: Client, *, suspend: bool) -> None:
    """Sam presses the button, reads the confirmation page, confirms."""
    value = "yes" if suspend else "no"
    asked = admin.post(SUSPENSION, {"suspend": value})
    assert asked.status_code == 200  # the confirmation page: nothing changed yet
    done = admin.post(SUSPENSION, {"suspend": value, **CONFIRMED})
    assert done.status_code == 302


def drain(body: Iterator[bytes], *, into: list[bytes]) -> None:
    for chunk in body:
        into.append(chunk)


def test_a_suspension_stops_every_link_until_it_is_lifted(owner: User, site_admin: User) -> None:
    study = version_store(
        actor=owner, folder=root_of(owner), name="irm.dcm", content=content_of(3000)
    ).file
    link, token = share_link_create(actor=owner, target=study)
    radiologist = Client()
    page = reverse("share_link:open", args=[token])
    download = reverse("share_link:file", args=[token, study.pk])
    assert radiologist.get(page).status_code == 200

    admin = client_signed_in(site_admin)
    asked = admin.post(SUSPENSION, {"suspend": "yes"})
    assert "Suspend every external link and transfer now?" in asked.content.decode()
    # A switch, not a loss: the page says it can be reversed, not "cannot be undone".
    assert "You can reverse it later from the same page." in asked.content.decode()
    assert "This cannot be undone." not in asked.content.decode()
    assert radiologist.get(page).status_code == 200  # asked, not yet confirmed
    switch(admin, suspend=True)
    switched = AuditEvent.objects.get(action=Action.SHARING_EXTERNAL_SUSPEND)
    assert switched.actor_id == str(site_admin.pk)

    refused = radiologist.get(page)
    assert refused.status_code == 410
    assert "not available at the moment" in refused.content.decode()
    assert radiologist.get(download).status_code == 410
    # The same neutral page in the recipient's language.
    french = Client(HTTP_ACCEPT_LANGUAGE="fr").get(page)
    assert french.status_code == 410
    assert "n’est pas disponible pour le moment" in french.content.decode()  # noqa: RUF001
    refusals = AuditEvent.objects.filter(
        action=Action.SHARING_LINK_ACCESS, outcome=Outcome.DENIED, target_id=str(link.pk)
    )
    assert {event.details["outcome"] for event in refusals} == {"suspended"}
    assert refusals.count() == 3  # the page, the download, the page in French

    # Alice cannot make a new one meanwhile, and her sharing pages say why; Sam sees it
    # on every page.
    with translation.override("en"), pytest.raises(LinkPolicyError, match="suspended"):
        share_link_create(actor=owner, target=study)
    assert ShareLink.objects.count() == 1
    with pytest.raises(TransferRuleError):
        transfers.transfer_create(
            actor=owner, subject="IRM genou", expires_at=timezone.now() + dt.timedelta(days=7)
        )
    assert not Transfer.objects.exists()
    links_page = client_signed_in(owner).get(f"/sharing/files/{study.pk}/links/")
    assert 'id="external-sharing-suspended"' in links_page.content.decode()
    assert 'id="external-sharing-suspended"' in admin.get("/files/", follow=True).content.decode()
    assert (
        'id="external-sharing-suspended"'
        not in client_signed_in(owner).get("/files/", follow=True).content.decode()
    )  # not an alarm on everyone's every page

    switch(admin, suspend=False)
    assert AuditEvent.objects.get(action=Action.SHARING_EXTERNAL_RESUME).actor_id == str(
        site_admin.pk
    )
    assert radiologist.get(page).status_code == 200
    assert radiologist.get(download).status_code == 200
    link.refresh_from_db()
    assert link.revoked_at is None
    assert (
        'id="external-sharing-suspended"' not in admin.get("/files/", follow=True).content.decode()
    )


def test_a_download_under_way_stops_when_sharing_is_suspended(
    owner: User, site_admin: User
) -> None:
    study = version_store(
        actor=owner, folder=root_of(owner), name="irm.dcm", content=content_of(6000)
    ).file
    link, token = share_link_create(actor=owner, target=study)
    recipient = Client()
    recipient.get(reverse("share_link:open", args=[token]))
    admin = client_signed_in(site_admin)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        response = recipient.get(reverse("share_link:file", args=[token, study.pk]))
        assert response.status_code == 200
        body = chunks_of(response)
        received = [next(body)]
        switch(admin, suspend=True)
        clock.shift(dt.timedelta(seconds=30))
        with pytest.raises(DownloadCutOff, match="suspended"):
            drain(body, into=received)
    assert len(b"".join(received)) < 6000
    cut = AuditEvent.objects.get(action=Action.FILES_VERSION_DOWNLOAD, outcome=Outcome.DENIED)
    assert cut.actor_label == f"link:{link.pk}"
    assert cut.details["reason"] == "link suspended"


def test_file_requests_take_nothing_while_sharing_is_suspended(
    owner: User, site_admin: User
) -> None:
    _request, token = file_requests.file_request_create(
        actor=owner,
        folder=root_of(owner),
        title="Vos analyses",
        expires_at=timezone.now() + dt.timedelta(days=7),
    )
    outside = Client()
    page = f"/r/{token}/"
    assert outside.get(page).status_code == 200
    switch(client_signed_in(site_admin), suspend=True)
    refused = outside.get(page)
    assert refused.status_code == 410
    assert "not available at the moment" in refused.content.decode()
    with pytest.raises(FileRequestRuleError):
        file_requests.file_request_create(
            actor=owner,
            folder=root_of(owner),
            title="Encore",
            expires_at=timezone.now() + dt.timedelta(days=7),
        )
    event = AuditEvent.objects.filter(
        action=Action.SHARING_REQUEST_REFUSE, outcome=Outcome.DENIED
    ).latest("sequence")
    assert event.details["reason"] == "external sharing suspended"
