"""Transfers reference the original file (lineage, ARCHITECTURE invariants 8 and 9).

A radiologist sends a study from "Études/IRM" to a colleague outside: nothing is copied
(no blob, no quota), every download the recipient makes names the original file, its
version and its path; deleting the transfer never touches the original; the owner's
own deletion withdraws it from the transfer, and once nothing references the content
any more its key and blob are gone.
"""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import importlib
import io
import re
import zipfile
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.test import Client, override_settings
from django.utils import timezone

from accounts.models import User
from audit.actions import Action
from files import lifecycle
from files import services as files_services
from files.models import File, FileVersion, Folder
from files.selectors import space_used_bytes
from sharing import tasks
from sharing.models import Transfer
from tests.files_helpers import Backend, body_of, content_of, root_of, version_store
from tests.helpers import CONFIRMED, client_signed_in
from tests.test_sharing_transfers import actions, new_transfer, send, token_in

pytestmark = [
    pytest.mark.django_db,
    # Lineage, not the recipient's code: the recipients here download straight away.
    pytest.mark.usefixtures("folder_backend", "small_segments", "transfers_without_code"),
]


def study_folder(owner: User) -> Folder:
    studies = files_services.folder_create(actor=owner, parent=root_of(owner), name="Études")
    return files_services.folder_create(actor=owner, parent=studies, name="IRM")


def blobs(backend: Backend) -> list[str]:
    return [key for key, _data in backend.everything()]


def sent_to_recipient(
    client: Client, transfer: Transfer, files: list[File], capture: Any, *, days: int = 7
) -> str:
    picked = client.post(
        f"/sharing/transfers/{transfer.pk}/files/", {"file_ids": [str(f.pk) for f in files]}
    )
    assert picked.status_code == 302, picked.content.decode()[:2000]
    with capture(execute=True):
        assert send(client, transfer, "dr.radio@clinique.example").status_code == 302
    return token_in(mail.outbox[-1])


