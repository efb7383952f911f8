"""An existing account linked to the identity provider through a link an administrator
sends to the person's address (sso/account_link.py), against the real test provider.

The people: Alice, who signed in only through the provider, left, and came back (her
reactivation removed her provider link with her devices); Bob, whose account the
directory created (never linked); Mallory, who asserts Bob's address at the provider;
Sam, the site administrator who sends the links.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import time_machine
from django.conf import settings
from django.core import mail

from accounts import offboarding
from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from sso.models import AccountLinkRequest, ExternalIdentity
from tests.conftest import user_create
from tests.helpers import CONFIRMED, client_signed_in, client_signed_in_long_ago
from tests.oidc_helpers import OpenIDProvider, provider_flow
from tests.test_sso_oidc import ALICE_SUB, landing, linked_alice, sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("oidc_provider")]


def send_link(admin: User, person: User) -> str:
    """Sam sends the link from the person's page (confirmed); returns the e-mailed URL."""
    mail.outbox.clear()  # e.g. an offboarding report sent before
    client = client_signed_in(admin)
    url = f"/sso/users/{person.pk}/account-link/"
    asked = client.post(url, {"provider": "test"})
    assert asked.status_code == 200  # the confirmation page: nothing sent yet
    assert not mail.outbox
    done = client.post(url, {"provider": "test", **CONFIRMED})
    assert done.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [person.email]
    found = re.search(r"https?://\S+/sso/account-link/\S+/", str(message.body))
    assert found is not None
    return found.group(0)


def follow_link(
    live_server: Any, link: str, login: str, *, http: requests.Session
) -> requests.Response:
    """What the person does: open the e-mailed link, "Continue with the provider", sign
    in there; returns SecureDrive's answer to the callback."""
    page_url = f"{live_server.url}{urlsplit(link).path}"
    page = http.get(page_url, timeout=10)
    assert page.status_code == 200, page.text
    start = http.post(
        f"{live_server.url}/sso/test/account-link/",
        data={
            "link": urlsplit(link).path.rstrip("/").rsplit("/", 1)[-1],
            "csrfmiddlewaretoken": http.cookies[settings.CSRF_COOKIE_NAME],
        },
        headers={"Referer": page_url},
        allow_redirects=False,
        timeout=10,
    )
    assert start.status_code == 302, start.text
    return provider_flow(http, start.headers["Location"], login=login)


def test_reactivated_person_gets_her_provider_back_through_the_link(
    live_server: Any, oidc_provider: OpenIDProvider, site_admin: User
) -> None:
    alice = linked_alice(oidc_provider)
    offboarding.user_deactivate(actor=site_admin, user=alice, successor=None)
    offboarding.user_reactivate(actor=site_admin, user=alice)
    assert not ExternalIdentity.objects.filter(user=alice).exists()
    # Without the link, her own provider account is refused: the address is no proof.
    assert sign_in(live_server, "alice").status_code == 403

    link = send_link(site_admin, alice)
    sent = AuditEvent.objects.get(action=Action.SSO_ACCOUNT_LINK_SEND)
    assert sent.actor_id == str(site_admin.pk)
    assert sent.target_id == str(alice.pk)

    http = requests.Session()
    landed = follow_link(live_server, link, "alice", http=http)
    # Linked and signed in; her devices went with the reactivation: enrol one again.
    assert landing(http, landed) == "/accounts/mfa/setup/"
    identity = ExternalIdentity.objects.get(user=alice)
    assert (identity.issuer, identity.subject) == (oidc_provider.issuer, ALICE_SUB)
    linked = AuditEvent.objects.get(action=Action.SSO_IDENTITY_LINK)
    assert linked.details["via"] == "account link"
    assert linked.details["requested_by"] == site_admin.email
    assert AccountLinkRequest.objects.get().used_at is not None

    # Once she has a second factor again, her security page says which provider opens
    # her account.
    security = client_signed_in(alice).get("/accounts/security/").content.decode()
    assert 'id="identity-providers"' in security
    assert "Test provider" in security

    # The link works once.
    again = requests.get(f"{live_server.url}{urlsplit(link).path}", timeout=10)
    assert again.status_code == 410
    assert AuditEvent.objects.filter(
        action=Action.SSO_ACCOUNT_LINK_REFUSE, outcome=Outcome.DENIED
    ).exists()


