"""The cheap part of WCAG 2.2 AA (issue #15), without a browser: a skip link and one <h1>
on every page, and the project's colours at 4.5:1 or more. The full check, axe-core in
Chromium on every page in both languages, is tests/test_accessibility.py."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import User
from files import services
from tests.files_helpers import root_of
from tests.helpers import client_signed_in

pytestmark = pytest.mark.django_db


def contrast(foreground: str, background: str) -> float:
    """WCAG 2.x contrast ratio of two #rrggbb colours."""

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_every_page_has_a_skip_link_and_one_main_heading(
    owner: User, folder_backend: object
) -> None:
    root = root_of(owner)
    services.folder_create(actor=owner, parent=root, name="Imagerie")
    browser = client_signed_in(owner)
    pages = {
        "/": browser,
        "/files/": browser,
        f"/files/folders/{root.pk}/": browser,
        f"/files/spaces/{root.space_id}/trash/": browser,
        "/sharing/transfers/": browser,
        "/files/987654/": browser,  # 404
        "/accounts/login/": Client(),
    }
    for url, client in pages.items():
        html = client.get(url, follow=True).content.decode()
        assert len(re.findall(r"<h1\b", html)) == 1, url
        assert 'href="#main">Skip to main content</a>' in html, url
        assert '<main class="container py-4 flex-grow-1" id="main"' in html, url


def test_links_buttons_and_navbar_reach_four_and_a_half_to_one() -> None:
    css = (settings.BASE_DIR / "static/securedrive/securedrive.css").read_text()
    link = re.search(r"--bs-link-color: (#[0-9a-f]{6})", css)
    primary = re.search(r"--bs-primary: (#[0-9a-f]{6})", css)
    assert link is not None
    assert primary is not None
    page_background = "#f8f9fa"  # .bg-body-tertiary
    assert contrast(link.group(1), page_background) >= 4.5
    assert contrast("#ffffff", primary.group(1)) >= 4.5  # navbar text on the navbar
    assert "--bs-navbar-color: #fff;" in css
    assert contrast("#0d6efd", page_background) < 4.5  # Bootstrap's own blue did not
    for variable in ("--bs-secondary", "--bs-danger", "--bs-success", "--bs-code-color"):
        colour = re.search(rf"{variable}: (#[0-9a-f]{{6}})", css)
        assert colour is not None, variable
        assert contrast(colour.group(1), page_background) >= 4.5, variable
