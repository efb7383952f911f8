"""The owner's "first download" e-mail is a courtesy to the owner: it must never cost
the recipient their download. With the mail server down, or a subject the mail library
refuses, the recipient used to get a 500 while the link's only download was counted
(a receipt of 0 bytes, the limit used up, nothing received)."""

from __future__ import annotations

import datetime as dt
import io
import socket
import zipfile
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from sharing.models import ShareLink, ShareLinkDownload, Transfer
from sharing.services.links import share_link_create
from sharing.services.transfers import transfer_create, transfer_send
from tests.files_helpers import Backend, body_of, content_of, root_of, version_store
from tests.helpers import client_signed_in, expiry_fields

# The e-mail leaves after commit: the request's transactions must really commit.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("rate_limit_cache")]


@pytest.fixture
def mail_server_down(settings: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port  # nothing listens there


def test_the_only_download_of_a_link_arrives_with_the_mail_server_down(
    owner: User, folder_backend: Backend, mail_server_down: None
) -> None:
    study = version_store(
        actor=owner, folder=root_of(owner), name="irm.dcm", content=content_of(3000)
    )
    link, token = share_link_create(actor=owner, target=study.file, max_downloads=1)
    recipient = Client(raise_request_exception=False)
    assert recipient.get(reverse("share_link:open", args=[token])).status_code == 200
    response = recipient.get(reverse("share_link:file", args=[token, study.file.pk]))
    assert response.status_code == 200
    assert body_of(response) == content_of(3000)
    link.refresh_from_db()
    assert link.download_count == 1
    assert ShareLinkDownload.objects.get(link=link).bytes_sent == 3000


@pytest.mark.usefixtures("transfers_without_code")
def test_a_transfer_subject_with_a_carriage_return_is_cleaned_and_its_zip_arrives(
    owner: User, folder_backend: Backend
) -> None:
    """A subject pasted from another program may hold a carriage return: it is kept on
    one line, so the owner's e-mail naming it can be sent and the recipient's ZIP is
    never refused because of it."""
    sender = client_signed_in(owner)
    created = sender.post(
        "/sharing/transfers/new/",
        {"subject": "IRM genou\rBcc: x@evil.example", "message": "", **expiry_fields(7)},
    )
    assert created.status_code == 302
    transfer = Transfer.objects.get()
    assert transfer.subject == "IRM genou Bcc: x@evil.example"
    assert transfer.folder is not None
    version_store(actor=owner, folder=transfer.folder, name="irm.dcm", content=content_of(2000))
    mail.outbox.clear()
    [sent] = transfer_send(actor=owner, transfer=transfer, recipients=["dr.b@clinique.example"])
    recipient = Client(raise_request_exception=False)
    assert recipient.get(reverse("share_link:open", args=[sent.token])).status_code == 200
    response = recipient.get(reverse("share_link:archive", args=[sent.token]))
    assert response.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(body_of(response))).namelist() == ["irm.dcm"]
    notices = [message for message in mail.outbox if message.to == [owner.email]]
    assert len(notices) == 1
    assert "\r" not in notices[0].subject
    assert "Bcc" not in notices[0].extra_headers


def test_a_subject_given_through_the_api_is_kept_on_one_line(owner: User) -> None:
    transfer = transfer_create(
        actor=owner,
        subject="Scanner\r\nthorax\u2028M. Dupont",
        message="Bonjour,\r\nvoici le scanner.",
        expires_at=timezone.now() + dt.timedelta(days=2),
    )
    assert transfer.subject == "Scanner thorax M. Dupont"
    # A no-break space (French: "Scanner\u00a0: thorax") is a space the sender meant.
    kept = transfer_create(
        actor=owner,
        subject="IRM\u00a0: genou\t gauche",
        message="",
        expires_at=timezone.now() + dt.timedelta(days=2),
    )
    assert kept.subject == "IRM\u00a0: genou gauche"
    assert transfer.message == "Bonjour,\r\nvoici le scanner."  # a message keeps its lines
    assert ShareLink.objects.count() == 0


def test_a_code_that_cannot_be_e_mailed_is_said_so_and_does_not_block_the_next(
    owner: User, folder_backend: Backend, mail_server_down: None, settings: Any
) -> None:
    from audit.actions import Action
    from audit.models import AuditEvent

    study = version_store(
        actor=owner, folder=root_of(owner), name="irm.dcm", content=content_of(3000)
    )
    _link, token = share_link_create(
        actor=owner,
        target=study.file,
        recipient_email="dr.b@clinique.example",
        email_verification=True,
    )
    recipient = Client(raise_request_exception=False)
    url = reverse("share_link:open", args=[token])
    assert recipient.get(url).status_code == 200
    answer = recipient.post(url, {"action": "send_code"})
    assert answer.status_code == 200
    assert "could not be e-mailed" in answer.content.decode()
    event = AuditEvent.objects.filter(action=Action.SHARING_LINK_VERIFY).latest("sequence")
    assert event.details["outcome"] == "not sent"
    # The mail server is back: the recipient asks again at once and gets a code.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox.clear()
    again = recipient.post(url, {"action": "send_code"}, follow=True)
    assert "We sent a code" in again.content.decode()
    assert len(mail.outbox) == 1
