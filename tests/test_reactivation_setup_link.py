"""A reactivated account comes back without its old password: the person chooses a new
one through a single-use, expiring set-up link that the administrator who reactivates
sends to their address (accounts/offboarding.py ``user_reactivate``,
accounts/services.py ``setup_link_send``).

The people: Olivia, who left and comes back; Sam, the site administrator. Whoever knew
Olivia's old password (a colleague, a phisher) must not be the first to sign in and
enrol a second factor.
"""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from accounts import offboarding
from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from sso.models import ExternalIdentity
from tests.conftest import PASSWORD
from tests.helpers import CONFIRMED, client_signed_in, client_signed_in_long_ago

# Committed for real: the e-mail leaves after the commit (transaction.on_commit).
pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "a brand new and long passphrase 7"


def password_sign_in(email: str, password: str) -> int:
    return Client().post("/accounts/login/", {"username": email, "password": password}).status_code


def reactivate(admin: User, person: User, **fields: str) -> Client:
    client = client_signed_in(admin)
    url = f"/accounts/admin/users/{person.pk}/reactivate/"
    asked = client.post(url, fields)
    assert asked.status_code == 200  # the confirmation page: nothing done yet
    person.refresh_from_db()
    assert not person.is_active
    done = client.post(url, {**fields, **CONFIRMED})
    assert done.status_code == 302
    person.refresh_from_db()
    assert person.is_active
    return client


def emailed_setup_link(person: User) -> str:
    sent = [message for message in mail.outbox if message.to == [person.email]]
    assert len(sent) == 1
    found = re.search(r"https?://\S+(/accounts/setup/\S+/\S+/)", str(sent[0].body))
    assert found is not None
    return found.group(1)


def test_the_old_password_does_not_open_a_reactivated_account(
    site_admin: User, owner: User
) -> None:
    assert password_sign_in(owner.email, PASSWORD) == 302
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)
    offboarding.user_reactivate(actor=site_admin, user=owner)
    assert password_sign_in(owner.email, PASSWORD) == 200  # the form again, refused
    owner.refresh_from_db()
    assert not owner.has_usable_password()


def test_the_person_comes_back_through_the_emailed_link_once(site_admin: User, owner: User) -> None:
    owner.language = "fr"
    owner.save(update_fields=["language"])
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)
    mail.outbox.clear()
    admin = client_signed_in(site_admin)
    asked = admin.post(f"/accounts/admin/users/{owner.pk}/reactivate/", {"send_setup_link": "yes"})
    assert owner.email.encode() in asked.content  # the confirmation says where the link goes
    admin.post(
        f"/accounts/admin/users/{owner.pk}/reactivate/", {"send_setup_link": "yes", **CONFIRMED}
    )
    link = emailed_setup_link(owner)
    message = mail.outbox[-1]
    assert "mot de passe" in str(message.subject)  # Olivia reads French
    assert site_admin.get_full_name() in str(message.body)
    page = admin.get(f"/accounts/admin/users/{owner.pk}/")
    assert "Set-up link sent" in page.content.decode()
    sent = AuditEvent.objects.get(action=Action.ACCOUNTS_SETUP_LINK_SEND)
    assert sent.actor_id == str(site_admin.pk)
    assert sent.details["email"] == owner.email
    assert password_sign_in(owner.email, PASSWORD) == 200

    browser = Client()
    opened = browser.get(link, follow=True)
    assert b'name="new_password1"' in opened.content
    form_url = opened.redirect_chain[-1][0]
    chosen = browser.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert chosen.status_code == 302
    assert password_sign_in(owner.email, NEW_PASSWORD) == 302
    assert password_sign_in(owner.email, PASSWORD) == 200
    # Used: the link and the page's "pending" are gone.
    again = Client().get(link, follow=True)
    assert b'name="new_password1"' not in again.content
    page = admin.get(f"/accounts/admin/users/{owner.pk}/")
    assert "Set-up link sent" not in page.content.decode()


def test_a_new_link_replaces_the_one_sent_before(site_admin: User, owner: User) -> None:
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)
    reactivate(site_admin, owner, send_setup_link="yes")
    first = emailed_setup_link(owner)
    mail.outbox.clear()
    resent = client_signed_in(site_admin).post(
        f"/accounts/admin/users/{owner.pk}/setup-link/", CONFIRMED
    )
    assert resent.status_code == 302
    second = emailed_setup_link(owner)
    assert first != second
    assert b'name="new_password1"' not in Client().get(first, follow=True).content
    assert b'name="new_password1"' in Client().get(second, follow=True).content


