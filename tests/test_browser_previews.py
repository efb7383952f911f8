"""A clinician looks at a report (PDF), a wound photo (JPEG) and an ultrasound clip
(MP4) in the browser without downloading them; a colleague outside the hospital does the
same through a "view only" link. Real Chromium: PDF.js draws the page on a canvas in
its worker under the preview page's CSP, the photo is a re-encoded rendition, the
video plays from Range requests; no console error (no CSP violation) on any page."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from files import services
from sharing.services.links import share_link_create
from tests.conftest import BROWSER_TIMEOUT_MS, BrowserPage
from tests.files_helpers import Backend, root_of, version_store
from tests.media_samples import MP4_CLIP, jpeg_bytes, pdf_bytes
from tests.test_browser_share_link import browser_signed_in

pytestmark = [
    pytest.mark.usefixtures("rate_limit_cache"),
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def sees_every_kind(tab: BrowserPage, pages: dict[str, str]) -> None:
    page = tab.page
    page.goto(pages["pdf"])
    page.wait_for_selector('#pdf-preview[data-rendered="1"]')
    assert page.locator("#pdf-status").inner_text() == "Page 1 of 2"
    drawn = page.evaluate(
        """() => {
            const canvas = document.getElementById("pdf-canvas");
            const context = canvas.getContext("2d");
            const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
            let dark = 0;
            for (let i = 0; i < pixels.length; i += 4) if (pixels[i] < 128) dark++;
            return {width: canvas.width, dark};
        }"""
    )
    assert drawn["width"] > 100
    assert drawn["dark"] > 50  # the text was drawn, not a blank page
    page.click("#pdf-next")
    page.wait_for_selector('#pdf-preview[data-rendered="2"]')

    page.goto(pages["jpeg"])
    page.wait_for_function(
        "() => { const i = document.getElementById('preview-image'); "
        "return i && i.complete && i.naturalWidth === 640; }"
    )

    page.goto(pages["mp4"])
    page.wait_for_function("() => document.getElementById('preview-video').readyState >= 1")
    assert page.evaluate("() => document.getElementById('preview-video').duration") > 0.5
    assert tab.console_errors == []


def test_previews_of_a_pdf_a_photo_and_a_video_as_owner_and_through_a_view_only_link(
    chromium: Any, live_server: Any, owner: User, folder_backend: Backend
) -> None:
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Dossier Dupont")
    stored = {
        "pdf": version_store(actor=owner, folder=folder, name="CR.pdf", content=pdf_bytes(pages=2)),
        "jpeg": version_store(actor=owner, folder=folder, name="Plaie.jpg", content=jpeg_bytes()),
        "mp4": version_store(
            actor=owner, folder=folder, name="Écho.mp4", content=MP4_CLIP.read_bytes()
        ),
    }

    owner_tab = browser_signed_in(chromium, live_server, owner)
    sees_every_kind(owner_tab, {kind: f"/files/{v.file_id}/preview/" for kind, v in stored.items()})

    _link, token = share_link_create(actor=owner, target=folder, view_only=True)
    context = chromium.new_context(base_url=live_server.url, locale="en-GB")
    recipient = BrowserPage(context.new_page())
    recipient.page.set_default_timeout(BROWSER_TIMEOUT_MS)
    recipient.page.goto(f"/s/{token}/")
    assert recipient.page.locator("#link-view-only").is_visible()
    assert recipient.page.locator("#link-download-all").count() == 0
    sees_every_kind(
        recipient,
        {kind: f"/s/{token}/files/{v.file_id}/preview/" for kind, v in stored.items()},
    )
    context.close()

    viewed = AuditEvent.objects.filter(action=Action.FILES_VERSION_VIEW, outcome="success")
    assert viewed.filter(actor_id=owner.pk).exists()
    assert viewed.filter(actor_label__startswith="link:").exists()
    assert not AuditEvent.objects.filter(action=Action.FILES_VERSION_DOWNLOAD).exists()
