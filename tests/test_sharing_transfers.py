"""Transfers: a clinician sends a study to colleagues outside the hospital, each gets a
personal link by e-mail, the sender sees who downloaded what, and the files die on
their own at expiry (crypto-shredded), while the originals stay untouched."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts import tokens as account_tokens
from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from files.models import File, FileVersion, Folder, ScanStatus
from sharing import selectors, tasks
from sharing.models import ShareLink, ShareLinkDownload, SharingPolicy, Transfer
from sharing.services.transfers import transfer_send
from tests.files_helpers import body_of, content_of, root_of, version_store
from tests.helpers import CONFIRMED, client_signed_in, expiry_fields
from tests.smtp_server import SmtpServer

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "small_segments"),
]

LINK_PATTERN = re.compile(r"https?://[^\s\"<>]+/s/([A-Za-z0-9_-]{43})/")


def new_transfer(
    client: Client, subject: str = "IRM genou — Mme Durand", days: int = 7
) -> Transfer:
    response = client.post(
        "/sharing/transfers/new/",
        {"subject": subject, "message": "Bonjour, voici l'IRM.", **expiry_fields(days)},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    return Transfer.objects.latest("pk")


def add_upload(
    owner: User, transfer: Transfer, name: str, size: int = 3000, clean: bool = True
) -> File:
    assert transfer.folder is not None
    version = version_store(
        actor=owner,
        folder=transfer.folder,
        name=name,
        content=content_of(size, seed=name),
        clean=clean,
    )
    return version.file


def send(client: Client, transfer: Transfer, recipients: str, **extra: str) -> Any:
    return client.post(
        f"/sharing/transfers/{transfer.pk}/send/", {"recipients": recipients, **extra}
    )


def token_in(message: Any) -> str:
    found = LINK_PATTERN.search(message.body)
    assert found, message.body
    return found.group(1)


def actions(action: str, **filters: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("sequence"))


@pytest.mark.usefixtures("transfers_without_code")
def test_clinician_sends_a_transfer_and_each_recipient_gets_a_personal_link(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_signed_in(owner)
    original = version_store(
        actor=owner, folder=root_of(owner), name="compte-rendu.pdf", content=content_of(2000)
    ).file
    transfer = new_transfer(client)
    assert transfer.folder is not None
    assert transfer.folder.space.owner == owner
    assert transfer.folder.parent is not None
    assert transfer.folder.parent.name == "Transfers"
    add_upload(owner, transfer, "irm-genou.dcm", size=5000)
    picked = client.post(
        f"/sharing/transfers/{transfer.pk}/files/", {"file_ids": [str(original.pk)]}
    )
    assert picked.status_code == 302

    with django_capture_on_commit_callbacks(execute=True):
        response = send(client, transfer, "dr.radio@clinique.example\n\nDr.Second@Labo.example\n")
    assert response.status_code == 302, response.content.decode()[:3000]

    transfer.refresh_from_db()
    assert transfer.sent_at is not None
    links = list(ShareLink.objects.filter(transfer=transfer).order_by("recipient_email"))
    assert [link.recipient_email for link in links] == [
        "dr.radio@clinique.example",
        "dr.second@labo.example",
    ]
    assert all(link.expires_at == transfer.expires_at for link in links)
    assert sorted(message.to[0] for message in mail.outbox) == [
        "dr.radio@clinique.example",
        "dr.second@labo.example",
    ]
    message = mail.outbox[0]
    # Only the sender and how much: the subject, message and file names often name a
    # patient and stay on the page the link opens (issue #15).
    assert "Alice Martin" in message.subject
    assert "Alice Martin" in message.body
    assert "2 files, " in message.body
    html = message.alternatives[0][0]  # type: ignore[attr-defined]
    for private in ("IRM genou", "irm-genou.dcm", "compte-rendu.pdf", "voici l'IRM"):
        assert private not in f"{message.subject} {message.body} {html}"
    tokens = {token_in(item) for item in mail.outbox}
    assert len(tokens) == 2, "each recipient has their own link"
    # Only hashes are stored.
    assert not ShareLink.objects.filter(token_hash__in=tokens).exists()

    # The recipient downloads one file; the sender sees the receipt on the transfer page.
    token = token_in(next(m for m in mail.outbox if m.to == ["dr.radio@clinique.example"]))
    copy = File.objects.get(folder=transfer.folder, name="irm-genou.dcm")
    recipient = Client()
    assert recipient.get(f"/s/{token}/").status_code == 200
    download = recipient.get(f"/s/{token}/files/{copy.pk}/")
    assert download.status_code == 200
    assert body_of(download) == content_of(5000, seed="irm-genou.dcm")
    receipt = ShareLinkDownload.objects.get(link__transfer=transfer)
    assert receipt.recipient_email == "dr.radio@clinique.example"

    page = client.get(f"/sharing/transfers/{transfer.pk}/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "dr.radio@clinique.example" in text
    assert "dr.second@labo.example" in text
    assert "irm-genou.dcm" in text.split('id="transfer-recipients"')[1]
    assert "Not downloaded yet." in text

    created = actions(Action.SHARING_TRANSFER_CREATE)
    sent = actions(Action.SHARING_TRANSFER_SEND)
    assert created
    assert created[-1].actor_id == str(owner.pk)
    assert sent[-1].details["recipients"] == ["dr.radio@clinique.example", "dr.second@labo.example"]
    assert sent[-1].details["files"] == 2


def test_the_transfers_folder_is_named_in_the_senders_language(owner: User) -> None:
    User.objects.filter(pk=owner.pk).update(language="fr")
    client = client_signed_in(owner)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "fr"  # her browser's, remembered on each request
    transfer = new_transfer(client)
    assert transfer.folder is not None
    assert transfer.folder.parent is not None
    assert transfer.folder.parent.name == "Transferts"

    # A subject no folder name may hold: the day's folder is named in her language too.
    fallback = new_transfer(client, subject="Scanner\uff0fDupont")
    assert fallback.folder is not None
    assert fallback.folder.name == f"Transfert {timezone.localdate().isoformat()}"


def test_listing_shows_my_transfers_and_not_other_peoples(owner: User, outsider: User) -> None:
    mine = new_transfer(client_signed_in(owner), subject="Dossier Martin")
    theirs = new_transfer(client_signed_in(outsider), subject="Dossier secret")
    page = client_signed_in(owner).get("/sharing/transfers/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Dossier Martin" in text
    assert "Dossier secret" not in text
    assert client_signed_in(owner).get(f"/sharing/transfers/{theirs.pk}/").status_code == 404
    assert (
        client_signed_in(outsider)
        .post(f"/sharing/transfers/{mine.pk}/revoke/", CONFIRMED)
        .status_code
        == 404
    )
    assert actions(Action.SHARING_TRANSFER_ACCESS, outcome=Outcome.DENIED)


def test_recipients_must_be_valid_and_allowed_by_the_policy(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    policy = SharingPolicy.current()
    policy.allowed_recipient_domains = "chu-partenaire.example"
    policy.save()
    client = client_signed_in(owner)
    transfer = new_transfer(client)
    add_upload(owner, transfer, "scan.dcm")

    with django_capture_on_commit_callbacks(execute=True):
        bad = send(client, transfer, "ok@chu-partenaire.example\nnot an address\nx@gmail.example")
    assert bad.status_code == 400
    text = bad.content.decode()
    assert "not an address" in text or "“not”" in text
    assert "x@gmail.example" in text
    assert not ShareLink.objects.filter(transfer=transfer).exists()
    assert mail.outbox == []
    transfer.refresh_from_db()
    assert transfer.sent_at is None
    assert actions(Action.SHARING_TRANSFER_SEND, outcome=Outcome.DENIED)

    with django_capture_on_commit_callbacks(execute=True):
        good = send(client, transfer, "ok@chu-partenaire.example")
    assert good.status_code == 302
    assert [m.to for m in mail.outbox] == [["ok@chu-partenaire.example"]]


def test_expiry_is_capped_by_the_policy(owner: User) -> None:
    client = client_signed_in(owner)
    response = client.post("/sharing/transfers/new/", {"subject": "Trop long", **expiry_fields(31)})
    assert response.status_code == 400
    assert not Transfer.objects.exists()


def test_nothing_is_sent_without_files(owner: User) -> None:
    client = client_signed_in(owner)
    transfer = new_transfer(client)
    response = send(client, transfer, "dr.radio@clinique.example")
    assert response.status_code == 400
    assert "Add at least one file" in response.content.decode()


def test_policy_forbidding_sharing_outside_blocks_transfers(owner: User) -> None:
    policy = SharingPolicy.current()
    policy.external_sharing = "nobody"
    policy.save()
    client = client_signed_in(owner)
    response = client.post("/sharing/transfers/new/", {"subject": "X", **expiry_fields(3)})
    assert response.status_code == 400
    assert not Transfer.objects.exists()
    assert actions(Action.SHARING_TRANSFER_CREATE, outcome=Outcome.DENIED)


@pytest.mark.usefixtures("transfers_without_code")
def test_password_required_by_policy_is_enforced_and_recipient_needs_it(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    policy = SharingPolicy.current()
    policy.password_required = True
    policy.save()
    client = client_signed_in(owner)
    transfer = new_transfer(client)
    file = add_upload(owner, transfer, "scan.dcm")
    assert send(client, transfer, "dr.radio@clinique.example").status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        ok = send(client, transfer, "dr.radio@clinique.example", password="Genou-2026-irm")
    assert ok.status_code == 302
    assert "password" in mail.outbox[0].body
    assert "Genou-2026-irm" not in mail.outbox[0].body
    token = token_in(mail.outbox[0])
    recipient = Client()
    assert recipient.get(f"/s/{token}/files/{file.pk}/").status_code in {302, 403}
    assert (
        recipient.post(
            f"/s/{token}/", {"action": "password", "password": "Genou-2026-irm"}
        ).status_code
        == 302
    )
    assert recipient.get(f"/s/{token}/files/{file.pk}/").status_code == 200


@pytest.mark.usefixtures("transfers_without_code")
def test_files_not_yet_scanned_can_be_sent_but_not_downloaded(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_signed_in(owner)
    transfer = new_transfer(client)
    file = add_upload(owner, transfer, "fresh.dcm", clean=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert send(client, transfer, "dr.radio@clinique.example").status_code == 302
    token = token_in(mail.outbox[0])
    refused = Client().get(f"/s/{token}/files/{file.pk}/")
    assert refused.status_code == 409
    assert not ShareLinkDownload.objects.exists()


@pytest.mark.usefixtures("transfers_without_code")
def test_what_was_sent_is_what_recipients_get_whatever_the_folder_becomes(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    """After sending, a file dropped into the transfer's folder by mistake (another
    patient's letter) or a new version of a sent file never reaches the recipients."""
    client = client_signed_in(owner)
    transfer = new_transfer(client)
    sent_file = add_upload(owner, transfer, "irm.dcm", size=4000)
    with django_capture_on_commit_callbacks(execute=True):
        assert send(client, transfer, "dr.radio@clinique.example").status_code == 302
    token = token_in(mail.outbox[0])
    assert transfer.folder is not None
    mistake = version_store(
        actor=owner,
        folder=transfer.folder,
        name="autre-patient.pdf",
        content=content_of(1000, seed="autre"),
    ).file
    version_store(
        actor=owner, folder=transfer.folder, name="irm.dcm", content=content_of(4500, seed="v2")
    )

    recipient = Client()
    page = recipient.get(f"/s/{token}/").content.decode()
    assert "irm.dcm" in page
    assert "autre-patient.pdf" not in page
    assert recipient.get(f"/s/{token}/files/{mistake.pk}/").status_code == 404
    download = recipient.get(f"/s/{token}/files/{sent_file.pk}/")
    assert body_of(download) == content_of(4000, seed="irm.dcm")
    archive = zipfile.ZipFile(io.BytesIO(body_of(recipient.get(f"/s/{token}/archive/"))))
    assert archive.namelist() == ["irm.dcm"]
    assert archive.read("irm.dcm") == content_of(4000, seed="irm.dcm")
    sender_page = client.get(f"/sharing/transfers/{transfer.pk}/").content.decode()
    assert "autre-patient.pdf" not in sender_page


