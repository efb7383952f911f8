"""The file browser pages: strict CSP (no inline code), both languages, and a real
Chromium uploading a file and creating a folder."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from accounts.models import User
from files import services
from files.models import File
from tests.conftest import BrowserPage
from tests.files_helpers import Backend, root_of, version_store
from tests.helpers import client_signed_in


def pages_of(owner: User) -> list[str]:
    root = root_of(owner)
    folder = services.folder_create(actor=owner, parent=root, name="Dossier patient")
    file = version_store(actor=owner, folder=folder, name="cr.pdf", content=b"%PDF-1.7").file
    pending = version_store(
        actor=owner, folder=folder, name="pending.pdf", content=b"p", clean=False
    ).file
    return [
        f"/files/folders/{root.pk}/",
        f"/files/folders/{folder.pk}/",
        f"/files/{file.pk}/",
        f"/files/spaces/{root.space_id}/trash/",
        f"/files/{pending.pk}/download/",  # 409: "waiting for the scanner" page
    ]


@pytest.mark.django_db
def test_file_pages_hold_no_inline_script_or_style(owner: User, folder_backend: Backend) -> None:
    client = client_signed_in(owner)
    for url in pages_of(owner):
        response = client.get(url)
        assert response.status_code in {200, 409}, url
        html = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not re.search(r"\sstyle=", html), url
        assert "<style" not in html, url


@pytest.mark.django_db
def test_file_pages_speak_french(owner: User, folder_backend: Backend) -> None:
    client = client_signed_in(owner)
    client.post("/i18n/setlang/", {"language": "fr", "next": "/files/"})
    urls = pages_of(owner)
    folder_page = client.get(urls[1]).content.decode()
    assert "Envoyer des fichiers" in folder_page
    assert "en attente d\u2019analyse antivirus" in folder_page
    assert "Corbeille" in client.get(urls[3]).content.decode()
    assert "ne peut pas être téléchargée" in client.get(urls[4]).content.decode()


def test_the_files_link_is_in_the_navigation(
    owner: User, folder_backend: Backend, db: None
) -> None:
    page = client_signed_in(owner).get("/").content.decode()
    assert 'href="/files/"' in page


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_clinician_uploads_a_file_and_makes_a_folder_in_chromium(
    browser_page: BrowserPage, live_server: Any, owner: User, folder_backend: Backend
) -> None:
    signed_in: Client = client_signed_in(owner)
    session = signed_in.cookies[settings.SESSION_COOKIE_NAME].value
    page = browser_page.page
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )

    page.goto("/files/")
    # One upload area (tus): the "Upload files" button, no second form.
    assert page.locator("#upload-form").count() == 0
    page.locator("#upload-files").set_input_files(
        {"name": "Compte rendu.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.7 test"}
    )
    row = page.locator("#folder-contents tr", has_text="Compte rendu.pdf")
    row.wait_for()
    assert "waiting for virus scan" in row.inner_text()

    page.get_by_label("New folder").fill("Imagerie")
    page.get_by_role("button", name="Create").click()
    expect(page.locator(".breadcrumb .active")).to_have_text("Imagerie")
    browser_page.screenshot("files-folder")

    assert File.objects.get().name == "Compte rendu.pdf"
    assert browser_page.console_errors == []  # no CSP violation, no script error


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_clinician_undoes_a_deletion_then_confirms_a_permanent_one_in_chromium(
    browser_page: BrowserPage, live_server: Any, owner: User, folder_backend: Backend
) -> None:
    for content in (b"v1", b"v2"):
        file = version_store(
            actor=owner, folder=root_of(owner), name="Bilan.pdf", content=content
        ).file
    signed_in: Client = client_signed_in(owner)
    session = signed_in.cookies[settings.SESSION_COOKIE_NAME].value
    page = browser_page.page
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )

    page.goto(f"/files/{file.pk}/")
    page.get_by_role("button", name="Move to trash").click()
    page.get_by_text("“Bilan.pdf” is in the trash: you can restore it.").wait_for()
    page.get_by_role("button", name="Undo").click()
    page.get_by_text("“Bilan.pdf” is restored.").wait_for()

    page.get_by_role("button", name="Move to trash").click()
    page.goto(f"/files/spaces/{file.space_id}/trash/")
    page.get_by_role("button", name="Delete permanently").click()
    page.get_by_role("heading", name="Delete “Bilan.pdf” permanently?").wait_for()
    page.get_by_text("the file “Bilan.pdf” and all its 2 versions").wait_for()
    browser_page.screenshot("files-purge-confirm")
    assert File.objects.get(pk=file.pk).purged_at is None
    page.get_by_role("button", name="Delete permanently").click()
    page.get_by_text("“Bilan.pdf” is deleted permanently.").wait_for()
    assert not File.objects.filter(pk=file.pk, purged_at__isnull=True).exists()
    assert browser_page.console_errors == []
