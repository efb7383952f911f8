"""Tom drops Mrs Dupont's results into "Bilans", below the folder Alice linked for the
radiologist: the row of each file, as it uploads, says people outside will open it
(no dialog: uploads stay one gesture; the row is where he looks). A file dropped into a
folder no link reaches says nothing of the kind.

Fixtures are imported by name from tests.files_helpers and tests.withdrawal_helpers;
pytest injects them.
"""

from __future__ import annotations

from typing import Any

from accounts.models import Team, User
from files import services
from files.models import File, Folder
from sharing.services.links import share_link_create
from tests.conftest import BrowserPage
from tests.files_helpers import Backend
from tests.test_browser_upload import signed_in_page
from tests.withdrawal_helpers import week

OUTSIDERS = (
    "People outside the organisation can open it through 1 external link once it is scanned."
)


def test_each_file_dropped_into_a_linked_folder_says_outsiders_will_open_it(
    browser_page: BrowserPage,
    live_server: Any,
    owner: User,
    teammate: User,
    team: Team,
    team_folder: Folder,
    folder_backend: Backend,
) -> None:
    dupont = services.folder_create(actor=owner, parent=team_folder, name="Dupont Marie")
    results = services.folder_create(actor=owner, parent=dupont, name="Bilans")
    elsewhere = services.folder_create(actor=owner, parent=team_folder, name="Durand Paul")
    share_link_create(actor=owner, target=dupont, expires_at=week())
    page = signed_in_page(browser_page, live_server, teammate)

    page.goto(f"/files/folders/{results.pk}/")
    page.locator("#upload-files").set_input_files(
        [{"name": "Dupont NFS.pdf", "mimeType": "application/pdf", "buffer": b"%PDF nfs"}]
    )

    row = page.locator(".upload-row", has_text="Dupont NFS.pdf")
    row.locator(".upload-open-to-outsiders", has_text=OUTSIDERS).wait_for()
    page.locator(".upload-row.upload-done").wait_for()
    assert File.objects.filter(folder=results, name="Dupont NFS.pdf").exists()
    browser_page.screenshot("browser-upload-open-to-outsiders")

    page.goto(f"/files/folders/{elsewhere.pk}/")
    page.locator("#upload-files").set_input_files(
        [{"name": "Durand NFS.pdf", "mimeType": "application/pdf", "buffer": b"%PDF nfs"}]
    )
    page.locator(".upload-row.upload-done").wait_for()
    assert page.locator(".upload-open-to-outsiders").count() == 0
    assert browser_page.console_errors == []