def test_sending_a_file_adds_no_blob_and_uses_no_quota(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_signed_in(owner)
    original = version_store(
        actor=owner, folder=study_folder(owner), name="irm.dcm", content=content_of(9000)
    )
    space = original.file.space
    blobs_before, used_before = blobs(folder_backend), space_used_bytes(space)
    versions_before = FileVersion.objects.count()

    transfer = new_transfer(client)
    sent_to_recipient(client, transfer, [original.file], django_capture_on_commit_callbacks)

    assert blobs(folder_backend) == blobs_before
    assert space_used_bytes(space) == used_before
    assert FileVersion.objects.count() == versions_before
    item = transfer.items.get()
    assert (item.file_id, item.version_id, item.path) == (original.file_id, original.pk, "irm.dcm")
    added = actions(Action.SHARING_TRANSFER_FILES_ADD)[-1]
    assert added.details["version"] == str(original.pk)
    assert added.details["path"] == "/Études/IRM/irm.dcm"


def test_recipient_download_names_the_original_file_version_and_path(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_signed_in(owner)
    original = version_store(
        actor=owner, folder=study_folder(owner), name="irm.dcm", content=content_of(5000)
    )
    token = sent_to_recipient(
        client, new_transfer(client), [original.file], django_capture_on_commit_callbacks
    )

    recipient = Client()
    download = recipient.get(f"/s/{token}/files/{original.file_id}/")
    assert download.status_code == 200
    assert body_of(download) == content_of(5000)

    expected = {
        "file": original.file_id,
        "name": "irm.dcm",
        "path": "/Études/IRM/irm.dcm",
        "version": str(original.pk),
        "number": 1,
    }
    for action in (Action.FILES_VERSION_DOWNLOAD, Action.SHARING_LINK_DOWNLOAD):
        event = actions(action)[-1]
        assert {key: event.details[key] for key in expected} == expected, action
        assert event.details["recipient"] == "dr.radio@clinique.example"


def test_zip_of_a_transfer_names_every_original_member(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_signed_in(owner)
    folder = study_folder(owner)
    first = version_store(actor=owner, folder=folder, name="a.dcm", content=content_of(3000))
    second = version_store(
        actor=owner, folder=root_of(owner), name="b.pdf", content=content_of(2000, seed="b")
    )
    token = sent_to_recipient(
        client, new_transfer(client), [first.file, second.file], django_capture_on_commit_callbacks
    )

    archive = zipfile.ZipFile(io.BytesIO(body_of(Client().get(f"/s/{token}/archive/"))))
    assert sorted(archive.namelist()) == ["a.dcm", "b.pdf"]

    event = actions(Action.SHARING_LINK_DOWNLOAD)[-1]
    assert event.details["archive"] is True
    members = {
        member["file"]: (member["version"], member["path"]) for member in event.details["members"]
    }
    assert members == {
        first.file_id: (str(first.pk), "/Études/IRM/a.dcm"),
        second.file_id: (str(second.pk), "/b.pdf"),
    }


def test_purging_the_transfer_leaves_the_original_intact_and_downloadable(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_signed_in(owner)
    original = version_store(
        actor=owner, folder=study_folder(owner), name="irm.dcm", content=content_of(4000)
    )
    transfer = new_transfer(client)
    token = sent_to_recipient(client, transfer, [original.file], django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        assert (
            client.post(f"/sharing/transfers/{transfer.pk}/delete/", CONFIRMED).status_code == 302
        )
    lifecycle.shredded_blobs_delete()

    assert Client().get(f"/s/{token}/").status_code == 410
    original.refresh_from_db()
    assert original.wrapped_data_key is not None
    assert original.shredded_at is None
    assert original.held_until is None  # no live reference holds it any more
    assert folder_backend.exists(original.blob_key)
    download = client.get(f"/files/{original.file_id}/download/")
    assert download.status_code == 200
    assert body_of(download) == content_of(4000)


def test_owner_deleting_the_original_withdraws_it_from_a_live_transfer(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    """The rule a hospital expects: the sender's deletion wins over a transfer still
    running. The trash withdraws the file (restoring brings it back); deleting it for
    good crypto-shreds it at once, for the recipients too."""
    client = client_signed_in(owner)
    original = version_store(
        actor=owner, folder=study_folder(owner), name="irm.dcm", content=content_of(4000)
    )
    kept = version_store(actor=owner, folder=root_of(owner), name="cr.pdf", content=b"compte")
    token = sent_to_recipient(
        client, new_transfer(client), [original.file, kept.file], django_capture_on_commit_callbacks
    )
    recipient = Client()
    assert recipient.get(f"/s/{token}/files/{original.file_id}/").status_code == 200

    files_services.file_delete(actor=owner, file=original.file)
    assert "irm.dcm" not in recipient.get(f"/s/{token}/").content.decode()
    assert recipient.get(f"/s/{token}/files/{original.file_id}/").status_code == 404
    files_services.file_restore(actor=owner, file=File.objects.get(pk=original.file_id))
    assert recipient.get(f"/s/{token}/files/{original.file_id}/").status_code == 200

    files_services.file_delete(actor=owner, file=File.objects.get(pk=original.file_id))
    with django_capture_on_commit_callbacks(execute=True):
        files_services.file_purge(actor=owner, file=File.objects.get(pk=original.file_id))
    lifecycle.shredded_blobs_delete()

    assert not folder_backend.exists(original.blob_key)
    assert not FileVersion.objects.filter(pk=original.pk, wrapped_data_key__isnull=False).exists()
    assert recipient.get(f"/s/{token}/files/{original.file_id}/").status_code == 404
    archive = zipfile.ZipFile(io.BytesIO(body_of(recipient.get(f"/s/{token}/archive/"))))
    assert archive.namelist() == ["cr.pdf"]


def test_shredding_after_the_last_reference_leaves_no_readable_blob(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_signed_in(owner)
    original = version_store(
        actor=owner, folder=study_folder(owner), name="irm.dcm", content=content_of(4000)
    )
    transfer = new_transfer(client, days=1)
    sent_to_recipient(client, transfer, [original.file], django_capture_on_commit_callbacks)
    with (
        time_machine.travel(timezone.now() + timedelta(days=1, minutes=5)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert tasks.transfers_expired_purge() == 1
    assert folder_backend.exists(original.blob_key)

    files_services.file_delete(actor=owner, file=original.file)
    with django_capture_on_commit_callbacks(execute=True):
        files_services.file_purge(actor=owner, file=File.objects.get(pk=original.file_id))
    lifecycle.shredded_blobs_delete()

    assert not folder_backend.exists(original.blob_key)
    assert not FileVersion.objects.filter(pk=original.pk).exists()
    assert blobs(folder_backend) == []


@override_settings(FILES_VERSION_KEEP_COUNT=1, FILES_VERSION_KEEP_DAYS=0)
def test_retention_keeps_a_sent_version_until_the_transfer_ends(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_signed_in(owner)
    folder = study_folder(owner)
    sent = version_store(actor=owner, folder=folder, name="irm.dcm", content=content_of(3000))
    transfer = new_transfer(client, days=1)
    token = sent_to_recipient(client, transfer, [sent.file], django_capture_on_commit_callbacks)
    newer = version_store(actor=owner, folder=folder, name="irm.dcm", content=b"v2")
    assert newer.file_id == sent.file_id

    assert lifecycle.versions_retention_apply() == 0
    download = Client().get(f"/s/{token}/files/{sent.file_id}/")
    assert body_of(download) == content_of(3000)

    with time_machine.travel(timezone.now() + timedelta(days=1, minutes=5)):
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.transfers_expired_purge() == 1
        assert lifecycle.versions_retention_apply() == 1
    sent.refresh_from_db()
    assert sent.shredded_at is not None


def test_a_download_of_a_copy_names_the_original_it_came_from(owner: User) -> None:
    """Copies made before (or by ``file_copy``) keep their lineage: the event names the
    copy and, as ``original``, the file and version it was copied from."""
    client = client_signed_in(owner)
    original = version_store(
        actor=owner, folder=study_folder(owner), name="irm.dcm", content=content_of(2000)
    )
    copy = files_services.file_copy(
        actor=owner, file=original.file, destination=root_of(owner), name="irm-copie.dcm"
    )
    assert client.get(f"/files/{copy.pk}/download/").status_code == 200

    event = actions(Action.FILES_VERSION_DOWNLOAD)[-1]
    assert event.details["file"] == copy.pk
    assert event.details["path"] == "/irm-copie.dcm"
    assert event.details["original"]["file"] == original.file_id
    assert event.details["original"]["version"] == str(original.pk)
    assert event.details["original"]["path"] == "/Études/IRM/irm.dcm"


def test_transfers_sent_as_copies_are_linked_to_their_originals(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    """Migration sharing/0003: an item sent as a re-encrypted copy (how transfers worked
    before) now points at its original, which the audit then names; an item whose
    original is gone keeps its copy."""
    from django.apps import apps

    migration = importlib.import_module(
        "sharing.migrations.0003_transfer_items_reference_originals"
    )
    client = client_signed_in(owner)
    folder = study_folder(owner)
    original = version_store(actor=owner, folder=folder, name="irm.dcm", content=content_of(2000))
    lost = version_store(actor=owner, folder=folder, name="lost.pdf", content=b"gone soon")
    transfer = new_transfer(client)
    assert transfer.folder is not None
    copies = [
        files_services.file_copy(actor=owner, file=version.file, destination=transfer.folder)
        for version in (original, lost)
    ]
    with django_capture_on_commit_callbacks(execute=True):
        assert send(client, transfer, "dr.radio@clinique.example").status_code == 302
    assert sorted(transfer.items.values_list("file_id", flat=True)) == [c.pk for c in copies]
    files_services.file_delete(actor=owner, file=lost.file)
    files_services.file_purge(actor=owner, file=File.objects.get(pk=lost.file_id))

    migration.items_link_to_originals(apps, None)

    by_name = {item.path: item for item in transfer.items.all()}
    assert (by_name["irm.dcm"].file_id, by_name["irm.dcm"].version_id) == (
        original.file_id,
        original.pk,
    )
    assert by_name["lost.pdf"].file_id == copies[1].pk
    original.refresh_from_db()
    assert original.held_until == transfer.expires_at
    token = token_in(mail.outbox[-1])
    download = Client().get(f"/s/{token}/files/{original.file_id}/")
    assert body_of(download) == content_of(2000)
    assert actions(Action.SHARING_LINK_DOWNLOAD)[-1].details["path"] == "/Études/IRM/irm.dcm"


def test_receipts_counters_and_the_audit_trail_count_the_same_downloads(
    owner: User, auditor: User, django_capture_on_commit_callbacks: Any
) -> None:
    """Issue #14: the radiologist took the study once alone and three times in the
    transfer's ZIP. The sender's receipts were one "everything, as a ZIP" row for the
    three and "My links" said 2. Now: four receipts, four counted, four rows in the
    auditor's history of the file, each with its bytes."""
    client = client_signed_in(owner)
    original = version_store(
        actor=owner, folder=study_folder(owner), name="irm.dcm", content=content_of(5000)
    )
    transfer = new_transfer(client)
    token = sent_to_recipient(client, transfer, [original.file], django_capture_on_commit_callbacks)
    recipient = Client()
    assert body_of(recipient.get(f"/s/{token}/files/{original.file_id}/")) == content_of(5000)
    zips = [body_of(recipient.get(f"/s/{token}/archive/")) for _ in range(3)]

    link = transfer.links.get()
    assert link.download_count == 4
    receipts = list(link.downloads.order_by("pk"))
    assert [(receipt.is_archive, receipt.bytes_sent) for receipt in receipts] == [
        (False, 5000),
        *[(True, len(data)) for data in zips],
    ]
    page = client.get(f"/sharing/transfers/{transfer.pk}/").content.decode()
    assert page.count("everything, as a ZIP") == 3
    links_page = client.get("/sharing/links/").content.decode()
    assert re.search(r"<td class=\"small\">\s*4\b", links_page), "My links counts 4"

    history = client_signed_in(auditor).get("/audit/file/", {"item": f"file:{original.file_id}"})
    downloads = [row for row in history.context["rows"] if row.event.action.endswith("download")]
    assert [(row.who, row.bytes_sent, row.completed) for row in downloads] == [
        ("dr.radio@clinique.example", 5000, True)
    ] * 4
