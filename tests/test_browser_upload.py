"""A clinician drops files into the file browser: tus-js-client in a real Chromium
uploads them through /api/v1/uploads/, a progress row per file, and the file appears
with its scan badge, which updates without reloading once the scan is done."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import hashlib
import re
from typing import Any

from django.conf import settings
from django.test import Client

from accounts.models import User
from files import services
from files.models import File, Folder, ScanStatus, UploadSession
from tests.conftest import BrowserPage
from tests.files_helpers import Backend, content_of
from tests.helpers import client_signed_in
from tests.test_scanning import EICAR, zipped
from tests.test_tus import stored_plaintext


def signed_in_page(browser_page: BrowserPage, live_server: Any, user: User) -> Any:
    signed_in: Client = client_signed_in(user)
    session = signed_in.cookies[settings.SESSION_COOKIE_NAME].value
    page = browser_page.page
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )
    return page


def test_files_chosen_in_the_browser_upload_with_tus_and_show_their_scan_badge(
    browser_page: BrowserPage, live_server: Any, owner: User, folder_backend: Backend
) -> None:
    page = signed_in_page(browser_page, live_server, owner)
    study = content_of(3 * 1024 * 1024 + 99, seed="browser")
    letter = b"Dear colleague,\n" * 50

    page.goto("/files/")
    assert page.locator("#space-usage").inner_text().startswith("0")
    page.locator("#upload-files").set_input_files(
        [
            {"name": "IRM genou.dcm", "mimeType": "application/dicom", "buffer": study},
            {"name": "Courrier.txt", "mimeType": "text/plain", "buffer": letter},
        ]
    )
    page.locator(".upload-row.upload-done").nth(1).wait_for()
    listing = page.locator("#folder-contents")
    listing.get_by_text("IRM genou.dcm").wait_for()
    listing.get_by_text("Courrier.txt").wait_for()
    # The side column's usage follows without a reload, in the uploader's units
    # (3,145,827 bytes: 3.1 MB, decimal, as the progress line said; not "3.0 MB").
    page.locator("#space-usage", has_text=re.compile(r"^3\.1\sMB used")).wait_for()
    browser_page.screenshot("browser-upload")

    study_file = File.objects.get(name="IRM genou.dcm")
    version = study_file.current_version
    assert version is not None
    assert stored_plaintext(version) == study
    assert UploadSession.objects.filter(completed_at__isnull=False).count() == 2
    badge = page.locator(f'.scan-badge[data-file="{study_file.pk}"]')
    assert badge.inner_text().strip() != "available"

    services.version_mark_scanned(version=version, status=ScanStatus.AVAILABLE)
    page.locator(f'.scan-badge[data-file="{study_file.pk}"]', has_text="available").wait_for()
    browser_page.screenshot("browser-upload-scanned")
    assert browser_page.console_errors == []  # no CSP violation, no script error


def test_an_upload_cut_by_a_network_drop_resumes_by_itself_when_the_network_is_back(
    browser_page: BrowserPage, live_server: Any, owner: User, folder_backend: Backend
) -> None:
    page = signed_in_page(browser_page, live_server, owner)
    study = content_of(4 * 1024 * 1024 + 7, seed="offline")
    page.goto("/files/")
    # 1 MiB PATCHes, so that the drop happens between two of them.
    page.evaluate("document.getElementById('upload-zone').dataset.chunkSize = '1048576'")
    requests: list[str] = []
    drop: list[bool] = []

    def network(route: Any) -> None:
        request = route.request
        requests.append(request.method)
        if request.method == "PATCH" and requests.count("PATCH") == 3 and not drop:
            drop.append(True)  # the Wi-Fi goes away in the middle of the upload
            route.abort("internetdisconnected")
            return
        route.continue_()

    page.route("**/api/v1/uploads/**", network)
    # The route handler runs while Playwright waits: for the PATCH it cut, however long
    # a loaded machine takes to get there.
    with page.expect_event(
        "requestfailed", predicate=lambda request: request.method == "PATCH", timeout=120_000
    ):
        page.locator("#upload-files").set_input_files(
            [{"name": "Scanner thorax.dcm", "mimeType": "application/dicom", "buffer": study}]
        )
    assert drop, "the upload never reached its third PATCH"
    page.context.set_offline(True)
    page.locator(".upload-status", has_text="Connection lost").wait_for()
    page.wait_for_timeout(1500)  # offline: retries fail, nothing is lost
    assert not File.objects.filter(name="Scanner thorax.dcm").exists()
    page.context.set_offline(False)

    page.locator(".upload-row.upload-done").wait_for(timeout=60_000)
    version = File.objects.get(name="Scanner thorax.dcm").current_version
    assert version is not None
    assert hashlib.sha256(stored_plaintext(version)).digest() == hashlib.sha256(study).digest()
    # It resumed from the committed offset (tus HEAD), not from the start.
    after_drop = requests[requests.index("PATCH") :]
    assert "HEAD" in after_drop
    assert requests.count("POST") == 1
    assert browser_page.console_errors == [] or all(
        "ERR_INTERNET_DISCONNECTED" in error or "Failed to load resource" in error
        for error in browser_page.console_errors
    )


# A folder dropped onto the zone, as Chromium hands it to the page: DataTransfer items
# whose webkitGetAsEntry() walks directories (Playwright cannot drag real folders).
DROP_FOLDER = """
([tree]) => {
  function entry(name, node) {
    if (typeof node === "string") {
      return { isFile: true, isDirectory: false, name: name,
               file: (callback) => callback(new File([node], name)) };
    }
    const children = Object.entries(node).map(([child, value]) => entry(child, value));
    return { isFile: false, isDirectory: true, name: name, createReader: () => {
      let done = false;
      return { readEntries: (callback) => {
        const batch = done ? [] : children;
        done = true;
        setTimeout(() => callback(batch), 0);  // asynchronous, as in Chromium
      } };
    } };
  }
  const items = Object.entries(tree).map(([name, node]) => ({
    webkitGetAsEntry: () => entry(name, node),
  }));
  const event = new Event("drop", { bubbles: true, cancelable: true });
  Object.defineProperty(event, "dataTransfer", { value: { items: items, files: [] } });
  document.getElementById("upload-zone").dispatchEvent(event);
}
"""


def test_a_whole_folder_dropped_keeps_its_nested_folders_in_the_file_browser(
    browser_page: BrowserPage, live_server: Any, owner: User, folder_backend: Backend
) -> None:
    page = signed_in_page(browser_page, live_server, owner)
    page.goto("/files/")
    tree = {
        "Étude IRM": {
            "compte-rendu.txt": "Pas d'anomalie.",
            "Série 1": {"image-001.dcm": "DICM-1", "image-002.dcm": "DICM-2"},
            "Série 2": {"Coupes": {"image-101.dcm": "DICM-101"}},
        }
    }
    page.evaluate(DROP_FOLDER, [tree])
    page.locator(".upload-row.upload-done").nth(3).wait_for()

    listing = page.locator("#folder-contents")
    listing.get_by_role("link", name="Étude IRM").click()
    page.get_by_role("link", name="Série 2").click()
    page.get_by_role("link", name="Coupes").click()
    page.locator("#folder-contents").get_by_text("image-101.dcm").wait_for()
    browser_page.screenshot("browser-upload-folder")

    study = Folder.objects.get(name="Étude IRM", deleted_at__isnull=True)
    series = Folder.objects.get(name="Série 1", parent=study)
    assert set(File.objects.filter(folder=series).values_list("name", flat=True)) == {
        "image-001.dcm",
        "image-002.dcm",
    }
    assert Folder.objects.filter(name="Série 2", parent=study).count() == 1  # made once
    assert browser_page.console_errors == []


def test_eicar_and_a_zipped_eicar_dropped_in_the_browser_are_quarantined_for_everyone(
    browser_page: BrowserPage, live_server: Any, owner: User, clamd: str
) -> None:
    """The whole path a clinician takes: tus-js-client in Chromium, the finalize task,
    the real clamd. The two threats are quarantined, the badges turn red without a
    reload, and not even their owner gets a byte of them; the clean letter is served."""
    page = signed_in_page(browser_page, live_server, owner)
    letter = b"Cher confrere,\n" * 200
    page.goto("/files/")
    page.locator("#upload-files").set_input_files(
        [
            {"name": "facture.com", "mimeType": "application/octet-stream", "buffer": EICAR},
            {
                "name": "resultats.zip",
                "mimeType": "application/zip",
                "buffer": zipped(b"padding " * 100 + EICAR),
            },
            {"name": "courrier.txt", "mimeType": "text/plain", "buffer": letter},
        ]
    )
    page.locator(".upload-row.upload-done").nth(2).wait_for()
    files = {name: File.objects.get(name=name) for name in ("facture.com", "resultats.zip")}
    for file in files.values():
        page.locator(f'.scan-badge[data-file="{file.pk}"]', has_text="quarantined").wait_for()
    clean = File.objects.get(name="courrier.txt")
    page.locator(f'.scan-badge[data-file="{clean.pk}"]', has_text="available").wait_for()
    browser_page.screenshot("browser-upload-eicar-quarantined")

    for file in files.values():
        refused = page.request.get(f"/files/{file.pk}/download/")
        assert refused.status == 409
        assert EICAR not in refused.body()
        version = file.current_version
        assert version is not None
        assert version.scan_status == ScanStatus.QUARANTINED
    served = page.request.get(f"/files/{clean.pk}/download/")
    assert (served.status, served.body()) == (200, letter)
    assert browser_page.console_errors == []


def test_a_file_whose_name_is_refused_says_why_at_once_instead_of_retrying(
    browser_page: BrowserPage, live_server: Any, owner: User, folder_backend: Backend
) -> None:
    """A name the server refuses (here with a zero-width space: it would look like
    "report.txt") is refused again at every retry: the row says so and why within
    seconds, not "connection lost, retrying" through two minutes of retries."""
    page = signed_in_page(browser_page, live_server, owner)
    page.goto("/files/")
    creations: list[str] = []
    page.on(
        "request",
        lambda request: (
            creations.append(request.url)
            if request.method == "POST" and "/api/v1/uploads/" in request.url
            else None
        ),
    )
    page.locator("#upload-files").set_input_files(
        [{"name": "re\u200bport.txt", "mimeType": "text/plain", "buffer": b"compte rendu\n"}]
    )
    failed = page.locator(".upload-row.list-group-item-danger")
    # Retries would take over two minutes (RETRY_DELAYS in dropzone.js) before the row
    # failed; 30 s tells them apart on a loaded machine too.
    failed.wait_for(timeout=30_000)
    assert "Failed: A name cannot contain invisible" in failed.inner_text()
    # A retry would have gone out by now (the first two come at 0 s and 1 s). Waited
    # through Playwright, not time.sleep: its "request" events reach the test only while
    # it waits in a Playwright call, so a sleep hid any retry from ``creations``.
    page.wait_for_timeout(1500)
    assert len(creations) == 1
    assert not File.objects.exists()
