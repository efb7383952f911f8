"""E-mails reach each person in the language they read SecureDrive in, even when they
are sent later, from a background task or from someone else's request."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client

from accounts import tokens as account_tokens
from accounts.models import User
from sharing.services.links import share_link_create
from tests.files_helpers import body_of
from tests.helpers import client_password_only, client_signed_in
from tests.test_sharing_links import file_url, open_url, shared_file

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("folder_backend")]


def test_the_language_a_person_reads_in_is_remembered(owner: User) -> None:
    assert owner.language == ""
    assert owner.email_language == settings.LANGUAGE_CODE
    client = client_signed_in(owner)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    assert client.get("/").status_code == 200
    owner.refresh_from_db()
    assert owner.email_language == "fr"
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    client.get("/")
    owner.refresh_from_db()
    assert owner.language == "en"
    Client(HTTP_ACCEPT_LANGUAGE="fr").get("/")  # nobody signed in: nothing to remember
    owner.refresh_from_db()
    assert owner.language == "en"


def test_a_script_with_a_token_does_not_change_the_persons_language(owner: User) -> None:
    User.objects.filter(pk=owner.pk).update(language="fr")
    _token, secret = account_tokens.token_create(
        actor=owner, name="PACS", scopes=["read"], expires_in_days=30
    )
    script = Client(HTTP_AUTHORIZATION=f"Bearer {secret}", HTTP_ACCEPT_LANGUAGE="en")
    assert script.get("/api/v1/me/").status_code == 200
    owner.refresh_from_db()
    assert owner.language == "fr"


def test_the_first_download_notice_is_in_the_owners_language_not_the_recipients(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    User.objects.filter(pk=owner.pk).update(language="fr")
    version = shared_file(owner)
    _link, token = share_link_create(actor=owner, target=version.file)
    recipient = Client(HTTP_ACCEPT_LANGUAGE="en")
    recipient.get(open_url(token))
    with django_capture_on_commit_callbacks(execute=True):
        body_of(recipient.get(file_url(token, version.file)))
    (notice,) = [message for message in mail.outbox if message.to == [owner.email]]
    assert "a été téléchargé" in notice.subject, notice.subject
    assert "IRM genou.dcm" not in notice.subject  # a patient's name on lock screens
    assert "IRM genou.dcm" in notice.body


def test_a_password_alone_does_not_choose_the_language_of_the_persons_notices(
    owner: User,
) -> None:
    """Alice reads SecureDrive in French. A thief who has only her password signs in
    from an English browser: the e-mails telling Alice what is happening to her account
    must stay in her language, not the thief's."""
    alice = client_signed_in(owner)
    alice.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    assert alice.get("/").status_code == 200
    owner.refresh_from_db()
    assert owner.email_language == "fr"

    thief = client_password_only(owner, remote_addr="10.66.0.1")
    thief.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert thief.get("/accounts/mfa/verify/", HTTP_ACCEPT_LANGUAGE="en").status_code == 200
    thief.get("/", HTTP_ACCEPT_LANGUAGE="en")
    owner.refresh_from_db()
    assert owner.email_language == "fr"
