"""E-mails to people outside carry no patient data (issue #15, item 11).

A transfer's subject and message, and its files' names, often name a patient: the
e-mail a radiologist outside receives names only the sender and the organisation; what
it is about is shown on the page the link opens. The sender picks the recipient's
language (the site's by default). Read from a real SMTP server (tests/smtp_server.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings
from django.utils import timezone

from accounts.models import User
from sharing.services import transfers
from tests.files_helpers import root_of, version_store
from tests.helpers import client_signed_in, expiry_fields
from tests.smtp_server import SmtpServer

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("folder_backend")]

RADIOLOGIST = "dr.radio@clinique.example"
SUBJECT = "Échographie Jeanne Dupont"
MESSAGE = "Suspicion de thrombose, merci de relire avant jeudi."
FILE_NAME = "Dupont_Jeanne_echo.pdf"


def english(client: Client) -> Client:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.mark.usefixtures("transfers_without_code")
@override_settings(ORGANISATION_NAME="Hôpital Nord")
def test_a_transfer_e_mail_names_only_the_sender_and_the_organisation_in_the_chosen_language(
    owner: User, smtp_server: SmtpServer, django_capture_on_commit_callbacks: object
) -> None:
    transfer = transfers.transfer_create(
        actor=owner,
        subject=SUBJECT,
        message=MESSAGE,
        expires_at=timezone.now() + dt.timedelta(days=7),
    )
    version = version_store(actor=owner, folder=root_of(owner), name=FILE_NAME, content=b"%PDF")
    transfers.transfer_files_add(actor=owner, transfer=transfer, files=[version.file])
    clinician = english(client_signed_in(owner))  # she reads SecureDrive in English
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        response = clinician.post(
            f"/sharing/transfers/{transfer.pk}/send/",
            {"recipients": RADIOLOGIST, "recipient_language": "fr"},
        )
    assert response.status_code == 302

    received = smtp_server.only_message()
    assert received.rcpt_tos == [RADIOLOGIST]
    everything = " ".join([received["Subject"], received.text(), received.html()])
    for private in ("Jeanne", "Dupont", "thrombose", "Échographie"):
        assert private not in everything, private
    assert received["Subject"] == "Alice Martin vous a envoyé des fichiers via SecureDrive"
    assert "de Hôpital Nord, vous a envoyé des fichiers" in received.text()
    assert '<html lang="fr">' in received.html()
    assert "1 fichier, " in received.text()

    # What it is about is on the page the link opens.
    page = Client().get(received.url("/s/").removeprefix(settings.SITE_URL))
    assert SUBJECT in page.content.decode()
    assert MESSAGE in page.content.decode()


def test_a_transfer_e_mail_is_in_the_sites_language_unless_the_sender_chooses(
    owner: User, smtp_server: SmtpServer, django_capture_on_commit_callbacks: object
) -> None:
    transfer = transfers.transfer_create(
        actor=owner, subject=SUBJECT, expires_at=timezone.now() + dt.timedelta(days=7)
    )
    version = version_store(actor=owner, folder=root_of(owner), name=FILE_NAME, content=b"%PDF")
    transfers.transfer_files_add(actor=owner, transfer=transfer, files=[version.file])
    clinician = client_signed_in(owner)
    clinician.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"  # she reads it in French
    form = clinician.get(f"/sharing/transfers/{transfer.pk}/").content.decode()
    assert 'name="recipient_language"' in form
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        clinician.post(f"/sharing/transfers/{transfer.pk}/send/", {"recipients": RADIOLOGIST})

    received = smtp_server.only_message()
    assert received["Subject"] == "Alice Martin sent you files through SecureDrive"
    assert '<html lang="en">' in received.html()
    assert SUBJECT not in received.text()


def test_a_link_e_mailed_from_an_english_page_goes_out_in_french_when_asked(
    owner: User, smtp_server: SmtpServer, django_capture_on_commit_callbacks: object
) -> None:
    version = version_store(actor=owner, folder=root_of(owner), name=FILE_NAME, content=b"%PDF")
    clinician = english(client_signed_in(owner))
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        response = clinician.post(
            f"/sharing/files/{version.file_id}/links/",
            {
                **expiry_fields(7),
                "recipient_email": RADIOLOGIST,
                "send_email": "on",
                "recipient_language": "fr",
                "label": "Jeanne Dupont",
            },
        )
    assert response.status_code == 200, response.content.decode()[:2000]

    received = smtp_server.only_message()
    everything = " ".join([received["Subject"], received.text(), received.html()])
    assert "Dupont" not in everything
    assert '<html lang="fr">' in received.html()
    assert "a partagé des fichiers" in received.text()


@pytest.mark.usefixtures("transfers_without_code")
def test_the_senders_first_download_notice_keeps_the_patient_out_of_its_subject(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    """The subject is what a phone's lock screen, a mail server's log and a shared
    mailbox's list show: it says that something was downloaded, the body says what."""
    from django.core import mail

    transfer = transfers.transfer_create(
        actor=owner, subject=SUBJECT, expires_at=timezone.now() + dt.timedelta(days=2)
    )
    assert transfer.folder is not None
    version_store(actor=owner, folder=transfer.folder, name=FILE_NAME, content=b"%PDF-1.4 x")
    [sent] = transfers.transfer_send(actor=owner, transfer=transfer, recipients=[RADIOLOGIST])
    recipient = Client()
    assert recipient.get(f"/s/{sent.token}/").status_code == 200
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert recipient.get(f"/s/{sent.token}/archive/").status_code == 200
    [notice] = mail.outbox
    assert notice.to == [owner.email]
    assert "Dupont" not in notice.subject
    assert notice.subject == "Your shared item was downloaded"
    assert SUBJECT in notice.body  # the sender's own mailbox learns which transfer
