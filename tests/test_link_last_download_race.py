"""Two recipients click a link's last download at the same instant (PostgreSQL, real
threads and transactions): one gets the file, the other the clear refusal (410 page);
the audit log tells one consistent story (one start with its end, one refusal, no
"download started" left without an end); and no request signals its end before it
has ended (``request_finished`` closes the database connections).

Fixtures are imported by name from tests.files_helpers; pytest injects them.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.core.signals import request_finished
from django.db import connection, connections, transaction
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from sharing.models import ShareLink, ShareLinkDownload
from sharing.services.links import share_link_create
from tests.files_helpers import Backend, body_of, content_of, root_of, version_store

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("rate_limit_cache")]

WAITING_FOR_THE_LINK_ROW = """
    SELECT count(*) FROM pg_stat_activity
    WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE "sharing_sharelink"%%'
      AND datname = current_database()
"""


def test_the_recipient_who_loses_the_last_download_gets_the_refusal_and_a_clean_log(
    owner: User, folder_backend: Backend, on_postgres: None
) -> None:
    """Alice sends an MRI to a clinic with a one-download link; two secretaries open it
    and click at once. The link's row is held while both wait to count their download,
    so both have passed every check before either counts: the real race."""
    version = version_store(
        actor=owner, folder=root_of(owner), name="irm.dcm", content=content_of(4000, seed="irm")
    )
    link, token = share_link_create(actor=owner, target=version.file, max_downloads=1)
    secretaries = [Client(), Client()]
    for secretary in secretaries:
        assert secretary.get(reverse("share_link:open", args=[token])).status_code == 200
    url = reverse("share_link:file", args=[token, version.file.pk])

    # request_finished per thread: once per request, at its end, never in the middle.
    finished: Counter[int] = Counter()

    def count_finished(**kwargs: Any) -> None:
        finished[threading.get_ident()] += 1

    request_finished.connect(count_finished, weak=False)
    release = threading.Event()

    def hold_the_link_row() -> None:
        try:
            with transaction.atomic():
                ShareLink.objects.select_for_update().get(pk=link.pk)
                release.wait(timeout=60)
        finally:
            connections.close_all()

    def download(secretary: Client) -> tuple[int, bytes, int]:
        try:
            response = secretary.get(url)
            body = body_of(response)  # the test client closes it, as a server does
            return response.status_code, body, finished[threading.get_ident()]
        finally:
            connections.close_all()

    try:
        with ThreadPoolExecutor(3) as pool:
            holder = pool.submit(hold_the_link_row)
            clicks = [pool.submit(download, secretary) for secretary in secretaries]
            deadline = time.monotonic() + 30
            with connection.cursor() as cursor:
                while True:
                    cursor.execute(WAITING_FOR_THE_LINK_ROW)
                    waiting = cursor.fetchone()[0]
                    if waiting == 2 or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)  # waiting on another process's lock: no clock to freeze
            release.set()
            holder.result()
            results = sorted((click.result() for click in clicks), key=lambda r: r[0])
    finally:
        request_finished.disconnect(count_finished)
        release.set()

    assert waiting == 2, "both downloads were to wait on the link's row"
    (won, body, won_signals), (lost, page, lost_signals) = results
    assert (won, lost) == (200, 410)
    assert body == content_of(4000, seed="irm")
    assert b"<html" in page
    assert (won_signals, lost_signals) == (1, 1)

    link.refresh_from_db()
    assert link.download_count == 1
    assert ShareLinkDownload.objects.filter(link=link).count() == 1
    starts = AuditEvent.objects.filter(action=Action.FILES_VERSION_DOWNLOAD)
    assert starts.count() == 1
    ends = AuditEvent.objects.filter(action=Action.SHARING_LINK_DOWNLOAD, details__outcome="ok")
    assert [end.details["download"] for end in ends] == [starts.get().details["download"]]
    refusals = AuditEvent.objects.filter(
        action=Action.SHARING_LINK_DOWNLOAD, details__outcome="limit reached"
    )
    assert refusals.count() == 1
