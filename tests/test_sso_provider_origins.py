"""A provider whose authorization endpoint is not on its issuer's origin.

Some providers publish, in their discovery document, an ``authorization_endpoint`` on
another origin than their issuer (ADFS or Azure behind a login host, Keycloak behind a
proxy that rewrites only the front channel). The buttons that post to SecureDrive and
are then redirected to the provider ("Accept with", "Confirm with", "Sign in again
with") must be allowed to go there by the page's ``form-action``: the origin that counts
is the authorization endpoint's, as discovered, not the issuer's.

The provider is the real one (tests/oidc_helpers.py); only its discovery document is
served by the test, naming the same server as ``localhost`` (another origin than
``127.0.0.1``, the issuer's) for the authorization endpoint.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings
from django.test import Client
from django.test.utils import override_settings

from accounts import invitations
from accounts.models import User
from sso.models import ExternalIdentity
from tests.oidc_helpers import OpenIDProvider, provider_flow
from tests.test_sso_oidc import accept_with_provider, confirm_link, form_action

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("oidc_provider")]


@dataclass
class ElsewhereProvider:
    provider: OpenIDProvider
    authorization_origin: str


@contextmanager
def configured_through(
    oidc_provider: OpenIDProvider, *, authorization_endpoint: str
) -> Iterator[None]:
    """The real provider, configured in SecureDrive through a discovery document of the
    test's: the real metadata, with ``authorization_endpoint`` replaced."""
    real = requests.get(f"{oidc_provider.issuer}/.well-known/openid-configuration", timeout=10)
    body = json.dumps({**real.json(), "authorization_endpoint": authorization_endpoint}).encode()

    class Discovery(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Discovery)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    discovery_url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/openid-configuration"
    try:
        with override_settings(
            OIDC_PROVIDERS={"test": oidc_provider.settings_for(discovery_url=discovery_url)}
        ):
            yield
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def provider_authorizing_elsewhere(oidc_provider: OpenIDProvider) -> Iterator[ElsewhereProvider]:
    """Its authorization endpoint on another origin than the issuer (the same server,
    named localhost)."""
    endpoint = urlsplit(f"{oidc_provider.issuer}/auth")
    elsewhere = endpoint._replace(netloc=endpoint.netloc.replace("127.0.0.1", "localhost"))
    with configured_through(oidc_provider, authorization_endpoint=elsewhere.geturl()):
        yield ElsewhereProvider(
            provider=oidc_provider,
            authorization_origin=f"{elsewhere.scheme}://{elsewhere.netloc}",
        )


def test_accept_with_the_provider_may_go_to_its_authorization_endpoint_on_another_origin(
    provider_authorizing_elsewhere: ElsewhereProvider, site_admin: User
) -> None:
    """Claire's "Accept with Test provider" posts to SecureDrive, which redirects her to
    the provider's authorization endpoint: the invitation page's form-action names that
    endpoint's origin (Chromium otherwise stops the redirect and the button does nothing),
    not the issuer's, which the form never goes to."""
    elsewhere = provider_authorizing_elsewhere
    sent = invitations.invitation_create(actor=site_admin, email="claire.durand@hopital.example")
    browser = Client()
    page = browser.get(urlsplit(sent.url).path)
    assert "Accept with Test provider" in page.content.decode()
    assert form_action(page) == ["'self'", elsewhere.authorization_origin]
    start = browser.post(
        "/sso/test/invitation/",
        {"invitation": urlsplit(sent.url).path.rstrip("/").rsplit("/", 1)[-1]},
    )
    assert start.status_code == 302
    location = urlsplit(start["Location"])
    assert f"{location.scheme}://{location.netloc}" in form_action(page)
    assert elsewhere.provider.issuer not in form_action(page)


def test_the_sign_in_goes_through_with_the_authorization_endpoint_elsewhere(
    live_server: Any, provider_authorizing_elsewhere: ElsewhereProvider, site_admin: User
) -> None:
    """The whole round trip works with such a provider: authorization on one origin,
    tokens and keys on the issuer's."""
    elsewhere = provider_authorizing_elsewhere
    elsewhere.provider.account(
        login="claire", sub="sub-claire", email="claire.durand@hopital.example"
    )
    sent = invitations.invitation_create(actor=site_admin, email="claire.durand@hopital.example")
    http = requests.Session()
    answered = accept_with_provider(live_server, sent, "claire", http=http)
    assert answered.status_code == 302
    assert answered.headers["Location"] == "/sso/link/"
    assert confirm_link(live_server, http).status_code == 302
    assert ExternalIdentity.objects.filter(
        subject="sub-claire", user__email="claire.durand@hopital.example"
    ).exists()
    # And the next sign-in by subject, from the plain button.
    again = provider_flow(requests.Session(), f"{live_server.url}/sso/test/login/", login="claire")
    assert again.status_code == 302
    assert settings.LOGIN_URL not in again.headers["Location"]


def test_a_discovery_document_cannot_write_directives_into_the_policy(
    oidc_provider: OpenIDProvider, site_admin: User
) -> None:
    """The endpoint's origin goes into a header: an endpoint whose host carries a ";"
    and more directives is no origin, and the page allows the issuer's alone."""
    hostile = "http://evil.example;script-src 'unsafe-inline'/auth"
    with configured_through(oidc_provider, authorization_endpoint=hostile):
        sent = invitations.invitation_create(
            actor=site_admin, email="claire.durand@hopital.example"
        )
        page = Client().get(urlsplit(sent.url).path)
    assert form_action(page) == ["'self'", oidc_provider.issuer]
    assert "evil.example" not in str(page["Content-Security-Policy"])


def test_pages_do_not_wait_on_a_provider_whose_metadata_cannot_be_read(
    oidc_provider: OpenIDProvider, site_admin: User
) -> None:
    """The provider's discovery document answers 503: the invitation page still shows,
    allowing the issuer's origin (the best guess), and the next pages do not ask again
    at once: every page of a password-only session shows "Sign in again", and each would
    wait on the provider before it renders."""
    asked: list[str] = []

    class Unavailable(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    discovery_url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/openid-configuration"
    try:
        with override_settings(
            OIDC_PROVIDERS={"test": oidc_provider.settings_for(discovery_url=discovery_url)}
        ):
            sent = invitations.invitation_create(
                actor=site_admin, email="claire.durand@hopital.example"
            )
            pages = [Client().get(urlsplit(sent.url).path) for _ in range(3)]
    finally:
        server.shutdown()
        server.server_close()
    assert [page.status_code for page in pages] == [200, 200, 200]
    assert [form_action(page) for page in pages] == [["'self'", oidc_provider.issuer]] * 3
    assert len(asked) == 1
