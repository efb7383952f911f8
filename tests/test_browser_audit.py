"""An auditor answers "who opened this file?" in the browser and takes the answer away."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import expect

from accounts.models import User
from audit import services as audit
from audit.actions import Action
from audit.models import AuditEvent
from tests.conftest import BROWSER_TIMEOUT_MS, BrowserPage, user_create
from tests.helpers import client_signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def browser_signed_in(chromium: Any, live_server: Any, user: User) -> BrowserPage:
    """A Chromium tab carrying a session that passed password and second factor."""
    client = client_signed_in(user, user_agent="Chromium (records office)")
    context = chromium.new_context(base_url=live_server.url, locale="en-GB", accept_downloads=True)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    page.set_default_timeout(BROWSER_TIMEOUT_MS)
    return BrowserPage(page)


def test_auditor_finds_who_downloaded_a_file_and_exports_it(
    chromium: Any, live_server: Any, owner: User, outsider: User, tmp_path: Path
) -> None:
    auditor = user_create(
        "audrey.auditor@hopital.example", full_name="Audrey Auditor", is_auditor=True
    )
    for person, file_id in [(owner, 41), (outsider, 41), (owner, 42), (owner, 41)]:
        audit.record(
            action=Action.FILES_VERSION_DOWNLOAD,
            actor=person,
            target_type="files.file",
            target_id=file_id,
            details={"name": f"echo-{file_id}.pdf"},
        )
    expected = list(
        AuditEvent.objects.filter(target_type="files.file", target_id="41").order_by("sequence")
    )

    tab = browser_signed_in(chromium, live_server, auditor)
    tab.page.goto("/")
    tab.page.get_by_role("link", name="Audit").click()
    tab.page.get_by_role("heading", name="Who accessed this file or folder?").wait_for()
    tab.page.get_by_role("link", name="Explorer", exact=True).click()  # for experts
    tab.page.get_by_role("heading", name="Audit log").wait_for()
    tab.page.get_by_label("Action starts with").fill(Action.FILES_VERSION_DOWNLOAD)
    tab.page.get_by_label("Target type").fill("files.file")
    tab.page.get_by_label("Target id").fill("41")
    tab.page.get_by_role("button", name="Filter").click()
    rows = tab.page.locator("#audit-events tbody tr")
    expect(rows).to_have_count(3)  # the unfiltered log before it had more
    tab.screenshot("audit-filtered")

    tab.page.get_by_title("files.file 41").first.click()
    tab.page.get_by_role("heading", name="Audit log · echo-41.pdf").wait_for()
    expect(tab.page.locator("#audit-events tbody tr")).to_have_count(3)
    tab.screenshot("audit-target-history")

    with tab.page.expect_download() as download_info:
        tab.page.get_by_role("link", name="Export CSV").click()
    path = tmp_path / "export.csv"
    download_info.value.save_as(path)
    exported = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert [
        (int(row["sequence"]), row["actor"], row["action"], row["target_id"], row["event_hash"])
        for row in exported
    ] == [
        (event.sequence, event.actor_label, event.action, event.target_id, event.event_hash)
        for event in expected
    ]
    assert (
        AuditEvent.objects.filter(action=Action.AUDIT_EXPORT, actor_id=str(auditor.pk)).count() == 1
    )
    assert tab.console_errors == []
    tab.page.context.close()


def test_auditor_asks_who_accessed_a_file_from_a_phone(
    chromium: Any, live_server: Any, owner: User, tmp_path: Path
) -> None:
    """At 390 px the question, the search and the answer fit the screen, and each event
    is compact: the sentence saying what happened first, who and when on one line, the
    rest behind "Details" (each field stacked, an event took a screen's height)."""
    from files import services
    from tests.files_helpers import content_of, root_of, version_store

    auditor = user_create(
        "audrey.auditor@hopital.example", full_name="Audrey Auditor", is_auditor=True
    )
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Cardiologie")
    echo = version_store(
        actor=owner, folder=folder, name="Echo Dupont.pdf", content=content_of(3000)
    ).file
    audit.record(
        action=Action.FILES_VERSION_DOWNLOAD,
        actor=owner,
        target_type="files.version",
        target_id="v1",
        details={"file": echo.pk, "number": 1, "bytes": 3000},
    )
    tab = browser_signed_in(chromium, live_server, auditor)
    tab.page.set_viewport_size({"width": 390, "height": 844})
    tab.page.goto("/audit/")
    tab.page.get_by_label("Part of its name or path (deleted items too)").fill("dupont")
    tab.page.get_by_role("button", name="Search").first.click()
    tab.page.get_by_role("link", name="Echo Dupont.pdf").click()
    event = tab.page.locator("#audit-rows-compact li").first
    event.wait_for()
    # Measured once the stylesheets apply: the click waited for the page to arrive only.
    tab.page.wait_for_load_state("load")
    width = tab.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    sentence, who_when, *_rest = [line for line in event.inner_text().split("\n") if line]
    assert sentence.startswith("Downloaded Echo Dupont.pdf · version 1"), sentence
    assert who_when.startswith("Alice Martin · 20"), who_when
    assert "3.0\u00a0kB" not in event.inner_text()  # a detail, behind the disclosure
    box = event.bounding_box()
    assert box is not None
    assert box["height"] < 150, box
    summary = event.locator("summary")
    target = summary.bounding_box()
    assert target is not None
    assert target["height"] >= 24, target  # WCAG 2.5.8
    summary.click()
    expect(event.get_by_text("sent: 3.0\u00a0kB")).to_be_visible()
    expect(tab.page.locator("#audit-rows")).to_be_hidden()  # the events are met once
    tab.screenshot("audit-question-file-390")
    assert tab.console_errors == []
    tab.page.context.close()


@pytest.mark.usefixtures("transfers_without_code")
def test_every_way_a_pdf_left_is_one_row_in_its_history_and_in_the_csv(
    chromium: Any, live_server: Any, owner: User, tmp_path: Path
) -> None:
    """Issue #14, as judged: Alice's echo reaches a radiologist outside by transfer (the
    file alone, then the transfer's ZIP), a colleague through an internal share, a second
    outsider by link, and Alice downloads her new version. The auditor types part of the
    name, opens the file's history and sees each download once: who (e-mail or name),
    when in Paris time, bytes and completion; the CSV export has exactly the page's rows."""
    import re

    from django.core import mail
    from django.test import Client

    from files import services
    from files.models import ScanStatus
    from files.uploads import BlobIngest
    from sharing.models import ShareRole
    from sharing.services.links import share_link_create
    from sharing.services.shares import share_create
    from tests.files_helpers import body_of, content_of, root_of, version_store
    from tests.test_sharing_transfers import new_transfer, send, token_in

    auditor = user_create(
        "audrey.auditor@hopital.example", full_name="Audrey Auditor", is_auditor=True
    )
    colleague = user_create("claire.colleague@hopital.example", full_name="Claire Colleague")
    cardiology = services.folder_create(actor=owner, parent=root_of(owner), name="Cardiologie")
    echo = version_store(
        actor=owner, folder=cardiology, name="Echo Dupont.pdf", content=content_of(5000)
    ).file
    # 1. By transfer to dr.radio: the file alone, then the transfer's ZIP.
    alice = client_signed_in(owner)
    transfer = new_transfer(alice)
    alice.post(f"/sharing/transfers/{transfer.pk}/files/", {"file_ids": [str(echo.pk)]})
    assert send(alice, transfer, "dr.radio@clinique.example").status_code == 302
    token = token_in(mail.outbox[-1])
    radiologist = Client(HTTP_USER_AGENT="Mozilla/5.0 (Windows NT 10.0) Firefox/140.0")
    assert body_of(radiologist.get(f"/s/{token}/files/{echo.pk}/")) == content_of(5000)
    zipped = body_of(radiologist.get(f"/s/{token}/archive/"))
    assert len(zipped) > 5000
    # 2. Through an internal share to Claire.
    share_create(actor=owner, item=echo, recipient=colleague, role=ShareRole.VIEWER)
    shared = client_signed_in(colleague).get(f"/files/{echo.pk}/download/")
    assert body_of(shared) == content_of(5000)
    # 3. By link to a second outsider.
    _link, link_token = share_link_create(
        actor=owner, target=echo, recipient_email="dr.second@cabinet.example"
    )
    second = Client()
    second.get(f"/s/{link_token}/")
    assert body_of(second.get(f"/s/{link_token}/files/{echo.pk}/")) == content_of(5000)
    # 4. Alice stores a new version and downloads it.
    ingest = BlobIngest(max_bytes=8000)
    ingest.write(content_of(7000, seed="v2"))
    version_two = services.file_version_add(actor=owner, file=echo, sealed=ingest.finish())
    version_two = services.version_mark_scanned(version=version_two, status=ScanStatus.AVAILABLE)
    mine = alice.get(f"/files/{echo.pk}/versions/{version_two.pk}/download/")
    assert body_of(mine) == content_of(7000, seed="v2")

    tab = browser_signed_in(chromium, live_server, auditor)
    tab.page.goto("/audit/")
    tab.page.get_by_label("Part of its name or path (deleted items too)").fill("dupont")
    tab.page.get_by_role("button", name="Search").first.click()
    tab.page.get_by_role("link", name="Echo Dupont.pdf").click()
    rows = tab.page.locator("#audit-rows tbody tr")
    rows.first.wait_for()
    downloads = [text for text in rows.all_inner_texts() if "\tdownloaded" in text]
    texts = "\n----\n".join(downloads)
    assert len(downloads) == 5, texts  # single, ZIP, share, link, new version
    paris_time = re.compile(r"20\d\d-\d\d-\d\d \d\d:\d\d:\d\d CES?T")
    for text in downloads:
        assert paris_time.search(text), text
        assert "complete" in text, text
        assert "interrupted" not in text, text
    # Columns: when, who, action, what, origin, sent, outcome.
    who = sorted(text.split("\t")[1].split("\n")[0] for text in downloads)
    assert who == [
        "Alice Martin",
        "Claire Colleague",
        "dr.radio@clinique.example",
        "dr.radio@clinique.example",
        "dr.second@cabinet.example",
    ], texts
    assert sum("by transfer" in text.split("\t")[1] for text in downloads) == 2
    ours = [text for text in downloads if text.split("\t")[1].startswith("Alice Martin")]
    assert "version 2" in ours[0], ours
    assert "7.0\u00a0kB" in ours[0].split("\t")[5], ours
    assert sum("5.0\u00a0kB" in text.split("\t")[5] for text in downloads) == 4, texts
    assert "link:" not in tab.page.content()
    tab.screenshot("audit-every-way-out")

    shown = [int(value) for value in rows.evaluate_all("rs => rs.map(r => r.dataset.sequence)")]
    with tab.page.expect_download() as download_info:
        tab.page.get_by_role("link", name="Export CSV").click()
    path = tmp_path / "history.csv"
    download_info.value.save_as(path)
    exported = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    assert sorted(int(row["sequence"]) for row in exported) == sorted(shown)
    sent = {int(row["sequence"]): (row["bytes_sent"], row["completed"]) for row in exported}
    assert sorted(sent[sequence] for sequence in sent if sent[sequence][0]) == sorted(
        [("5000", "true")] * 4 + [("7000", "true")]
    )
    assert tab.console_errors == []
    tab.page.context.close()


def test_auditor_on_a_phone_reads_the_events_first_and_unfolds_the_filters_by_keyboard(
    chromium: Any, live_server: Any, owner: User, outsider: User
) -> None:
    """At 390 px, in French, the explorer's ten filters were laid out above the events,
    480 px of them between the chain's status and the exports: the first event began
    about 1,200 px down, a screen and a half. Folded into a disclosure, they take a line
    or two whose summary names the filters in force; the keyboard unfolds it (a
    <details>: no script needed), and on a wide screen it is open."""
    auditor = user_create(
        "audrey.auditor@hopital.example", full_name="Audrey Auditor", is_auditor=True
    )
    for person in (owner, outsider, owner):
        audit.record(
            action=Action.FILES_VERSION_DOWNLOAD,
            actor=person,
            target_type="files.file",
            target_id=41,
            details={"name": "echo-41.pdf"},
        )
    tab = browser_signed_in(chromium, live_server, auditor)
    tab.page.context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": "fr", "url": live_server.url}]
    )
    page = tab.page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/audit/explore/?actor={owner.email}&category=files")
    page.wait_for_load_state("load")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    above = page.locator("#audit-verification").bounding_box()
    below = page.locator("#audit-exports").bounding_box()
    assert above is not None
    assert below is not None
    filters_height = below["y"] - (above["y"] + above["height"])
    assert filters_height < 844 / 5, filters_height
    summary = page.locator("#audit-filters > summary")
    expect(summary).to_contain_text(
        f"Personne (e-mail ou identifiant)\u00a0: {owner.email} · Catégorie\u00a0: "
    )
    person = page.get_by_label("Personne (e-mail ou identifiant)")
    expect(person).to_be_hidden()

    summary.focus()
    page.keyboard.press("Enter")
    expect(person).to_be_visible()
    expect(person).to_have_value(owner.email)
    person.fill(outsider.email)
    page.keyboard.press("Enter")  # submits the form
    expect(page.locator("#audit-events-compact li")).to_have_count(1)
    expect(summary).to_contain_text(outsider.email)
    expect(person).to_be_hidden()  # folded again: the events come first

    page.set_viewport_size({"width": 1280, "height": 900})
    page.reload()
    expect(person).to_be_visible()  # open on a wide screen
    assert tab.console_errors == []
    page.context.close()
