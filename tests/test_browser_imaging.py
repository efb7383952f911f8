"""In a real browser, a clinician opens a study: the page lists its series and the
viewer draws an image (non-blank canvas pixels) under the strict CSP, no console error."""

from __future__ import annotations

from typing import Any

import pytest
from pydicom.uid import ExplicitVRLittleEndian

from accounts.models import User
from imaging import services as imaging_services
from imaging.models import Study
from tests.dicom_factory import ct_study
from tests.files_helpers import Backend, root_of, version_store
from tests.test_browser_share_link import browser_signed_in

pytestmark = [
    pytest.mark.usefixtures("rate_limit_cache"),
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

# The share of non-black pixels of the viewer's canvases, computed in the page.
NON_BLANK_SHARE = """() => {
  let lit = 0, total = 0;
  for (const canvas of document.querySelectorAll('#imaging-layer-group canvas')) {
    const context = canvas.getContext('2d');
    if (!context || !canvas.width || !canvas.height) continue;
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < pixels.length; i += 4) {
      total += 1;
      if (pixels[i] + pixels[i + 1] + pixels[i + 2] > 30) lit += 1;
    }
  }
  return total ? lit / total : 0;
}"""


def test_the_study_page_lists_series_and_the_viewer_draws_an_image(
    chromium: Any, live_server: Any, owner: User, folder_backend: Backend
) -> None:
    study = ct_study(
        instances_per_series=(6, 4),
        rows=128,
        columns=128,
        transfer_syntaxes=(ExplicitVRLittleEndian, ExplicitVRLittleEndian),
    )
    for instance in study.instances:
        version = version_store(
            actor=owner,
            folder=root_of(owner),
            name=instance.path.replace("/", "_"),
            content=instance.data,
        )
        imaging_services.version_index(version_id=version.pk)
    indexed = Study.objects.get(study_instance_uid=study.study_instance_uid)

    browser = browser_signed_in(chromium, live_server, owner)
    page = browser.page
    page.goto(f"/imaging/studies/{indexed.pk}/")
    assert page.locator("#study-series > li").count() == 2
    page.wait_for_selector("#imaging-viewer[data-loaded='true']", state="attached")
    page.wait_for_function(f"({NON_BLANK_SHARE})() > 0.05")
    share = page.evaluate(NON_BLANK_SHARE)
    browser.screenshot("imaging-viewer-first-series")
    assert share > 0.05

    # The second series draws too, and the window/level tool is there.
    page.locator("[data-series-urls]").nth(1).click()
    page.wait_for_selector("#imaging-viewer[data-loaded='true']", state="attached")
    page.wait_for_function(f"({NON_BLANK_SHARE})() > 0.05")
    page.locator("[data-viewer-tool='WindowLevel']").click()
    browser.screenshot("imaging-viewer-rle-series")
    assert not browser.console_errors, browser.console_errors
