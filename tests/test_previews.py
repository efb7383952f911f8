"""Previews: a clinician looks at a report, a photo, a recording or a CSV without
downloading it, and so does the recipient of a link (docs/previews.md).

Every way in checks access like a download (owner, teammate yes; outsider, site admin,
auditor no: 404), is audited as "viewed" (never "downloaded") with lineage, and never
sends active content or an image's original bytes inline.

Fixtures are imported by name from tests.files_helpers; pytest injects them.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass

import pillow_heif
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from accounts import tokens
from accounts.models import Team, User
from audit.actions import Action
from audit.models import AuditEvent
from files import services
from files.models import FileVersion, ScanStatus
from files.previews import IMAGE_FORMATS, PreviewUnavailable, image_rendition, text_decode
from sharing.models import ShareLinkDownload
from sharing.services import transfers
from sharing.services.links import share_link_create
from tests.files_helpers import body_of, root_of, version_store
from tests.helpers import client_signed_in
from tests.media_samples import MP4_CLIP, jpeg_bytes, pdf_bytes, png_bytes

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "rate_limit_cache"),
]

SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"


@dataclass
class Samples:
    jpeg: FileVersion
    pdf: FileVersion
    mp4: FileVersion
    csv: FileVersion
    text: FileVersion
    svg: FileVersion
    html: FileVersion


@pytest.fixture
def samples(owner: User, team: Team) -> Samples:
    folder = services.space_root(services.space_team_get_or_create(team=team))

    def store(name: str, content: bytes) -> FileVersion:
        return version_store(actor=owner, folder=folder, name=name, content=content)

    return Samples(
        jpeg=store("Radio thorax.jpg", jpeg_bytes()),
        pdf=store("Compte rendu.pdf", pdf_bytes(pages=2)),
        mp4=store("Échographie.mp4", MP4_CLIP.read_bytes()),
        csv=store("Constantes.csv", b"date;pouls\n2026-12-01;72\n2026-12-02;<b>80</b>\n"),
        text=store("Note.txt", b"Patient <b>stable</b> & tension 12/8\n"),
        svg=store("schema.svg", SVG),
        html=store("page.html", HTML),
    )


def preview_urls(version: FileVersion) -> list[str]:
    file_id = version.file_id
    return [
        reverse("files:preview", args=[file_id]),
        reverse("files:preview_rendition", args=[file_id]),
        reverse("files:preview_stream", args=[file_id]),
    ]


def views_of(version: FileVersion) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(action=Action.FILES_VERSION_VIEW, target_id=str(version.pk))
    )


# --- Who may look ----------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "teammate"])
def test_owner_and_teammate_preview_every_kind(
    request: pytest.FixtureRequest, who: str, samples: Samples
) -> None:
    browser = client_signed_in(request.getfixturevalue(who))
    assert browser.get(reverse("files:preview", args=[samples.pdf.file_id])).status_code == 200
    image = browser.get(reverse("files:preview_rendition", args=[samples.jpeg.file_id]))
    assert image.status_code == 200
    stream = browser.get(reverse("files:preview_stream", args=[samples.mp4.file_id]))
    assert stream.status_code == 200
    text = browser.get(reverse("files:preview", args=[samples.text.file_id]))
    assert text.status_code == 200


@pytest.mark.parametrize("who", ["outsider", "site_admin", "auditor"])
def test_no_one_else_previews_a_team_file(
    request: pytest.FixtureRequest, who: str, samples: Samples
) -> None:
    browser = client_signed_in(request.getfixturevalue(who))
    for version in (samples.jpeg, samples.pdf, samples.mp4, samples.text):
        for url in preview_urls(version):
            assert browser.get(url).status_code == 404, (who, url)
    assert not AuditEvent.objects.filter(
        action=Action.FILES_VERSION_VIEW, outcome="success"
    ).exists()


def test_signed_out_is_sent_to_sign_in(samples: Samples) -> None:
    for url in preview_urls(samples.jpeg):
        response = Client().get(url)
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"] or "login" in response["Location"]


# --- What reaches the browser ---------------------------------------------------------------


def test_an_image_is_shown_as_a_fresh_rendition_never_its_bytes(
    owner: User, samples: Samples
) -> None:
    response = client_signed_in(owner).get(
        reverse("files:preview_rendition", args=[samples.jpeg.file_id])
    )
    body = response.content
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert body != jpeg_bytes()
    with Image.open(io.BytesIO(body)) as shown:
        assert shown.size == (640, 480)
    [event] = views_of(samples.jpeg)
    assert event.details["path"] == "/Radio thorax.jpg"
    assert event.details["version"] == str(samples.jpeg.pk)
    assert not AuditEvent.objects.filter(action=Action.FILES_VERSION_DOWNLOAD).exists()


def test_a_large_image_is_scaled_down_and_transparency_kept() -> None:
    big = image_rendition(jpeg_bytes(4000, 1000), formats=("JPEG",))
    assert (big.width, big.height) == (2048, 512)
    clear = image_rendition(png_bytes(alpha=True), formats=("PNG",))
    assert clear.content_type == "image/png"


def test_decompression_bombs_and_disguised_files_are_refused() -> None:
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, format="PNG")  # 400 Mpx, ~50 KB
    with pytest.raises(PreviewUnavailable, match="too_many_pixels"):
        image_rendition(bomb.getvalue(), formats=("PNG",))
    with pytest.raises(PreviewUnavailable):
        image_rendition(png_bytes(), formats=("JPEG",))  # not the sniffed format
    with pytest.raises(PreviewUnavailable):
        image_rendition(b"\xff\xd8\xff\xe0 not really a jpeg", formats=("JPEG",))


def test_a_bomb_uploaded_as_a_file_gets_a_clear_refusal(owner: User) -> None:
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, format="PNG")
    version = version_store(
        actor=owner, folder=root_of(owner), name="bomb.png", content=bomb.getvalue()
    )
    response = client_signed_in(owner).get(
        reverse("files:preview_rendition", args=[version.file_id])
    )
    assert response.status_code == 422
    [event] = views_of(version)
    assert event.outcome == "denied"
    assert event.details["reason"] == "too_many_pixels"


def test_video_streams_with_range_under_a_fixed_type_inline_and_sandboxed(
    owner: User, samples: Samples
) -> None:
    browser = client_signed_in(owner)
    url = reverse("files:preview_stream", args=[samples.mp4.file_id])
    part = browser.get(url, HTTP_RANGE="bytes=0-99", HTTP_SEC_FETCH_DEST="video")
    assert part.status_code == 206
    assert part["Content-Type"] == "video/mp4"
    assert part["Content-Range"].startswith("bytes 0-99/")
    assert part["Content-Disposition"].startswith("inline")
    assert part["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in part["Content-Security-Policy"]
    assert body_of(part) == MP4_CLIP.read_bytes()[:100]
    [event] = views_of(samples.mp4)
    assert event.details["range"] == "0-99"
    assert event.details["path"] == "/Échographie.mp4"


def test_the_content_addresses_refuse_to_be_opened_as_a_page(owner: User, samples: Samples) -> None:
    browser = client_signed_in(owner)
    for url in (
        reverse("files:preview_stream", args=[samples.pdf.file_id]),
        reverse("files:preview_rendition", args=[samples.jpeg.file_id]),
    ):
        assert browser.get(url, HTTP_SEC_FETCH_DEST="document").status_code == 403
    assert {
        event.details["reason"]
        for event in AuditEvent.objects.filter(action=Action.FILES_VERSION_VIEW)
    } == {"navigation"}


def test_pdf_page_runs_pdfjs_with_a_worker_allowed_on_that_page_only(
    owner: User, samples: Samples
) -> None:
    browser = client_signed_in(owner)
    page = browser.get(reverse("files:preview", args=[samples.pdf.file_id]))
    assert "worker-src 'self'" in page["Content-Security-Policy"]
    assert "media-src 'self'" in page["Content-Security-Policy"]
    assert "unsafe-eval" not in page["Content-Security-Policy"]
    assert b'id="pdf-canvas"' in page.content
    assert b"<script>" not in page.content
    folder = browser.get(reverse("files:folder", args=[samples.pdf.file.folder_id]))
    assert "worker-src 'none'" in folder["Content-Security-Policy"]
    pdf = browser.get(reverse("files:preview_stream", args=[samples.pdf.file_id]))
    assert pdf["Content-Type"] == "application/pdf"
    assert body_of(pdf) == pdf_bytes(pages=2)


def test_text_and_csv_are_escaped_and_audited_as_viewed(owner: User, samples: Samples) -> None:
    browser = client_signed_in(owner)
    text = browser.get(reverse("files:preview", args=[samples.text.file_id]))
    assert b"Patient &lt;b&gt;stable&lt;/b&gt; &amp; tension 12/8" in text.content
    assert b"<b>stable" not in text.content
    table = browser.get(reverse("files:preview", args=[samples.csv.file_id]))
    assert b"<td>&lt;b&gt;80&lt;/b&gt;</td>" in table.content
    # The first row names the columns: read as headers, so that a screen reader says
    # "pouls, 72" rather than "72".
    assert b'<th scope="col">date</th><th scope="col">pouls</th>' in table.content
    assert b"<td>date</td>" not in table.content
    assert len(views_of(samples.text)) == 1
    assert len(views_of(samples.csv)) == 1


def test_bad_bytes_never_break_a_text_preview() -> None:
    assert text_decode("café".encode("cp1252")) == "café"
    assert text_decode("naïve".encode()[:3], cut=True) == "na"  # a character cut by the size cap
    assert text_decode("\ufeffbonjour".encode()) == "bonjour"
    assert text_decode(bytes(range(256)))  # anything decodes


@pytest.mark.parametrize("name", ["svg", "html"])
def test_active_content_stays_download_only(owner: User, samples: Samples, name: str) -> None:
    version: FileVersion = getattr(samples, name)
    browser = client_signed_in(owner)
    page = browser.get(reverse("files:preview", args=[version.file_id]))
    assert page.status_code == 200
    assert b'id="preview-unavailable"' in page.content
    assert reverse("files:download", args=[version.file_id]).encode() in page.content
    assert browser.get(reverse("files:preview_stream", args=[version.file_id])).status_code == 422
    assert (
        browser.get(reverse("files:preview_rendition", args=[version.file_id])).status_code == 422
    )
    assert b"<svg" not in page.content
    # No "View" button where the preview would show nothing.
    file_page = browser.get(reverse("files:file", args=[version.file_id]))
    assert b'id="preview-button"' not in file_page.content
    pdf_page = browser.get(reverse("files:file", args=[samples.pdf.file_id]))
    assert b'id="preview-button"' in pdf_page.content
    assert b"alert(document" not in page.content


def test_nothing_is_previewed_before_a_clean_scan(owner: User) -> None:
    version = version_store(
        actor=owner, folder=root_of(owner), name="attente.jpg", content=jpeg_bytes(), clean=False
    )
    assert version.scan_status == ScanStatus.PENDING
    browser = client_signed_in(owner)
    assert (
        browser.get(reverse("files:preview_rendition", args=[version.file_id])).status_code == 409
    )
    assert browser.get(reverse("files:preview_stream", args=[version.file_id])).status_code == 409
    assert [event.outcome for event in views_of(version)] == ["denied", "denied"]


# --- Links ------------------------------------------------------------------------------------


def test_a_link_recipient_s_previews_count_as_uses_not_downloads(
    owner: User, samples: Samples
) -> None:
    """Each file viewed is one use of the link (docs/sharing-links.md); never a
    download: no "downloaded" event, no first-download e-mail."""
    link, token = share_link_create(actor=owner, target=samples.jpeg.file.folder, max_downloads=3)
    recipient = Client()
    assert recipient.get(reverse("share_link:open", args=[token])).status_code == 200
    for version in (samples.jpeg, samples.pdf):
        page = recipient.get(reverse("share_link:preview", args=[token, version.file_id]))
        assert page.status_code == 200
    image = recipient.get(
        reverse("share_link:preview_rendition", args=[token, samples.jpeg.file_id])
    )
    assert image.status_code == 200
    assert image["Content-Type"] == "image/jpeg"
    # The video's stream asked without its page: a use of its own.
    video = recipient.get(
        reverse("share_link:preview_stream", args=[token, samples.mp4.file_id]),
        HTTP_RANGE="bytes=10-19",
    )
    assert video.status_code == 206
    assert body_of(video) == MP4_CLIP.read_bytes()[10:20]
    link.refresh_from_db()
    assert link.download_count == 3
    assert link.first_downloaded_at is None
    receipts = ShareLinkDownload.objects.filter(link=link)
    assert sorted(receipt.name for receipt in receipts if receipt.is_preview) == sorted(
        ["Radio thorax.jpg", "Compte rendu.pdf", "Échographie.mp4"]
    )
    assert not AuditEvent.objects.filter(action=Action.FILES_VERSION_DOWNLOAD).exists()
    [event] = views_of(samples.jpeg)
    assert event.actor_label == f"link:{link.pk}"
    assert event.details["link"] == link.pk
    assert AuditEvent.objects.filter(action=Action.SHARING_LINK_VIEW).count() == 2


def test_a_stranger_without_the_link_proofs_sees_nothing(owner: User, samples: Samples) -> None:
    _link, token = share_link_create(
        actor=owner, target=samples.jpeg.file, password="Radiologie-2026"
    )
    stranger = Client()
    for name in ("share_link:preview", "share_link:preview_rendition", "share_link:preview_stream"):
        response = stranger.get(reverse(name, args=[token, samples.jpeg.file_id]))
        assert response.status_code == 302  # back to the password step
    other = samples.pdf.file_id  # not in this link
    stranger.post(
        reverse("share_link:open", args=[token]),
        {"action": "password", "password": "Radiologie-2026"},
    )
    assert stranger.get(reverse("share_link:preview", args=[token, other])).status_code == 404
    assert stranger.get(reverse("share_link:preview", args=["x" * 43, other])).status_code == 404
    assert not views_of(samples.pdf)


def test_a_view_only_link_previews_but_refuses_every_download(
    owner: User, samples: Samples
) -> None:
    link, token = share_link_create(actor=owner, target=samples.jpeg.file.folder, view_only=True)
    recipient = Client()
    landing = recipient.get(reverse("share_link:open", args=[token]))
    assert b'id="link-view-only"' in landing.content
    assert reverse("share_link:archive", args=[token]).encode() not in landing.content
    page = recipient.get(reverse("share_link:preview", args=[token, samples.pdf.file_id]))
    assert page.status_code == 200
    assert b'id="preview-download"' not in page.content
    assert (
        recipient.get(
            reverse("share_link:preview_stream", args=[token, samples.pdf.file_id])
        ).status_code
        == 200
    )
    single = recipient.get(reverse("share_link:file", args=[token, samples.pdf.file_id]))
    archive = recipient.get(reverse("share_link:archive", args=[token]))
    assert (single.status_code, archive.status_code) == (403, 403)
    assert b"viewing only" in single.content
    refused = AuditEvent.objects.filter(action=Action.SHARING_LINK_DOWNLOAD, outcome="denied")
    assert sorted(event.details["outcome"] for event in refused) == ["view only", "view only"]
    assert refused.filter(details__path="/Compte rendu.pdf").exists()  # lineage
    link.refresh_from_db()
    assert link.download_count == 1  # the one file viewed (its page and its PDF)


def test_the_owner_sets_view_only_from_the_form_and_the_api(owner: User, samples: Samples) -> None:
    browser = client_signed_in(owner)
    file = samples.pdf.file
    page = browser.get(reverse("sharing:file_links", args=[file.pk]))
    assert b'name="view_only"' in page.content
    _token, plaintext = tokens.token_create(
        actor=owner, name="links", scopes=["read", "share"], expires_in_days=30
    )
    api = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    created = api.post(
        f"/api/v1/sharing/files/{file.pk}/links/",
        {"view_only": True},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["view_only"] is True


@pytest.mark.usefixtures("transfers_without_code")
def test_a_transfer_recipient_previews_the_version_that_was_sent(owner: User) -> None:
    transfer = transfers.transfer_create(
        actor=owner, subject="Radio", expires_at=timezone.now() + dt.timedelta(days=7)
    )
    assert transfer.folder is not None
    sent = version_store(
        actor=owner, folder=transfer.folder, name="Radio.png", content=png_bytes(64, 64)
    )
    [link] = transfers.transfer_send(
        actor=owner, transfer=transfer, recipients=["dr.radio@clinique.example"]
    )
    # A newer version after sending: the recipient still sees what was sent.
    version_store(actor=owner, folder=transfer.folder, name="Radio.png", content=jpeg_bytes())
    recipient = Client()
    recipient.get(reverse("share_link:open", args=[link.token]))
    image = recipient.get(reverse("share_link:preview_rendition", args=[link.token, sent.file_id]))
    assert image.status_code == 200
    with Image.open(io.BytesIO(image.content)) as shown:
        assert shown.size == (64, 64)
    [event] = views_of(sent)
    assert event.details["transfer"] == transfer.pk


def test_an_iphone_photo_in_heic_is_previewed() -> None:
    """Encoded by pillow-heif without registering it into Pillow: the rendition must
    register the HEIF opener itself (this test passed only after another test's
    rendition had, in the same worker, until CI ran it first)."""
    heic = io.BytesIO()
    pillow_heif.from_pillow(Image.new("RGB", (120, 90), "navy")).save(heic, quality=80)
    rendition = image_rendition(heic.getvalue(), formats=IMAGE_FORMATS["image/heic"])
    assert (rendition.width, rendition.height) == (120, 90)
    assert rendition.content_type == "image/jpeg"


def test_the_file_page_names_each_version_s_type_in_words(owner: User, samples: Samples) -> None:
    """A clinician reads "Document PDF", not "application/pdf" broken over two lines;
    the exact type stays in the cell's title for whoever needs it."""
    browser = client_signed_in(owner)
    page = browser.get(
        reverse("files:file", args=[samples.pdf.file_id]), HTTP_ACCEPT_LANGUAGE="fr"
    ).content.decode()
    cell = re.search(r'<td class="small" data-label="Type" title="([^"]*)">([^<]*)</td>', page)
    assert cell is not None, page
    assert (cell.group(1), cell.group(2)) == ("application/pdf", "Document PDF")


def test_a_csv_of_numbers_only_keeps_its_first_row_as_data() -> None:
    """No header row invented: a first row like the others stays a row of cells."""
    from files.previews import csv_has_header

    assert not csv_has_header("72;120\n80;118\n76;121\n")
    assert csv_has_header("pouls;tension\n72;120\n80;118\n")
