""" "Download everything" records what is really in the ZIP (docs/sharing-links.md).

The link lists the folder's files when the recipient asks; ``archive_response`` reads
the versions again just before laying out the archive and leaves out one that stopped
being downloadable. A version quarantined between the two was named in the log as
downloaded (its start event written from the first list) while the ZIP left it out.
The test quarantines it at that very moment through the code's own seam: the receipt
the download writes between the two (a ``post_save`` of ``ShareLinkDownload``).
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from django.db.models.signals import post_save
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from files import services
from files.models import FileVersion, ScanStatus
from sharing.models import ShareLinkDownload
from sharing.services.links import share_link_create
from tests.files_helpers import body_of, content_of, root_of, version_store

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "rate_limit_cache"),
]


def test_a_file_quarantined_as_the_zip_starts_is_not_logged_as_downloaded(owner: User) -> None:
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Examen")
    kept = version_store(
        actor=owner, folder=folder, name="compte-rendu.pdf", content=content_of(900)
    )
    caught = version_store(actor=owner, folder=folder, name="coupe.dcm", content=content_of(700))
    _link, token = share_link_create(actor=owner, target=folder)
    recipient = Client()
    recipient.get(reverse("share_link:open", args=[token]))

    def rescan_finds_a_threat(sender: Any, instance: ShareLinkDownload, **kwargs: Any) -> None:
        FileVersion.objects.filter(pk=caught.pk).update(scan_status=ScanStatus.QUARANTINED)

    post_save.connect(rescan_finds_a_threat, sender=ShareLinkDownload)
    try:
        response = recipient.get(reverse("share_link:archive", args=[token]))
        assert response.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(body_of(response)))
    finally:
        post_save.disconnect(rescan_finds_a_threat, sender=ShareLinkDownload)

    assert archive.namelist() == ["Examen/compte-rendu.pdf"]
    starts = AuditEvent.objects.filter(action=Action.FILES_VERSION_DOWNLOAD)
    assert [event.target_id for event in starts] == [str(kept.pk)]
    members = AuditEvent.objects.filter(
        action=Action.SHARING_LINK_DOWNLOAD, outcome="success", details__has_key="in_archive"
    )
    assert [event.details["name"] for event in members] == ["compte-rendu.pdf"]
    assert members[0].details["completed"] is True
    # The file left out is on record as not sent, and why.
    [left_out] = AuditEvent.objects.filter(action=Action.SHARING_LINK_DOWNLOAD, outcome="denied")
    assert left_out.details["name"] == "coupe.dcm"
    assert left_out.details["outcome"] == "quarantined"
    assert left_out.details["left_out_of_archive"] is True
    [summary] = AuditEvent.objects.filter(
        action=Action.SHARING_LINK_DOWNLOAD, outcome="success", details__archive=True
    )
    assert (summary.details["files"], summary.details["left_out"]) == (1, 1)
