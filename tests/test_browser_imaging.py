"""In a real browser, a clinician opens a study: the page lists its series and the
viewer draws an image (non-blank canvas pixels) under the strict CSP, no console error."""

from __future__ import annotations

from typing import Any

import pytest
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

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
    # The second series is RLE Lossless: dwv decodes it in a worker (its decoder scripts
    # under static/vendor/dwv/assets, found next to dwv.min.js, not the page's URL).
    study = ct_study(
        instances_per_series=(6, 4),
        rows=128,
        columns=128,
        transfer_syntaxes=(ExplicitVRLittleEndian, RLELossless),
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


@pytest.mark.usefixtures("transfers_without_code")
def test_from_the_study_page_a_deidentified_transfer_reaches_an_outside_recipient(
    chromium: Any, live_server: Any, owner: User, clamd: str
) -> None:
    """The sender chooses "Share de-identified…", is warned about the screen capture
    (left unticked), sends; the recipient's page lists the de-identified files only."""
    import re

    from django.core import mail

    from imaging.models import Series
    from sharing.models import Transfer

    study = ct_study(
        instances_per_series=(3,),
        transfer_syntaxes=(ExplicitVRLittleEndian,),
        burned_in_series=True,
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
    burned = Series.objects.get(study=indexed, series_description="DOSE REPORT SCREEN")

    browser = browser_signed_in(chromium, live_server, owner)
    page = browser.page
    page.goto(f"/imaging/studies/{indexed.pk}/")
    page.locator("#study-share-deidentified").click()
    page.locator("#share-burned-in").wait_for()
    assert not page.locator(f"#series-{burned.pk}").is_checked()
    browser.screenshot("imaging-share-deidentified-form")
    page.locator("#deidentify-form button[type=submit]").click()
    page.locator("#id_recipients").wait_for()
    assert "De-identified copy made: 3 images" in page.content()
    page.locator("#id_recipients").fill("dr.avis@clinique.example")
    # What reaches the recipient, not their e-mail code (ticked by default; this site's
    # policy lets the sender untick it).
    page.locator("#id_email_verification").uncheck()
    page.locator("#transfer-send button[type=submit]").click()
    page.locator("#transfer-recipients").get_by_text("dr.avis@clinique.example").wait_for()
    transfer = Transfer.objects.get(sent_at__isnull=False)
    assert transfer.subject.startswith("De-identified study ANON-")
    message = next(item for item in mail.outbox if item.to == ["dr.avis@clinique.example"])
    found = re.search(r"https?://\S+?(/s/[A-Za-z0-9_-]{43}/)", str(message.body))
    assert found

    outside = chromium.new_context(base_url=live_server.url, locale="en-GB")
    try:
        other = outside.new_page()
        other.goto(found.group(1))
        listing = other.locator("main")
        for name in ("S1_IM0001.dcm", "S1_IM0002.dcm", "S1_IM0003.dcm"):
            listing.get_by_text(name).wait_for()
        text = listing.inner_text()
        assert "CT_THORAX" not in text
        assert "S2_IM0001.dcm" not in text  # the screen capture stayed home
    finally:
        outside.close()
    assert not browser.console_errors, browser.console_errors