def test_the_link_links_whoever_signs_in_from_it_not_whoever_has_the_address(
    live_server: Any, oidc_provider: OpenIDProvider, site_admin: User
) -> None:
    # Bob's account came from the directory; at the provider he has another address.
    bob = user_create("bob.bernard@hopital.example", full_name="Bob Bernard")
    oidc_provider.account(login="bob", sub="sub-bob", email="b.bernard@autre.example")
    oidc_provider.account(login="mallory", sub="sub-mallory", email="bob.bernard@hopital.example")

    link = send_link(site_admin, bob)
    # Mallory, asserting Bob's address, still gets nothing by signing in plainly.
    assert sign_in(live_server, "mallory").status_code == 403
    http = requests.Session()
    follow_link(live_server, link, "bob", http=http)
    identity = ExternalIdentity.objects.get(user=bob)
    assert identity.subject == "sub-bob"
    link_event = AuditEvent.objects.get(action=Action.SSO_IDENTITY_LINK)
    assert link_event.details["email_matches"] is False
    assert not ExternalIdentity.objects.filter(subject="sub-mallory").exists()


def test_an_identity_already_linked_elsewhere_is_not_moved_by_a_link(
    live_server: Any, oidc_provider: OpenIDProvider, site_admin: User
) -> None:
    linked_alice(oidc_provider)
    bob = user_create("bob.bernard@hopital.example", full_name="Bob Bernard")
    link = send_link(site_admin, bob)
    refused = follow_link(live_server, link, "alice", http=requests.Session())
    assert refused.status_code == 403
    assert not ExternalIdentity.objects.filter(user=bob).exists()
    assert AccountLinkRequest.objects.get().used_at is None
    event = AuditEvent.objects.get(action=Action.SSO_ACCOUNT_LINK_REFUSE)
    assert event.details["reason"] == "already linked"


def test_an_expired_link_links_nothing(
    live_server: Any, oidc_provider: OpenIDProvider, site_admin: User
) -> None:
    bob = user_create("bob.bernard@hopital.example", full_name="Bob Bernard")
    link = send_link(site_admin, bob)
    later = dt.datetime.now(tz=dt.UTC) + dt.timedelta(days=30)
    with time_machine.travel(later, tick=True):
        page = requests.get(f"{live_server.url}{urlsplit(link).path}", timeout=10)
    assert page.status_code == 410
    assert "no longer valid" in page.text
    assert not ExternalIdentity.objects.exists()


def test_a_link_sent_before_a_departure_does_not_work_after_a_reactivation(
    live_server: Any, oidc_provider: OpenIDProvider, site_admin: User
) -> None:
    bob = user_create("bob.bernard@hopital.example", full_name="Bob Bernard")
    link = send_link(site_admin, bob)
    offboarding.user_deactivate(actor=site_admin, user=bob, successor=None)
    offboarding.user_reactivate(actor=site_admin, user=bob)
    page = requests.get(f"{live_server.url}{urlsplit(link).path}", timeout=10)
    assert page.status_code == 410
    assert AccountLinkRequest.objects.get().revoked_at is not None


def test_sending_a_link_needs_a_recent_second_factor(site_admin: User) -> None:
    bob = user_create("bob.bernard@hopital.example", full_name="Bob Bernard")
    client = client_signed_in_long_ago(site_admin)
    asked = client.post(f"/sso/users/{bob.pk}/account-link/", {"provider": "test", **CONFIRMED})
    assert asked.status_code == 302
    assert asked.headers["Location"].startswith("/accounts/security/confirm/")
    assert not AccountLinkRequest.objects.exists()
    assert not mail.outbox


def test_an_account_already_linked_or_deactivated_gets_no_link(
    oidc_provider: OpenIDProvider, site_admin: User
) -> None:
    alice = linked_alice(oidc_provider)
    bob = user_create("bob.bernard@hopital.example", full_name="Bob Bernard", is_active=False)
    client = client_signed_in(site_admin)
    for person in (alice, bob):
        client.post(f"/sso/users/{person.pk}/account-link/", {"provider": "test", **CONFIRMED})
    assert not AccountLinkRequest.objects.exists()
    assert not mail.outbox
    # Each refusal, shown as a message on the person's page, is recorded.
    refused = AuditEvent.objects.filter(
        action=Action.REQUEST_INPUT_REFUSE, details__view="sso:account_link_send"
    )
    assert refused.count() == 2


