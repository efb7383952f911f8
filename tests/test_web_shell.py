"""The web shell: strict CSP, no inline code, both languages, static files served."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import User
from tests.helpers import client_signed_in

pytestmark = pytest.mark.django_db


def test_pages_carry_a_strict_content_security_policy(client: Client) -> None:
    policy = client.get("/accounts/login/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy


def test_pages_hold_no_inline_script_or_style(owner: User, site_admin: User) -> None:
    signed_in = client_signed_in(owner)
    admin = client_signed_in(site_admin)
    for client, url in (
        (Client(), "/accounts/login/"),
        (signed_in, "/"),
        (admin, "/"),
        (admin, "/status/"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not re.search(r"\sstyle=", html), url
        assert "<style" not in html, url


def test_security_headers(client: Client) -> None:
    response = client.get("/accounts/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_interface_speaks_french(client: Client) -> None:
    response = client.post("/i18n/setlang/", {"language": "fr", "next": "/accounts/login/"})
    assert response.status_code == 302
    page = client.get("/accounts/login/").content.decode()
    assert 'lang="fr"' in page
    assert "Se connecter à SecureDrive" in page


def test_home_shows_platform_status_to_site_admins_only(owner: User, site_admin: User) -> None:
    clinician = client_signed_in(owner).get("/").content.decode()
    assert "Virus scanning is disabled." in clinician
    assert "platform-status" not in clinician  # recent files and favourites instead
    assert "home-recent" in clinician
    assert client_signed_in(owner).get("/status/").status_code == 403
    client = client_signed_in(site_admin)
    assert "platform-status" in client.get("/").content.decode()
    status = client.get("/status/").content.decode()
    assert 'data-check="scanner"' in status
    assert "Disabled" in status


def test_status_fragment_needs_a_session(client: Client) -> None:
    assert client.get("/status/").status_code == 302
