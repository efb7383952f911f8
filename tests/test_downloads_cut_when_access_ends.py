"""A download or ZIP under way stops within seconds once access to it ends, not only
the next request: the link withdrawn (sent to the wrong person), the share taken back,
the file quarantined by a later scan. Each stop is audited; the client is left with a
short download, never one that looks complete."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from files import services
from files.downloads import DownloadCutOff
from files.models import FileVersion, ScanStatus
from sharing.models import ShareRole
from sharing.services import shares
from sharing.services.links import share_link_create, share_link_revoke
from tests.files_helpers import chunks_of, content_of, root_of, version_store
from tests.helpers import client_signed_in

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "small_segments", "rate_limit_cache"),
]


def drain(body: Iterator[bytes], *, into: list[bytes]) -> None:
    for chunk in body:
        into.append(chunk)


def refusal() -> AuditEvent:
    return AuditEvent.objects.get(action=Action.FILES_VERSION_DOWNLOAD, outcome=Outcome.DENIED)


def test_a_link_withdrawn_while_the_recipient_downloads_stops_the_download(owner: User) -> None:
    study = version_store(
        actor=owner, folder=root_of(owner), name="irm.dcm", content=content_of(6000)
    ).file
    link, token = share_link_create(actor=owner, target=study)
    recipient = Client()
    assert recipient.get(reverse("share_link:open", args=[token])).status_code == 200
    with time_machine.travel(timezone.now(), tick=False) as clock:
        response = recipient.get(reverse("share_link:file", args=[token, study.pk]))
        assert response.status_code == 200
        body = chunks_of(response)
        received = [next(body)]
        # "Wrong recipient!": the owner withdraws the link while the study is on its way.
        share_link_revoke(actor=owner, link=link)
        drain_seconds = dt.timedelta(seconds=30)
        clock.shift(drain_seconds)
        with pytest.raises(DownloadCutOff, match="revoked"):
            drain(body, into=received)
    assert len(b"".join(received)) < 6000
    event = refusal()
    assert event.actor_label == f"link:{link.pk}"
    assert event.details["link"] == link.pk
    assert event.details["reason"] == "link revoked"
    assert event.details["name"] == "irm.dcm"


def test_a_link_still_live_lets_a_long_download_finish(owner: User) -> None:
    study = version_store(
        actor=owner, folder=root_of(owner), name="irm.dcm", content=content_of(6000)
    ).file
    _link, token = share_link_create(actor=owner, target=study, max_downloads=1)
    recipient = Client()
    recipient.get(reverse("share_link:open", args=[token]))
    with time_machine.travel(timezone.now(), tick=False) as clock:
        body = chunks_of(recipient.get(reverse("share_link:file", args=[token, study.pk])))
        received = [next(body)]
        clock.shift(dt.timedelta(seconds=30))  # this download used the link up: it goes on
        drain(body, into=received)
    assert b"".join(received) == content_of(6000)
    assert not AuditEvent.objects.filter(outcome=Outcome.DENIED).exists()


def test_a_folder_links_zip_stops_when_the_link_is_withdrawn(owner: User) -> None:
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Examen")
    for n in range(3):
        version_store(actor=owner, folder=folder, name=f"coupe-{n}.dcm", content=content_of(4000))
    link, token = share_link_create(actor=owner, target=folder)
    recipient = Client()
    recipient.get(reverse("share_link:open", args=[token]))
    with time_machine.travel(timezone.now(), tick=False) as clock:
        response = recipient.get(reverse("share_link:archive", args=[token]))
        assert response.status_code == 200
        body = chunks_of(response)
        received = [next(body)]
        share_link_revoke(actor=owner, link=link)
        clock.shift(dt.timedelta(seconds=30))
        with pytest.raises(DownloadCutOff, match="revoked"):
            drain(body, into=received)
    assert len(b"".join(received)) < 3 * 4000
    event = refusal()
    assert event.actor_label == f"link:{link.pk}"
    assert event.details["reason"] == "link revoked"


def test_a_share_taken_back_stops_the_colleagues_download(owner: User, outsider: User) -> None:
    study = version_store(
        actor=owner, folder=root_of(owner), name="scanner.dcm", content=content_of(6000)
    ).file
    share = shares.share_create(actor=owner, item=study, recipient=outsider, role=ShareRole.VIEWER)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        colleague = client_signed_in(outsider)
        response = colleague.get(f"/files/{study.pk}/download/")
        assert response.status_code == 200
        body = chunks_of(response)
        received = [next(body)]
        shares.share_delete(actor=owner, share=share)
        clock.shift(dt.timedelta(seconds=30))
        with pytest.raises(DownloadCutOff, match="access withdrawn"):
            drain(body, into=received)
    assert len(b"".join(received)) < 6000
    event = refusal()
    assert event.actor_id == str(outsider.pk)
    assert event.details["reason"] == "access withdrawn"


def test_a_version_quarantined_by_a_later_scan_stops_its_download(owner: User) -> None:
    version = version_store(
        actor=owner, folder=root_of(owner), name="rapport.pdf", content=content_of(6000)
    )
    with time_machine.travel(timezone.now(), tick=False) as clock:
        browser = client_signed_in(owner)
        body = chunks_of(browser.get(f"/files/{version.file.pk}/download/"))
        received = [next(body)]
        # New signatures, a rescan: the file being sent turns out to carry a threat.
        FileVersion.objects.filter(pk=version.pk).update(scan_status=ScanStatus.QUARANTINED)
        clock.shift(dt.timedelta(seconds=30))
        with pytest.raises(DownloadCutOff, match="quarantined"):
            drain(body, into=received)
    assert len(b"".join(received)) < 6000
    assert refusal().details["reason"] == "quarantined"


def test_a_links_preview_stream_stops_when_the_link_is_withdrawn(owner: User) -> None:
    """A video or a PDF shown through the link's preview is content too: the recipient
    watching a study that was sent to the wrong person must lose it within seconds of
    the withdrawal, as a download does, not at the end of an hour of video."""
    video = version_store(
        actor=owner, folder=root_of(owner), name="coloscopie.mp4", content=content_of(6000)
    )
    FileVersion.objects.filter(pk=video.pk).update(content_type="video/mp4")
    link, token = share_link_create(actor=owner, target=video.file)
    recipient = Client()
    assert recipient.get(reverse("share_link:open", args=[token])).status_code == 200
    with time_machine.travel(timezone.now(), tick=False) as clock:
        response = recipient.get(reverse("share_link:preview_stream", args=[token, video.file.pk]))
        assert response.status_code == 200
        body = chunks_of(response)
        received = [next(body)]
        share_link_revoke(actor=owner, link=link)
        clock.shift(dt.timedelta(seconds=30))
        with pytest.raises(DownloadCutOff, match="revoked"):
            drain(body, into=received)
    assert len(b"".join(received)) < 6000
    event = AuditEvent.objects.get(action=Action.FILES_VERSION_VIEW, outcome=Outcome.DENIED)
    assert event.actor_label == f"link:{link.pk}"
    assert event.details["reason"] == "link revoked"
    assert event.details["name"] == "coloscopie.mp4"


@pytest.mark.usefixtures("transfers_without_code")
def test_a_transfers_preview_stream_stops_when_the_file_is_quarantined(owner: User) -> None:
    from sharing.services.transfers import transfer_create, transfer_send

    transfer = transfer_create(
        actor=owner, subject="Examen", expires_at=timezone.now() + dt.timedelta(days=3)
    )
    assert transfer.folder is not None
    report = version_store(
        actor=owner, folder=transfer.folder, name="rapport.pdf", content=content_of(6000)
    )
    FileVersion.objects.filter(pk=report.pk).update(content_type="application/pdf")
    [sent] = transfer_send(actor=owner, transfer=transfer, recipients=["dr.b@clinique.example"])
    recipient = Client()
    assert recipient.get(reverse("share_link:open", args=[sent.token])).status_code == 200
    with time_machine.travel(timezone.now(), tick=False) as clock:
        url = reverse("share_link:preview_stream", args=[sent.token, report.file.pk])
        response = recipient.get(url)
        assert response.status_code == 200
        body = chunks_of(response)
        received = [next(body)]
        FileVersion.objects.filter(pk=report.pk).update(scan_status=ScanStatus.QUARANTINED)
        clock.shift(dt.timedelta(seconds=30))
        with pytest.raises(DownloadCutOff, match="quarantined"):
            drain(body, into=received)
    assert len(b"".join(received)) < 6000