def test_an_unknown_identity_provider_is_a_recorded_refusal(site_admin: User) -> None:
    """The form offers only the configured providers: another name (a provider removed
    meanwhile, a forged form) is answered 400 with the reason, and recorded."""
    bob = user_create("bob.bernard@hopital.example", full_name="Bob Bernard")
    answer = client_signed_in(site_admin).post(
        f"/sso/users/{bob.pk}/account-link/", {"provider": "nowhere", **CONFIRMED}
    )
    assert answer.status_code == 400
    page = answer.content.decode()
    assert "Choose an identity provider this site knows." in page
    assert f'href="/accounts/admin/users/{bob.pk}/"' in page
    [event] = AuditEvent.objects.filter(action=Action.REQUEST_INPUT_REFUSE)
    assert event.actor_id == str(site_admin.pk)
    assert event.details["view"] == "sso:account_link_send"
    assert event.details["reason"] == "AccountRuleError"
    assert not AccountLinkRequest.objects.exists()
    assert not mail.outbox


def test_the_persons_page_offers_the_link_to_the_administrator(site_admin: User) -> None:
    bob = user_create("bob.bernard@hopital.example", full_name="Bob Bernard")
    page = client_signed_in(site_admin).get(f"/accounts/admin/users/{bob.pk}/")
    assert f'action="/sso/users/{bob.pk}/account-link/"' in page.content.decode()
    assert "Send a link to Test provider" in page.content.decode()


def test_the_link_is_written_in_the_persons_language_not_the_administrators(
    site_admin: User,
) -> None:
    # Bob reads French; Sam, who sends the link, works in English.
    bob = user_create("bob.bernard@hopital.example", full_name="Bob Bernard", language="fr")
    send_link(site_admin, bob)
    message = mail.outbox[0]
    assert message.subject == "Liez votre compte SecureDrive à Test provider"
    assert "vous demande de lier votre compte SecureDrive à Test provider" in message.body
    assert "Ouvrez ce lien et connectez-vous avec Test provider" in message.body


def test_the_link_names_the_administrator_as_they_are_called(site_admin: User) -> None:
    """A plain-text e-mail: "D&#x27;Arcy" would make a genuine link look like phishing."""
    User.objects.filter(pk=site_admin.pk).update(full_name="Anne D'Arcy")
    site_admin.refresh_from_db()
    bob = user_create("bob.bernard@hopital.example", full_name="Bob Bernard")
    send_link(site_admin, bob)
    assert "Anne D'Arcy asks you to link your SecureDrive account" in mail.outbox[0].body


def test_a_link_sent_to_a_former_address_does_not_work_after_the_address_changed(
    site_admin: User,
) -> None:
    """Sam sent Bob a link to the provider; the directory then gives Bob a new address.
    Whoever reads Bob's former mailbox (a namesake, a locum) must not link their own
    provider identity to Bob's account with it: the link is revoked with the change
    (accounts/address_change.py), as the set-up link already dies with it (its token
    hashes the address)."""
    import json

    from django.test import Client

    from directory.tokens import directory_token_create

    bob = user_create("bob.bernard@hopital.example", full_name="Bob Bernard")
    link = send_link(site_admin, bob)
    assert Client().get(urlsplit(link).path).status_code == 200
    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    new = "bob.bernard2@hopital.example"
    answer = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").put(
        f"/scim/v2/Users/{bob.pk}",
        json.dumps(
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": new,
                "displayName": "Bob Bernard",
                "emails": [{"value": new, "primary": True}],
            }
        ),
        content_type="application/scim+json",
    )
    assert answer.status_code == 200, answer.content

    page = Client().get(urlsplit(link).path)
    assert page.status_code == 410
    assert AccountLinkRequest.objects.get().revoked_at is not None
    updated = AuditEvent.objects.get(action=Action.DIRECTORY_USER_UPDATE)
    assert updated.details["identity_links_revoked"] == 1
