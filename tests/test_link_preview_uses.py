"""A link's limit counts views as well as downloads (docs/sharing-links.md, "Counting
views and downloads").

A clinician shares a patient's letter "once": she expects it to be readable once, not
viewed indefinitely in the browser by whoever the link is forwarded to. Opening a
preview is one use of the link; the rest of that sitting (the page reloaded, the PDF
or video streamed, a video's Range requests) counts no more; the last allowed use
closes the link for every other browser, on record.

Fixtures are imported by name from tests.files_helpers; pytest injects them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team, User
from audit.actions import Action
from audit.models import AuditEvent
from files import services
from files.models import FileVersion
from sharing.models import ShareLink
from sharing.services.links import share_link_create
from tests.files_helpers import body_of, version_store
from tests.helpers import client_signed_in
from tests.media_samples import MP4_CLIP, pdf_bytes

# A sitting (sharing.services.link_downloads.PREVIEW_SITTING): what a reader expects.
PREVIEW_SITTING = dt.timedelta(hours=1)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "rate_limit_cache"),
]


def stored(owner: User, team: Team, name: str, content: bytes) -> FileVersion:
    folder = services.space_root(services.space_team_get_or_create(team=team))
    return version_store(actor=owner, folder=folder, name=name, content=content)


def used(link: ShareLink) -> int:
    link.refresh_from_db()
    return link.download_count


def test_a_letter_shared_once_is_read_once_and_then_closed_to_everyone(
    owner: User, team: Team
) -> None:
    letter = stored(owner, team, "Courrier Dupont.pdf", pdf_bytes(pages=1))
    link, token = share_link_create(actor=owner, target=letter.file, max_downloads=1)
    patient = Client()
    assert patient.get(reverse("share_link:open", args=[token])).status_code == 200
    page = patient.get(reverse("share_link:preview", args=[token, letter.file_id]))
    assert page.status_code == 200
    # The PDF's bytes, then the page reloaded: one sitting, one use.
    stream = patient.get(reverse("share_link:preview_stream", args=[token, letter.file_id]))
    assert stream.status_code == 200
    assert body_of(stream).startswith(b"%PDF")
    assert patient.get(reverse("share_link:preview", args=[token, letter.file_id])).status_code == (
        200
    )
    assert used(link) == 1

    # The link forwarded: another browser gets nothing, neither view nor download.
    forwarded = Client()
    landing = forwarded.get(reverse("share_link:open", args=[token]))
    view = forwarded.get(reverse("share_link:preview", args=[token, letter.file_id]))
    pdf = forwarded.get(reverse("share_link:preview_stream", args=[token, letter.file_id]))
    download = forwarded.get(reverse("share_link:file", args=[token, letter.file_id]))
    assert [r.status_code for r in (landing, view, pdf, download)] == [410, 410, 410, 410]
    assert "views and downloads" in view.content.decode()
    assert b"%PDF" not in pdf.content + download.content
    # Nor does the patient's own browser get a download on top of the reading.
    assert patient.get(reverse("share_link:file", args=[token, letter.file_id])).status_code == 410
    assert used(link) == 1

    refused_views = AuditEvent.objects.filter(action=Action.SHARING_LINK_VIEW, outcome="denied")
    assert refused_views.count() == 2
    assert {event.details["outcome"] for event in refused_views} == {"limit reached"}
    assert {event.details["name"] for event in refused_views} == {"Courrier Dupont.pdf"}
    [seen] = AuditEvent.objects.filter(action=Action.SHARING_LINK_VIEW, outcome="success")[:1]
    assert seen.details["use"] == "preview"
    assert seen.details["counted"] is True


def test_a_video_played_and_sought_in_one_sitting_counts_once(owner: User, team: Team) -> None:
    clip = stored(owner, team, "Échographie.mp4", MP4_CLIP.read_bytes())
    link, token = share_link_create(actor=owner, target=clip.file, max_downloads=2)
    recipient = Client()
    recipient.get(reverse("share_link:open", args=[token]))
    assert recipient.get(reverse("share_link:preview", args=[token, clip.file_id])).status_code == (
        200
    )
    stream = reverse("share_link:preview_stream", args=[token, clip.file_id])
    for byte_range in ("bytes=0-", "bytes=10-19", "bytes=0-99"):
        assert recipient.get(stream, HTTP_RANGE=byte_range).status_code == 206
    assert used(link) == 1
    # Watched again an hour later: a second use, the last one.
    with time_machine.travel(timezone.now() + PREVIEW_SITTING + dt.timedelta(minutes=1)):
        assert recipient.get(stream, HTTP_RANGE="bytes=0-").status_code == 206
        assert used(link) == 2
        # A third sitting, or anyone else: the link is used up.
        assert Client().get(reverse("share_link:open", args=[token])).status_code == 410
    with time_machine.travel(timezone.now() + 2 * PREVIEW_SITTING + dt.timedelta(minutes=2)):
        assert recipient.get(stream, HTTP_RANGE="bytes=0-").status_code == 410
    assert used(link) == 2


def test_the_owner_and_the_recipient_read_views_and_downloads_left(owner: User, team: Team) -> None:
    letter = stored(owner, team, "Courrier Dupont.pdf", pdf_bytes(pages=1))
    _link, token = share_link_create(actor=owner, target=letter.file, max_downloads=3)
    recipient = Client()
    landing = recipient.get(reverse("share_link:open", args=[token])).content.decode()
    assert "Viewing a file uses one" in landing
    recipient.get(reverse("share_link:preview", args=[token, letter.file_id]))
    owner_browser = client_signed_in(owner)
    form = owner_browser.get(reverse("sharing:file_links", args=[letter.file_id])).content.decode()
    assert "Limit of views and downloads" in form
    assert 'id="link-uses-left-' in form
    assert "2 left" in form
    assert "viewed in the browser" in form


def test_the_owner_is_told_of_the_first_use_once_saying_it_was_a_view(
    owner: User, team: Team, django_capture_on_commit_callbacks: Any
) -> None:
    """Alice shares a letter; Mrs Dupont reads it in the browser, then downloads it.
    Alice's one "first use" e-mail says it was viewed (a view-only link is never
    downloaded: she would otherwise never hear of it), no second e-mail follows, and
    her links page lists two lines, one per use, each saying what happened."""
    from django.core import mail

    letter = stored(owner, team, "Courrier Dupont.pdf", pdf_bytes(pages=1))
    _link, token = share_link_create(actor=owner, target=letter.file, max_downloads=5)
    patient = Client()
    patient.get(reverse("share_link:open", args=[token]))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        patient.get(reverse("share_link:preview", args=[token, letter.file_id]))
        patient.get(reverse("share_link:preview_stream", args=[token, letter.file_id]))
    [notice] = mail.outbox
    assert notice.to == [owner.email]
    assert notice.subject == "Your shared item was viewed"
    assert "was just viewed in the browser" in str(notice.body)
    assert "downloaded" not in str(notice.body)

    with django_capture_on_commit_callbacks(execute=True):
        body_of(patient.get(reverse("share_link:file", args=[token, letter.file_id])))
    assert len(mail.outbox) == 1  # one e-mail, for the first use

    page = client_signed_in(owner).get(reverse("sharing:file_links", args=[letter.file_id]))
    receipts = page.content.decode().count('class="link-receipt"')
    assert receipts == 2
    assert page.content.decode().count("viewed in the browser") == 1


def test_a_first_download_still_says_downloaded(
    owner: User, team: Team, django_capture_on_commit_callbacks: Any
) -> None:
    from django.core import mail

    letter = stored(owner, team, "Courrier Dupont.pdf", pdf_bytes(pages=1))
    _link, token = share_link_create(actor=owner, target=letter.file)
    patient = Client()
    patient.get(reverse("share_link:open", args=[token]))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        body_of(patient.get(reverse("share_link:file", args=[token, letter.file_id])))
    [notice] = mail.outbox
    assert notice.subject == "Your shared item was downloaded"
    assert "was just downloaded for the first time" in str(notice.body)
