"""Confirming "it is you" through the identity provider (sso/reauth.py), against the real
OpenID provider on loopback (tests/oidc_helpers.py).

Alice signs in only through the hospital's provider, whose assurance stands for her
second factor: she has no authenticator app or passkey of her own. A provider session
still open on a shared PC must not count as her having just proved who she is.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import time_machine
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore

from accounts.models import User
from accounts.reauth import PROOF_SESSION_KEY
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from sso.models import ExternalIdentity
from tests.conftest import user_create
from tests.oidc_helpers import STRONG_ACR, OpenIDProvider, provider_flow

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("oidc_provider")]

ALICE_SUB = "248289761077"
PASSKEY_ADD = "/accounts/mfa/setup/passkey/"
REAUTH = "/accounts/security/confirm/"


def provider_only_alice(provider: OpenIDProvider) -> User:
    alice = user_create("alice.roux@hopital.example", full_name="Alice Roux")
    ExternalIdentity.objects.create(
        user=alice,
        name="Test provider",
        confirmed=True,
        provider="test",
        issuer=provider.issuer,
        subject=ALICE_SUB,
    )
    provider.account(login="alice", sub=ALICE_SUB, email=alice.email)
    provider.assurance(STRONG_ACR, ["pwd", "hwk"])
    return alice


def browser_recording_provider_sign_in_pages() -> tuple[requests.Session, list[str]]:
    """A browser, and the provider's sign-in forms it was shown (its interactions)."""
    http = requests.Session()
    shown: list[str] = []

    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if "/interaction/" in response.url and response.request.method == "GET":
            shown.append(response.url)

    http.hooks["response"].append(record)
    return http, shown


def proof_expired(http: requests.Session) -> None:
    """The window of recent authentication has passed for this browser's session."""
    session = SessionStore(session_key=http.cookies[settings.SESSION_COOKIE_NAME])
    session.pop(PROOF_SESSION_KEY, None)
    session.save()


def post(http: requests.Session, url: str, data: dict[str, str]) -> requests.Response:
    return http.post(
        url,
        data={**data, "csrfmiddlewaretoken": http.cookies[settings.CSRF_COOKIE_NAME]},
        headers={"Referer": url},
        allow_redirects=False,
        timeout=10,
    )


def test_a_provider_session_left_open_is_no_recent_proof(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    """Alice signed in at 8:00 and signed out of SecureDrive only. At 8:11 someone at the
    same PC signs in through the provider's open session, without typing anything: they
    get in (that is the provider's session), but may not add their own passkey."""
    provider_only_alice(oidc_provider)
    http, shown = browser_recording_provider_sign_in_pages()
    first = provider_flow(http, f"{live_server.url}/sso/test/login/", login="alice")
    assert first.headers["Location"] == "/"
    assert len(shown) == 1
    assert http.get(f"{live_server.url}{PASSKEY_ADD}", allow_redirects=False).status_code == 200
    post(http, f"{live_server.url}/accounts/logout/", {})

    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11)
    with time_machine.travel(later, tick=True):
        again = provider_flow(http, f"{live_server.url}/sso/test/login/", login="alice")
        assert again.headers["Location"] == "/"
        assert len(shown) == 1  # the provider asked nothing
        page = http.get(f"{live_server.url}{PASSKEY_ADD}", allow_redirects=False)
        assert page.status_code == 302
        assert page.headers["Location"].startswith(REAUTH)


def test_confirming_through_the_provider_makes_it_ask_again(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    alice = provider_only_alice(oidc_provider)
    http, shown = browser_recording_provider_sign_in_pages()
    provider_flow(http, f"{live_server.url}/sso/test/login/", login="alice")
    proof_expired(http)

    bounced = http.get(f"{live_server.url}{PASSKEY_ADD}", allow_redirects=False)
    confirm_page = http.get(f"{live_server.url}{bounced.headers['Location']}", timeout=10)
    assert "Confirm with Test provider" in confirm_page.text
    start = post(http, f"{live_server.url}/sso/test/confirm/", {"next": PASSKEY_ADD})
    assert start.status_code == 302
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert query["prompt"] == ["login"]
    assert query["max_age"] == ["0"]
    # The provider session is still open, yet it asks Alice to sign in again.
    answer = provider_flow(http, start.headers["Location"], login="alice")
    assert len(shown) == 2
    assert answer.headers["Location"] == PASSKEY_ADD
    assert http.get(f"{live_server.url}{PASSKEY_ADD}", allow_redirects=False).status_code == 200
    confirmed = AuditEvent.objects.get(action=Action.ACCOUNTS_REAUTH, outcome=Outcome.SUCCESS)
    assert confirmed.actor_id == str(alice.pk)
    assert confirmed.details["device_type"] == "identity provider"
    assert confirmed.details["acr"] == STRONG_ACR


def test_an_answer_from_an_older_authentication_does_not_confirm(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    """A provider that ignores prompt=login answers with the authentication it already
    had: its auth_time is older than the confirmation, which is refused and recorded."""
    provider_only_alice(oidc_provider)
    http, _shown = browser_recording_provider_sign_in_pages()
    provider_flow(http, f"{live_server.url}/sso/test/login/", login="alice")
    # SecureDrive's clock runs 11 minutes ahead: the provider's fresh authentication
    # looks, to it, older than the moment the confirmation started.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11)
    with time_machine.travel(later, tick=True):
        start = post(http, f"{live_server.url}/sso/test/confirm/", {"next": PASSKEY_ADD})
        answer = provider_flow(http, start.headers["Location"], login="alice")
        assert answer.status_code == 403
        assert "did not ask you to sign in again" in answer.text
        page = http.get(f"{live_server.url}{PASSKEY_ADD}", allow_redirects=False)
        assert page.headers["Location"].startswith(REAUTH)
    refused = AuditEvent.objects.get(action=Action.ACCOUNTS_REAUTH, outcome=Outcome.DENIED)
    assert refused.details["reason"] == "not authenticated again"


def test_another_persons_provider_account_does_not_confirm(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    provider_only_alice(oidc_provider)
    oidc_provider.account(login="mallory", sub="sub-mallory", email="mallory@example.org")
    http, _shown = browser_recording_provider_sign_in_pages()
    provider_flow(http, f"{live_server.url}/sso/test/login/", login="alice")
    # Alice signed out of the provider (its cookies gone); Mallory signs in there.
    for cookie in [c for c in http.cookies if c.domain.startswith("127.0.0.1")]:
        http.cookies.clear(cookie.domain, cookie.path, cookie.name)
    start = post(http, f"{live_server.url}/sso/test/confirm/", {"next": PASSKEY_ADD})
    answer = provider_flow(http, start.headers["Location"], login="mallory")
    assert answer.status_code == 403
    refused = AuditEvent.objects.get(action=Action.ACCOUNTS_REAUTH, outcome=Outcome.DENIED)
    assert refused.details["reason"] == "another person"
