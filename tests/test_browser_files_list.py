"""The files list in Chromium (issue #15): Alice ticks three files and gets them as one
ZIP whose bytes are hers, sorts the folder by size, does the same on a 390 x 844 phone
without sideways scrolling, and finds a teammate's "Échographie…" by typing "echo"."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from accounts.models import Team, User
from files import services
from sharing.models import ShareRole
from sharing.services import shares
from sharing.services.links import share_link_create
from tests.conftest import BrowserPage
from tests.files_helpers import Backend, root_of, version_store
from tests.helpers import client_signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONTENTS = {
    "Échographie Dupont.pdf": b"%PDF-1.7 echo " * 4000,  # 56 kB
    "IRM genou.dcm": bytes(range(256)) * 1000,  # 256 kB, the largest
    "Courrier.txt": b"Cher confrere\n" * 10,  # 140 bytes, the smallest
}


# The elements sticking out of the screen, to say what to fix when the test fails.
WIDEST = """() => Array.from(document.querySelectorAll('body *'))
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(0, 8).map(e => e.tagName + '#' + e.id + '.' + e.className)"""


def signed_in_page(browser_page: BrowserPage, live_server: Any, user: User) -> Any:
    session = client_signed_in(user).cookies[settings.SESSION_COOKIE_NAME].value
    page = browser_page.page
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )
    return page


def test_three_files_zipped_sorted_by_size_and_the_same_on_a_phone(
    browser_page: BrowserPage, live_server: Any, owner: User, folder_backend: Backend
) -> None:
    root = root_of(owner)
    for name, content in CONTENTS.items():
        version_store(actor=owner, folder=root, name=name, content=content)
    page = signed_in_page(browser_page, live_server, owner)

    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"/files/folders/{root.pk}/")
        if width > 400:
            # Sorted by size, largest first: the column header clicked twice.
            page.locator('a[data-sort="size"]').click()
            page.wait_for_url("**sort=size**")
            page.locator('a[data-sort="size"]').click()
            page.wait_for_url("**sort=-size**")
        else:  # the size column is folded under the names on a phone: same link
            page.goto(f"/files/folders/{root.pk}/?sort=-size")
        names = page.locator("#folder-contents tbody tr .row-name a").all_inner_texts()
        assert names == ["IRM genou.dcm", "Échographie Dupont.pdf", "Courrier.txt"]
        assert page.locator('th[aria-sort="descending"] a[data-sort="size"]').count() == 1

        page.locator("#select-all").check()
        page.locator("#selection-count", has_text="3 items selected").wait_for()
        with page.expect_download() as download_info:
            page.locator("#selection-download").click()
        download = download_info.value
        data = Path(download.path()).read_bytes()
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert {name: archive.read(name) for name in archive.namelist()} == CONTENTS

        if width > 400:
            # Delete moves the ticked rows to the trash, with "Undo" like one file.
            page.locator("#select-all").uncheck()
            page.locator('tr:has-text("Courrier.txt") input[name="file"]').check()
            page.locator("body").press("Delete")
            page.get_by_text("1 item is in the trash: you can restore it.").wait_for()
            page.get_by_role("button", name="Undo").click()
            page.get_by_text("1 item is restored.").wait_for()
            page.goto(f"/files/folders/{root.pk}/?sort=-size")
        # Nothing wider than the screen: no sideways scrolling, every button reachable.
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= width, (width, scroll_width)
        browser_page.screenshot(f"files-list-{width}")
        if width < 400:
            for url in ("/", f"/files/spaces/{root.space_id}/trash/", "/files/search/?q=echo"):
                page.goto(url)
                assert page.evaluate("document.documentElement.scrollWidth") <= width, url
    assert browser_page.console_errors == []


def test_echo_finds_and_opens_the_echography_in_a_teammates_shared_folder(
    browser_page: BrowserPage,
    live_server: Any,
    owner: User,
    teammate: User,
    team: Team,
    folder_backend: Backend,
) -> None:
    studies = services.folder_create(actor=teammate, parent=root_of(teammate), name="Études")
    echo = version_store(
        actor=teammate, folder=studies, name="Échographie Martin 2026-03.pdf", content=b"%PDF"
    ).file
    shares.share_create(actor=teammate, item=studies, recipient=owner, role=ShareRole.VIEWER)
    page = signed_in_page(browser_page, live_server, owner)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    page.keyboard.press("/")  # the shortcut puts the cursor in the search box
    page.keyboard.type("echo")
    page.keyboard.press("Enter")
    link = page.locator("#search-results").get_by_role("link", name=echo.name)
    link.wait_for()
    assert "Études" in page.locator(f'#search-results [data-file="{echo.pk}"]').inner_text()
    # Measured once the stylesheets apply: Enter waited for the page to arrive only.
    page.wait_for_load_state("load")
    wide = page.evaluate(WIDEST)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, wide
    link.click()
    page.wait_for_url(f"**/files/{echo.pk}/")
    page.get_by_role("heading", name=echo.name).wait_for()
    assert browser_page.console_errors == []


# Where a row's buttons are, and whether each is wholly on the screen.
BUTTONS_OFF_SCREEN = """selector => [...document.querySelectorAll(selector)]
  .filter(e => { const box = e.getBoundingClientRect();
    return box.width > 0 && (box.left < 0 || box.right > window.innerWidth); })
  .map(e => e.innerText.trim() + ' ' + Math.round(e.getBoundingClientRect().right) + 'px')"""


def test_on_a_phone_every_row_and_its_buttons_fit_the_screen_in_both_languages(
    browser_page: BrowserPage,
    live_server: Any,
    owner: User,
    teammate: User,
    team: Team,
    folder_backend: Backend,
) -> None:
    """Before: on a 390 px phone the links list and a team's members scrolled sideways
    inside their box, "Withdraw" and "Remove" 500 px off to the right, out of sight.
    The tables now read as a list of cards there, each value under its column's name,
    and stay tables for screen readers."""
    root = root_of(owner)
    long_name = "Compte-rendu_consultation_cardiologie_Dupont-Marie_2026-12-01_final.pdf"
    report = version_store(actor=owner, folder=root, name=long_name, content=b"%PDF").file
    share_link_create(actor=owner, target=report, recipient_email="dr.radio@clinique.example")
    theirs = version_store(
        actor=teammate, folder=root_of(teammate), name="Échographie Martin.pdf", content=b"%PDF"
    ).file
    shares.share_create(actor=teammate, item=theirs, recipient=owner, role=ShareRole.VIEWER)
    page = signed_in_page(browser_page, live_server, owner)
    page.set_viewport_size({"width": 390, "height": 844})
    pages = {
        "files": (f"/files/folders/{root.pk}/", f'tr[data-file="{report.pk}"] .btn'),
        "shared-with-me": ("/sharing/shared-with-me/", "#shared-with-me a"),
        "team": (f"/accounts/teams/{team.slug}/", "main table .btn"),
        "links": ("/sharing/links/", "#links-table .btn"),
    }
    words = {
        "en": ("Withdraw", ["Shared item", "Link", "Status"]),
        "fr": ("Retirer", ["Élément partagé", "Lien", "État"]),
    }
    for language, (withdraw, columns) in words.items():
        page.context.add_cookies(
            [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}]
        )
        for name, (url, buttons) in pages.items():
            page.goto(url)
            page.wait_for_load_state("load")
            assert page.locator(buttons).count() > 0, (language, name)
            wide = page.evaluate(WIDEST)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390, (name, wide)
            assert page.evaluate(BUTTONS_OFF_SCREEN, buttons) == [], (language, name)
            browser_page.screenshot(f"phone-{name}-{language}")
        # The links list (the page last seen): its button in view, each value under its
        # column's name in the page's language.
        assert page.locator("#links-table").get_by_role("button", name=withdraw).is_visible()
        labels = page.locator("#links-table tbody tr").first.locator("td[data-label]")
        assert labels.evaluate_all("cells => cells.map(c => c.dataset.label)")[:3] == columns
    # Still a table for a screen reader: Chromium's own accessibility tree, not the tags.
    tree = page.context.new_cdp_session(page).send("Accessibility.getFullAXTree")
    roles = [node.get("role", {}).get("value") for node in tree["nodes"]]
    assert "table" in roles
    assert roles.count("columnheader") >= 5
    assert roles.count("cell") >= 5
    assert browser_page.console_errors == []