@pytest.mark.usefixtures("transfers_without_code")
def test_sender_revokes_one_recipient_and_the_others_keep_their_link(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_signed_in(owner)
    transfer = new_transfer(client)
    file = add_upload(owner, transfer, "scan.dcm")
    with django_capture_on_commit_callbacks(execute=True):
        send(client, transfer, "a@clinique.example\nb@clinique.example")
    by_recipient = {message.to[0]: token_in(message) for message in mail.outbox}
    link_a = ShareLink.objects.get(transfer=transfer, recipient_email="a@clinique.example")

    response = client.post(
        f"/sharing/transfers/{transfer.pk}/recipients/{link_a.pk}/revoke/", CONFIRMED
    )
    assert response.status_code == 302
    assert Client().get(f"/s/{by_recipient['a@clinique.example']}/").status_code == 410
    assert Client().get(f"/s/{by_recipient['b@clinique.example']}/").status_code == 200
    assert (
        Client().get(f"/s/{by_recipient['b@clinique.example']}/files/{file.pk}/").status_code == 200
    )
    event = actions(Action.SHARING_TRANSFER_REVOKE)[-1]
    assert event.details["recipient"] == "a@clinique.example"

    # The whole transfer: every link answers 410 at once.
    assert client.post(f"/sharing/transfers/{transfer.pk}/revoke/", CONFIRMED).status_code == 302
    assert Client().get(f"/s/{by_recipient['b@clinique.example']}/").status_code == 410
    transfer.refresh_from_db()
    assert transfer.revoked_at is not None
    assert selectors.transfer_status(transfer) == "revoked"


def test_expired_transfer_is_purged_by_the_beat_task_and_originals_stay(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_signed_in(owner)
    original_version = version_store(
        actor=owner, folder=root_of(owner), name="original.pdf", content=content_of(4000, seed="o")
    )
    original = original_version.file
    transfer = new_transfer(client, days=1)
    uploaded = add_upload(owner, transfer, "upload.dcm")
    client.post(f"/sharing/transfers/{transfer.pk}/files/", {"file_ids": [str(original.pk)]})
    with django_capture_on_commit_callbacks(execute=True):
        send(client, transfer, "dr.radio@clinique.example")
    token = token_in(mail.outbox[0])
    # The picked file is referenced, not copied into the transfer's folder.
    assert not File.objects.filter(folder=transfer.folder, name="original.pdf").exists()
    uploaded_version_ids = list(
        FileVersion.objects.filter(file=uploaded).values_list("pk", flat=True)
    )

    # Not yet due: nothing happens.
    assert tasks.transfers_expired_purge() == 0

    with time_machine.travel(timezone.now() + timedelta(days=1, minutes=5)):
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.transfers_expired_purge() == 1
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.transfers_expired_purge() == 0  # idempotent

    transfer.refresh_from_db()
    assert transfer.purged_at is not None
    assert ShareLink.objects.filter(transfer=transfer, revoked_at__isnull=True).count() == 0
    # Crypto-shredded: no data key, and (after the blob task) no version rows at all.
    assert not FileVersion.objects.filter(
        pk__in=uploaded_version_ids, wrapped_data_key__isnull=False
    ).exists()
    assert Folder.objects.filter(pk=transfer.folder_id or 0, purged_at__isnull=True).count() == 0
    # The original is untouched and still downloadable by its owner.
    original_version.refresh_from_db()
    assert original_version.wrapped_data_key is not None
    download = client.get(f"/files/{original.pk}/download/")
    assert download.status_code == 200
    assert body_of(download) == content_of(4000, seed="o")
    assert Client().get(f"/s/{token}/").status_code == 410
    purges = actions(Action.SHARING_TRANSFER_PURGE)
    assert len(purges) == 1
    assert purges[0].actor_label == "system"
    assert purges[0].details["versions_shredded"] == 1
    assert purges[0].details["originals_released"] == 1
    page = client.get(f"/sharing/transfers/{transfer.pk}/")
    assert "deleted for good" in page.content.decode()


def test_sender_can_delete_a_transfer_now(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_signed_in(owner)
    transfer = new_transfer(client)
    add_upload(owner, transfer, "scan.dcm")
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            client.post(f"/sharing/transfers/{transfer.pk}/delete/", CONFIRMED).status_code == 302
        )
    transfer.refresh_from_db()
    assert transfer.purged_at is not None
    assert transfer.revoked_at is not None
    assert actions(Action.SHARING_TRANSFER_PURGE)[-1].actor_id == str(owner.pk)


def test_transfer_through_the_api(owner: User, django_capture_on_commit_callbacks: Any) -> None:
    _token, plaintext = account_tokens.token_create(
        actor=owner, name="PACS gateway", scopes=["read", "write", "share"], expires_in_days=30
    )
    api = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    original = version_store(
        actor=owner, folder=root_of(owner), name="ct.dcm", content=content_of(1500)
    ).file
    created = api.post(
        "/api/v1/sharing/transfers/",
        {"subject": "Scanner thorax", "message": "Pour avis", "expires_in_days": 5},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    transfer_id = created.json()["id"]
    assert created.json()["status"] == "draft"
    added = api.post(
        f"/api/v1/sharing/transfers/{transfer_id}/files/",
        {"files": [original.pk]},
        content_type="application/json",
    )
    assert added.status_code == 200, added.content
    assert [item["name"] for item in added.json()["files"]] == ["ct.dcm"]
    with django_capture_on_commit_callbacks(execute=True):
        sent = api.post(
            f"/api/v1/sharing/transfers/{transfer_id}/send/",
            {"recipients": ["pneumo@chu.example"]},
            content_type="application/json",
        )
    assert sent.status_code == 200, sent.content
    body = sent.json()
    assert body["status"] == "sent"
    assert [item["email"] for item in body["recipients"]] == ["pneumo@chu.example"]
    assert "token" not in sent.content.decode().lower()
    assert len(mail.outbox) == 1
    again = api.post(
        f"/api/v1/sharing/transfers/{transfer_id}/send/",
        {"recipients": ["pneumo@chu.example"]},
        content_type="application/json",
    )
    assert again.status_code == 400
    revoked = api.post(f"/api/v1/sharing/transfers/{transfer_id}/revoke/")
    assert revoked.status_code == 200
    assert revoked.json()["recipients"][0]["status"] == "revoked"
    listed = api.get("/api/v1/sharing/transfers/")
    assert [item["id"] for item in listed.json()] == [transfer_id]


def test_api_hides_other_peoples_transfers(owner: User, outsider: User) -> None:
    transfer = new_transfer(client_signed_in(owner))
    _token, plaintext = account_tokens.token_create(
        actor=outsider, name="x", scopes=["read", "write", "share"], expires_in_days=30
    )
    api = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert api.get(f"/api/v1/sharing/transfers/{transfer.pk}/").status_code == 404
    assert api.post(f"/api/v1/sharing/transfers/{transfer.pk}/revoke/").status_code == 404


def test_unscanned_status_is_shown_to_the_sender(owner: User) -> None:
    client = client_signed_in(owner)
    transfer = new_transfer(client)
    add_upload(owner, transfer, "fresh.dcm", clean=False)
    page = client.get(f"/sharing/transfers/{transfer.pk}/")
    assert str(ScanStatus.PENDING.label) in page.content.decode()


def test_the_transfer_email_makes_a_real_smtp_round_trip_with_a_working_link(
    owner: User, smtp_server: SmtpServer, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_signed_in(owner)
    transfer = new_transfer(client, subject="Échographie — Mme Lefèvre")
    add_upload(owner, transfer, "écho.dcm", size=1200)
    with django_capture_on_commit_callbacks(execute=True):
        assert send(client, transfer, "helene@cabinet-imagerie.example").status_code == 302

    received = smtp_server.only_message()
    assert received.message.get_content_type() == "multipart/alternative"
    assert received.rcpt_tos == ["helene@cabinet-imagerie.example"]
    assert received["Subject"] == "Alice Martin sent you files through SecureDrive"
    assert received["Reply-To"] == owner.email
    assert "Lefèvre" not in received.text() + received.html()
    assert "écho.dcm" not in received.text() + received.html()
    url = received.url("/s/")
    assert url in received.html()
    path = url.split("://", 1)[1].split("/", 1)[1]
    assert Client().get(f"/{path}").status_code == 200


def test_email_verification_required_by_policy_applies_to_every_recipient(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    policy = SharingPolicy.current()
    policy.email_verification_required = True
    policy.save()
    client = client_signed_in(owner)
    transfer = new_transfer(client)
    file = add_upload(owner, transfer, "scan.dcm")
    with django_capture_on_commit_callbacks(execute=True):
        assert send(client, transfer, "a@clinique.example\nb@clinique.example").status_code == 302
    assert all(link.email_verification for link in ShareLink.objects.filter(transfer=transfer))
    assert "code" in mail.outbox[0].body
    token = token_in(mail.outbox[0])
    # Without the code from their mailbox, the recipient gets no file.
    assert Client().get(f"/s/{token}/files/{file.pk}/").status_code == 302


@pytest.mark.usefixtures("transfers_without_code")
def test_the_sender_sees_which_files_each_recipient_viewed_in_the_browser(owner: User) -> None:
    """A preview is an access too (and the only one a "view only" link allows): the
    sender's page says which recipient viewed which file, as it lists downloads."""
    client = client_signed_in(owner)
    transfer = new_transfer(client)
    report = add_upload(owner, transfer, "compte-rendu.txt", size=300)
    assert transfer.folder is not None
    FileVersion.objects.filter(file=report).update(content_type="text/plain")
    sent = {
        item.recipient: item
        for item in transfer_send(
            actor=owner,
            transfer=transfer,
            recipients=["dr.radio@clinique.example", "dr.second@labo.example"],
        )
    }
    recipient = Client()
    token = sent["dr.radio@clinique.example"].token
    assert recipient.get(f"/s/{token}/").status_code == 200
    assert recipient.get(f"/s/{token}/files/{report.pk}/preview/").status_code == 200

    page = client.get(f"/sharing/transfers/{transfer.pk}/").content.decode()
    radio = page.split('data-recipient="dr.radio@clinique.example"')[1].split("</li>")[0]
    second = page.split('data-recipient="dr.second@labo.example"')[1].split("</li>")[0]
    assert "Viewed in the browser" in radio
    assert "compte-rendu.txt" in radio
    assert "Viewed in the browser" not in second
