"""People are told by e-mail when the ways into their account change (OWASP ASVS 5.0
V6.3.7): a sign-in device added or removed, new recovery codes, a recovery code used, a
new password. A thief who got a few minutes in a fresh session (or a password and one
phished code) and added their own passkey would otherwise keep a way in that the
clinician never hears about.

Real devices and codes (pyotp from the device's own secret); e-mails as Django's mail
backend received them, after the change committed.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core import mail
from django.test import Client
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import mfa, services
from accounts.models import User
from accounts.totp import AuthenticatorApp
from directory.tokens import directory_token_create
from tests.conftest import PASSWORD, user_create
from tests.helpers import client_password_only, client_signed_in, totp_code

pytestmark = pytest.mark.django_db

TOTP_ADD = "/accounts/mfa/setup/authenticator-app/"


def only_mail_to(user: User) -> Any:
    assert [message.to for message in mail.outbox] == [[user.email]], [
        message.subject for message in mail.outbox
    ]
    return mail.outbox[0]


def test_a_device_added_in_her_session_is_told_to_the_clinician(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    browser = client_signed_in(owner, user_agent="Firefox/140 (ward PC)")
    browser.get(TOTP_ADD, REMOTE_ADDR="10.1.2.3")
    pending = AuthenticatorApp.objects.get(user=owner, confirmed=False)
    with django_capture_on_commit_callbacks(execute=True):
        added = browser.post(
            TOTP_ADD, {"code": totp_code(pending), "name": "Pixel 6"}, REMOTE_ADDR="10.1.2.3"
        )
    assert added.status_code == 200  # her first recovery codes, shown once
    assert AuthenticatorApp.objects.get(pk=pending.pk).confirmed

    notice = only_mail_to(owner)
    assert notice.subject == "Your SecureDrive sign-in methods changed"
    assert "An authenticator app “Pixel 6” was added as a way to sign in." in notice.body
    assert "10.1.2.3" in notice.body
    assert "Firefox/140 (ward PC)" in notice.body
    assert "If this was not you" in notice.body
    assert "/accounts/sessions/" in notice.body

    # Removing it is told too; a refused removal (the last one) changes nothing.
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(f"/accounts/security/totp/{pending.pk}/remove/")
    assert "An authenticator app “Pixel 6” was removed" in only_mail_to(owner).body
    mail.outbox.clear()
    last = AuthenticatorApp.objects.get(user=owner)
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(f"/accounts/security/totp/{last.pk}/remove/")
    assert mail.outbox == []


def test_new_recovery_codes_and_a_recovery_code_sign_in_are_told(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    mfa.recovery_codes_generate(actor=owner)
    browser = client_signed_in(owner)
    with django_capture_on_commit_callbacks(execute=True):
        page = browser.post("/accounts/security/recovery-codes/")
    codes = re.findall(r">([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})<", page.text)
    assert len(codes) == 10
    notice = only_mail_to(owner)
    assert "New recovery codes were made; the previous ones no longer work." in notice.body
    assert codes[0] not in notice.body  # never the codes themselves

    mail.outbox.clear()
    someone = client_password_only(owner)
    with django_capture_on_commit_callbacks(execute=True):
        someone.post("/accounts/mfa/verify/recovery-code/", {"code": codes[0]})
    notice = only_mail_to(owner)
    assert "A recovery code was used to sign in. 9 codes are left." in notice.body
    assert codes[0] not in notice.body


def test_a_new_password_is_told_to_the_person(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    uid = urlsafe_base64_encode(force_bytes(owner.pk))
    link = f"/accounts/setup/{uid}/{default_token_generator.make_token(owner)}/"
    browser = Client()
    form_url = browser.get(link, follow=True).redirect_chain[-1][0]
    new_password = "a brand new ward passphrase 2026"
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(form_url, {"new_password1": new_password, "new_password2": new_password})
    assert "A new password was set." in only_mail_to(owner).body


def test_a_first_password_set_in_french_is_told_in_french(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    """The first administrator (or anyone set up by link) has no language yet: the page
    she sets her password on, in French, is the first word of hers SecureDrive gets."""
    User.objects.filter(pk=owner.pk).update(language="")
    uid = urlsafe_base64_encode(force_bytes(owner.pk))
    link = f"/accounts/setup/{uid}/{default_token_generator.make_token(owner)}/"
    browser = Client(headers={"accept-language": "fr-FR,fr;q=0.9"})
    form_url = browser.get(link, follow=True).redirect_chain[-1][0]
    new_password = "une toute nouvelle phrase de passe 2026"
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(form_url, {"new_password1": new_password, "new_password2": new_password})
    notice = only_mail_to(owner)
    assert notice.subject == "Vos moyens de connexion à SecureDrive ont changé"
    assert User.objects.get(pk=owner.pk).language == "fr"


def test_the_notice_is_written_in_the_persons_language(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    browser = client_signed_in(owner)
    browser.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"  # she reads SecureDrive in French
    with django_capture_on_commit_callbacks(execute=True):
        browser.post("/accounts/security/recovery-codes/")
    notice = only_mail_to(owner)
    assert notice.subject == "Vos moyens de connexion à SecureDrive ont changé"
    assert "De nouveaux codes de secours ont été créés" in notice.body
    assert "Si ce n’était pas vous" in notice.body  # noqa: RUF001  (French apostrophe)


def test_the_former_address_is_told_when_the_directory_moves_the_account_elsewhere(
    owner: User, site_admin: User, django_capture_on_commit_callbacks: Any
) -> None:
    """Set-up links and these notices go to the account's address: a directory token
    (stolen, or a mistake) that moves it to another mailbox moves the way back into the
    account. The person hears of it at the address they had."""
    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    directory = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    former = owner.email
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {
                "op": "replace",
                "path": "emails",
                "value": [{"value": "a.martin@elsewhere.example", "type": "work", "primary": True}],
            }
        ],
    }
    with django_capture_on_commit_callbacks(execute=True):
        moved = directory.patch(
            f"/scim/v2/Users/{owner.pk}", json.dumps(body), content_type="application/scim+json"
        )
    assert moved.status_code == 200, moved.content
    [notice] = [message for message in mail.outbox if message.to == [former]]
    assert "a.martin@elsewhere.example" in notice.body
    assert "Entra ID" in notice.body
    # A change that leaves the address alone tells nobody.
    mail.outbox.clear()
    rename = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Alice Martin-Leroy"}],
    }
    with django_capture_on_commit_callbacks(execute=True):
        directory.patch(
            f"/scim/v2/Users/{owner.pk}", json.dumps(rename), content_type="application/scim+json"
        )
    assert mail.outbox == []


def test_the_new_sign_in_notice_shows_the_browser_as_it_is_not_html_escaped(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    """A plain-text e-mail: "&quot;" and "&amp;" would only puzzle the person checking
    whether the browser named is theirs."""
    for user_agent in ("Firefox/140 (office PC)", 'Edge/140 ("Ward 3" & co)'):
        with django_capture_on_commit_callbacks(execute=True):
            Client(HTTP_USER_AGENT=user_agent).post(
                "/accounts/login/", {"username": owner.email, "password": PASSWORD}
            )
    [notice] = mail.outbox  # the first sign-in of an account is not notified
    assert 'Edge/140 ("Ward 3" & co)' in notice.body


def test_a_set_up_link_names_the_administrator_as_they_are_called(
    site_admin: User, django_capture_on_commit_callbacks: Any
) -> None:
    User.objects.filter(pk=site_admin.pk).update(full_name="Anne D'Arcy")
    site_admin.refresh_from_db()
    nora = user_create("nora.petit@hopital.example", full_name="Nora Petit")
    nora.set_unusable_password()
    nora.save(update_fields=["password"])
    with django_capture_on_commit_callbacks(execute=True):
        services.setup_link_send(actor=site_admin, user=nora)
    [link_mail] = mail.outbox
    assert "Anne D'Arcy reactivated your SecureDrive account." in link_mail.body