def test_the_next_offboarding_revokes_a_pending_link(site_admin: User, owner: User) -> None:
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)
    reactivate(site_admin, owner, send_setup_link="yes")
    link = emailed_setup_link(owner)
    plan = offboarding.offboarding_plan(user=owner, successor=None)
    assert {"key": "setup_link_revoked", "count": 1} in plan.lines()
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)
    event = AuditEvent.objects.filter(action=Action.ACCOUNTS_USER_DEACTIVATE).latest("pk")
    assert event.details["setup_link_revoked"] is True
    # Not even after the account comes back without a new link.
    offboarding.user_reactivate(actor=site_admin, user=owner)
    browser = Client()
    opened = browser.get(link, follow=True)
    assert b'name="new_password1"' not in opened.content
    owner.refresh_from_db()
    assert not owner.has_usable_password()


def test_reactivating_without_a_link_leaves_no_way_in_until_one_is_sent(
    site_admin: User, owner: User
) -> None:
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)
    mail.outbox.clear()
    reactivate(site_admin, owner)
    assert not [message for message in mail.outbox if message.to == [owner.email]]
    assert password_sign_in(owner.email, PASSWORD) == 200
    page = client_signed_in(site_admin).get(f"/accounts/admin/users/{owner.pk}/")
    assert "Send a set-up link" in page.content.decode()


def test_no_set_up_link_for_a_person_who_has_a_password(site_admin: User, owner: User) -> None:
    mail.outbox.clear()
    answer = client_signed_in(site_admin).post(
        f"/accounts/admin/users/{owner.pk}/setup-link/", CONFIRMED
    )
    assert answer.status_code == 302
    assert not mail.outbox
    assert password_sign_in(owner.email, PASSWORD) == 302
    refused = AuditEvent.objects.get(action=Action.ACCOUNTS_SETUP_LINK_SEND)
    assert refused.outcome == Outcome.DENIED
    assert refused.details["reason"] == "has a password"


def test_a_stale_administrator_session_cannot_send_a_link(site_admin: User, owner: User) -> None:
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)
    offboarding.user_reactivate(actor=site_admin, user=owner)
    mail.outbox.clear()
    answer = client_signed_in_long_ago(site_admin).post(
        f"/accounts/admin/users/{owner.pk}/setup-link/", CONFIRMED
    )
    assert answer.status_code == 302
    assert "/accounts/security/confirm/" in answer["Location"]
    assert not mail.outbox


# --- Someone who signs in through the identity provider -----------------------------


def provider_only_person() -> User:
    """Noor signs in only through the hospital's identity provider: no password here."""
    noor = User.objects.create_user("noor.provider@hopital.example", None, full_name="Noor Haddad")
    ExternalIdentity.objects.create(
        user=noor,
        name="Hospital provider",
        confirmed=True,
        provider="test",
        issuer="https://idp.hopital.example",
        subject="noor-0001",
    )
    return noor


def test_no_set_up_link_for_someone_who_signs_in_through_the_provider(
    site_admin: User,
) -> None:
    noor = provider_only_person()
    offboarding.user_deactivate(actor=site_admin, user=noor, successor=None)
    admin = client_signed_in(site_admin)
    page = admin.get(f"/accounts/admin/users/{noor.pk}/").content.decode()
    # Not offered (it is ticked by default for everyone else), and the page says why.
    assert 'name="send_setup_link"' not in page
    assert "identity provider" in page

    # A crafted request asking for it anyway: refused before anything changes.
    mail.outbox.clear()
    url = f"/accounts/admin/users/{noor.pk}/reactivate/"
    forced = admin.post(url, {"send_setup_link": "yes", **CONFIRMED})
    assert forced.status_code == 403
    assert "identity provider" in forced.content.decode()
    noor.refresh_from_db()
    assert not noor.is_active

    reactivate(site_admin, noor)  # the provider link went with the devices...
    page = admin.get(f"/accounts/admin/users/{noor.pk}/").content.decode()
    assert f"/accounts/admin/users/{noor.pk}/setup-link/" not in page  # ...still no offer
    refused = admin.post(f"/accounts/admin/users/{noor.pk}/setup-link/", CONFIRMED)
    assert refused.status_code == 403
    assert not [message for message in mail.outbox if message.to == [noor.email]]
    noor.refresh_from_db()
    assert not noor.has_usable_password()
    assert noor.setup_link_sent_at is None
    reasons = AuditEvent.objects.filter(
        action=Action.ACCOUNTS_SETUP_LINK_SEND, outcome=Outcome.DENIED
    ).values_list("details__reason", flat=True)
    assert list(reasons) == ["signs in through an identity provider"] * 2
