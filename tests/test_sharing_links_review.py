"""An outside reviewer's probes of external links and transfers: a recipient (or
whoever got hold of a link) tries every way around what the link promises.

Fixtures are imported by name from tests.files_helpers; pytest injects them.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team, TeamMembership, User
from audit.actions import Action
from audit.models import AuditEvent
from core.log_format import TOKEN_REDACTED, UTCFormatter
from files import services
from files.downloads import version_etag
from files.models import File, FileVersion, ScanStatus
from sharing.models import ShareLinkDownload
from sharing.services.links import share_link_create
from sharing.services.transfers import transfer_create, transfer_files_add, transfer_send
from tests.files_helpers import Backend, body_of, content_of, root_of, version_store
from tests.helpers import client_signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rate_limit_cache")]

PASSWORD = "Radiologie-2026"
SEED = "compte-rendu.pdf"


def open_url(token: str) -> str:
    return reverse("share_link:open", args=[token])


def file_url(token: str, file: File) -> str:
    return reverse("share_link:file", args=[token, file.pk])


def shared_file(owner: User, size: int = 5000) -> FileVersion:
    return version_store(
        actor=owner, folder=root_of(owner), name=SEED, content=content_of(size, seed=SEED)
    )


def opened(token: str) -> Client:
    recipient = Client()
    assert recipient.get(open_url(token)).status_code == 200
    return recipient


# --- Download limits ------------------------------------------------------------------------


def test_a_counted_session_cannot_take_the_file_again_and_again_as_resumes(
    owner: User, folder_backend: Backend
) -> None:
    """One download allowed: after taking the whole file, "bytes=1-" is no resume of
    anything; it is a new download, refused once the limit is reached."""
    version = shared_file(owner, size=10_000)
    link, token = share_link_create(actor=owner, target=version.file, max_downloads=1)
    recipient = opened(token)
    assert body_of(recipient.get(file_url(token, version.file))) == content_of(10_000, seed=SEED)

    for _attempt in range(3):
        again = recipient.get(file_url(token, version.file), HTTP_RANGE="bytes=1-")
        assert again.status_code == 410
        assert not getattr(again, "streaming", False)
    link.refresh_from_db()
    assert link.download_count == 1
    assert ShareLinkDownload.objects.get(link=link).bytes_sent == 10_000


def test_a_resume_in_pieces_still_counts_once(owner: User, folder_backend: Backend) -> None:
    version = shared_file(owner, size=10_000)
    link, token = share_link_create(actor=owner, target=version.file, max_downloads=1)
    recipient = opened(token)
    whole = content_of(10_000, seed=SEED)
    pieces = [
        recipient.get(file_url(token, version.file), HTTP_RANGE=header)
        for header in ("bytes=0-2999", "bytes=3000-5999", "bytes=6000-")
    ]
    assert [piece.status_code for piece in pieces] == [206, 206, 206]
    assert b"".join(body_of(piece) for piece in pieces) == whole
    link.refresh_from_db()
    assert link.download_count == 1


def test_head_never_counts_and_never_sends_bytes(owner: User, folder_backend: Backend) -> None:
    version = shared_file(owner)
    link, token = share_link_create(actor=owner, target=version.file, max_downloads=1)
    recipient = opened(token)
    for _attempt in range(3):
        head = recipient.head(file_url(token, version.file))
        assert head.status_code == 200
        assert head.content == b""
    link.refresh_from_db()
    assert link.download_count == 0


# --- Password: no door around it ----------------------------------------------------------


def test_no_address_of_a_password_link_gives_a_byte_before_the_password(
    owner: User, folder_backend: Backend
) -> None:
    version = shared_file(owner)
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Dossier")
    inner = version_store(actor=owner, folder=folder, name="scan.png", content=b"x" * 300)
    _l1, file_token = share_link_create(actor=owner, target=version.file, password=PASSWORD)
    _l2, folder_token = share_link_create(actor=owner, target=folder, password=PASSWORD)
    recipient = Client()
    recipient.get(open_url(file_token))
    recipient.get(open_url(folder_token))
    addresses = [
        reverse("share_link:file", args=[file_token, version.file.pk]),
        reverse("share_link:preview", args=[file_token, version.file.pk]),
        reverse("share_link:preview_stream", args=[file_token, version.file.pk]),
        reverse("share_link:preview_rendition", args=[file_token, version.file.pk]),
        reverse("share_link:archive", args=[folder_token]),
        reverse("share_link:file", args=[folder_token, inner.file.pk]),
        reverse("share_link:preview_stream", args=[folder_token, inner.file.pk]),
    ]
    for address in addresses:
        for response in (
            recipient.get(address),
            recipient.get(address, HTTP_RANGE="bytes=0-"),
            recipient.get(address, HTTP_RANGE="bytes=10-"),
            recipient.head(address),
        ):
            assert response.status_code in (302, 405), address
            assert not getattr(response, "streaming", False)
    # The password of one link unlocks that link only.
    recipient.post(open_url(file_token), {"action": "password", "password": PASSWORD})
    assert recipient.get(reverse("share_link:archive", args=[folder_token])).status_code == 302


# --- Expiry ------------------------------------------------------------------------------------


def test_a_link_dies_at_its_expiry_to_the_second_in_an_open_session(
    owner: User, folder_backend: Backend
) -> None:
    version = shared_file(owner)
    expires = timezone.now() + dt.timedelta(days=1)
    _link, token = share_link_create(actor=owner, target=version.file, expires_at=expires)
    recipient = Client()
    with time_machine.travel(expires - dt.timedelta(seconds=1), tick=False):
        assert recipient.get(open_url(token)).status_code == 200
        assert recipient.get(file_url(token, version.file)).status_code == 200
    with time_machine.travel(expires, tick=False):
        assert recipient.get(open_url(token)).status_code == 410
        assert recipient.get(file_url(token, version.file)).status_code == 410
        stream = reverse("share_link:preview_stream", args=[token, version.file.pk])
        assert recipient.get(stream).status_code == 410


# --- The shared item changes under the link ---------------------------------------------------


def test_a_file_trashed_with_its_folder_or_quarantined_stops_at_the_next_click(
    owner: User, folder_backend: Backend
) -> None:
    trashed = shared_file(owner)
    _l1, t1 = share_link_create(actor=owner, target=trashed.file)
    first = opened(t1)
    services.file_delete(actor=owner, file=trashed.file)
    assert first.get(file_url(t1, trashed.file)).status_code == 410

    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Études")
    inside = version_store(actor=owner, folder=folder, name="irm.dcm", content=b"d" * 500)
    _l2, t2 = share_link_create(actor=owner, target=inside.file)
    second = opened(t2)
    services.folder_delete(actor=owner, folder=folder)
    assert second.get(file_url(t2, inside.file)).status_code == 410

    quarantined = version_store(actor=owner, folder=root_of(owner), name="q.pdf", content=b"q" * 9)
    _l3, t3 = share_link_create(actor=owner, target=quarantined.file)
    third = opened(t3)
    services.version_mark_scanned(version=quarantined, status=ScanStatus.QUARANTINED)
    refused = third.get(file_url(t3, quarantined.file))
    assert refused.status_code == 409
    assert not getattr(refused, "streaming", False)


# --- Hostile input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "é" * 43,
        "a" * 5000,
        "%2e%2e",
        "A" * 42 + "=",
        "A" * 43 + "\n",
        "\u0000" * 3,
    ],
)
def test_malformed_tokens_get_a_404_page_and_an_audit_event(token: str, db: None) -> None:
    before = AuditEvent.objects.filter(action=Action.SHARING_LINK_ACCESS).count()
    response = Client().get(f"/s/{token}/")
    assert response.status_code == 404
    assert AuditEvent.objects.filter(action=Action.SHARING_LINK_ACCESS).count() == before + 1


def test_hostile_file_ids_ranges_and_actions_get_4xx_never_500(
    owner: User, folder_backend: Backend
) -> None:
    version = shared_file(owner)
    _link, token = share_link_create(actor=owner, target=version.file)
    recipient = opened(token)
    huge = "9" * 30
    for tail in ("", "preview/", "preview/stream/", "preview/image/"):
        assert recipient.get(f"/s/{token}/files/{huge}/{tail}").status_code == 404, tail
    for header in ("bytes=-0", "bytes=99999999999999999999999-", "bytes=a-b", "bytes=--1"):
        response = recipient.get(file_url(token, version.file), HTTP_RANGE=header)
        assert response.status_code in (200, 206, 416), header
    posted = recipient.post(open_url(token), {"action": "code", "code": "x" * 10_000})
    assert posted.status_code == 200
    assert recipient.post(open_url(token), {"action": "\u0000"}).status_code == 200


# --- Caching and logs --------------------------------------------------------------------


def test_link_pages_and_content_are_never_stored_by_a_cache(
    owner: User, folder_backend: Backend
) -> None:
    version = shared_file(owner)
    _link, token = share_link_create(actor=owner, target=version.file)
    recipient = Client()
    for response in (
        recipient.get(open_url(token)),
        recipient.get(file_url(token, version.file)),
        recipient.get(reverse("share_link:preview", args=[token, version.file.pk])),
        recipient.get(f"/s/{token}/files/999999/"),
        Client().get("/s/" + "B" * 43 + "/"),
    ):
        assert "no-store" in response["Cache-Control"]


def test_a_live_token_never_reaches_the_application_log(
    owner: User, folder_backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    """Django logs every 4xx with its path; a recipient's wrong click must not write a
    live capability to patient data into the log (docs: tokens never reach the log)."""
    version = shared_file(owner)
    _link, token = share_link_create(actor=owner, target=version.file, view_only=True)
    recipient = opened(token)
    with caplog.at_level(logging.INFO):
        assert recipient.get(f"/s/{token}/files/999999/").status_code == 404
        assert recipient.get(file_url(token, version.file)).status_code == 403
    # What the site's handlers write (securedrive/settings.py LOGGING: stderr).
    formatters = [
        handler.formatter
        for handler in logging.getLogger().handlers
        if isinstance(handler.formatter, UTCFormatter)
    ]
    assert formatters
    lines = [formatter.format(record) for formatter in formatters for record in caplog.records]
    assert any(f"/s/{TOKEN_REDACTED}/files/999999/" in line for line in lines), lines
    assert all(token not in line for line in lines)


def test_a_live_token_never_reaches_the_access_log() -> None:
    """gunicorn's access line carries the path, and the token is in the path."""
    from gunicorn.config import Config  # type: ignore[import-untyped]

    from securedrive.gunicorn_logging import UTCLogger

    config = Config()
    config.set("accesslog", "-")
    config.set("access_log_format", '%(h)s "%(m)s %(U)s %(H)s" %(s)s "%(r)s" "%(f)s"')
    logger = UTCLogger(config)
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    keep = Keep()
    keep.setFormatter(logger.access_log.handlers[0].formatter)
    logger.access_log.addHandler(keep)
    token = "Kx9_" + "a" * 39
    request_path = f"/s/{token}/files/12/"

    class Response:
        status = "200 OK"
        response_length = 10
        sent = 10
        headers: list[tuple[str, str]] = []

    class Request:
        headers: list[tuple[str, str]] = []
        method = "GET"
        uri = request_path
        path = request_path
        query = ""
        version = (1, 1)

    environ = {
        "REMOTE_ADDR": "198.51.100.7",
        "REQUEST_METHOD": "GET",
        "RAW_URI": request_path,
        "PATH_INFO": request_path,
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://drive.example/s/{token}/",
    }
    logger.access(Response(), Request(), environ, dt.timedelta(milliseconds=3))
    assert lines
    assert all(token not in line for line in lines), lines
    assert f'"GET /s/{TOKEN_REDACTED}/files/12/ HTTP/1.1"' in lines[0]


# --- Audit ------------------------------------------------------------------------------------


def test_every_download_names_the_file_the_link_and_the_recipient(
    owner: User, folder_backend: Backend
) -> None:
    version = shared_file(owner)
    link, token = share_link_create(
        actor=owner, target=version.file, recipient_email="dr.b@clinique.example"
    )
    recipient = opened(token)
    body_of(recipient.get(file_url(token, version.file)))
    event = AuditEvent.objects.get(action=Action.SHARING_LINK_DOWNLOAD, details__outcome="ok")
    assert event.details["name"] == SEED
    assert event.details["recipient"] == "dr.b@clinique.example"
    assert event.target_id == str(link.pk)
    assert event.actor_label == f"link:{link.pk}"


# --- Transfers --------------------------------------------------------------------------


def _team_file_sent(teammate: User, team: Team) -> tuple[File, str, str]:
    """Tom sends a file of the cardiology team's space by transfer and by a link."""
    space = services.space_team_get_or_create(team=team)
    version = version_store(
        actor=teammate,
        folder=services.space_root(space),
        name="echo-coeur.pdf",
        content=content_of(700, seed="echo"),
    )
    transfer = transfer_create(
        actor=teammate,
        subject="Échographie",
        expires_at=timezone.now() + dt.timedelta(days=7),
    )
    transfer_files_add(actor=teammate, transfer=transfer, files=[version.file])
    [sent] = transfer_send(
        actor=teammate, transfer=transfer, recipients=["dr.cardio@clinique.example"]
    )
    _link, link_token = share_link_create(actor=teammate, target=version.file)
    return version.file, sent.token, link_token


@pytest.mark.usefixtures("transfers_without_code")
def test_a_sender_who_leaves_the_team_no_longer_sends_its_files_by_transfer(
    owner: User, teammate: User, team: Team, folder_backend: Backend
) -> None:
    """A link to a team file dies when its creator leaves the team; a transfer of the
    same file, by the same person, must not outlive their right either."""
    file, transfer_token, link_token = _team_file_sent(teammate, team)
    recipient = opened(transfer_token)
    assert recipient.get(file_url(transfer_token, file)).status_code == 200

    TeamMembership.objects.filter(team=team, user=teammate).delete()

    assert Client().get(open_url(link_token)).status_code == 410
    again = recipient.get(file_url(transfer_token, file))
    assert again.status_code in (404, 410)
    assert not getattr(again, "streaming", False)
    archive = recipient.get(reverse("share_link:archive", args=[transfer_token]))
    assert zipfile.ZipFile(io.BytesIO(body_of(archive))).namelist() == []
    page = recipient.get(open_url(transfer_token))
    assert "echo-coeur.pdf" not in page.content.decode()


# --- Races ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_eight_sessions_racing_for_two_downloads_get_exactly_two(
    owner: User, folder_backend: Backend, on_postgres: None
) -> None:
    version = shared_file(owner, size=3000)
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Série")
    version_store(actor=owner, folder=folder, name="a.dcm", content=b"a" * 100)
    file_link, file_token = share_link_create(actor=owner, target=version.file, max_downloads=2)
    folder_link, folder_token = share_link_create(actor=owner, target=folder, max_downloads=2)
    count = 8
    sessions = [opened(file_token) for _index in range(count)]
    for session in sessions:
        assert session.get(open_url(folder_token)).status_code == 200
    barrier = threading.Barrier(count)

    def race(index: int) -> tuple[int, int]:
        try:
            barrier.wait(timeout=30)
            one = sessions[index].get(file_url(file_token, version.file))
            body_of(one)
            zipped = sessions[index].get(reverse("share_link:archive", args=[folder_token]))
            body_of(zipped)
            return one.status_code, zipped.status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(count) as pool:
        results = list(pool.map(race, range(count)))
    assert sorted(one for one, _zip in results) == [200, 200] + [410] * (count - 2)
    assert sorted(zipped for _one, zipped in results) == [200, 200] + [410] * (count - 2)
    for link in (file_link, folder_link):
        link.refresh_from_db()
        assert link.download_count == 2
        assert ShareLinkDownload.objects.filter(link=link).count() == 2


def test_a_whole_file_sent_for_a_stale_if_range_is_a_new_download_not_a_resume(
    owner: User, folder_backend: Backend
) -> None:
    """A "resume" whose If-Range does not match gets the whole file (200): that is a
    download from the first byte, and counts as one."""
    version = shared_file(owner, size=10_000)
    link, token = share_link_create(actor=owner, target=version.file, max_downloads=1)
    recipient = opened(token)
    assert (
        body_of(recipient.get(file_url(token, version.file), HTTP_RANGE="bytes=0-0"))
        == (content_of(10_000, seed=SEED)[:1])
    )
    whole = recipient.get(
        file_url(token, version.file), HTTP_RANGE="bytes=1-", HTTP_IF_RANGE='"stale"'
    )
    assert whole.status_code == 410
    assert not getattr(whole, "streaming", False)
    # The same resume with the right ETag is one.
    rest = recipient.get(
        file_url(token, version.file), HTTP_RANGE="bytes=1-", HTTP_IF_RANGE=version_etag(version)
    )
    assert rest.status_code == 206
    assert body_of(rest) == content_of(10_000, seed=SEED)[1:]
    link.refresh_from_db()
    assert link.download_count == 1


def test_one_recipients_code_or_session_never_opens_another_recipients_link(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    version = shared_file(owner)
    transfer = transfer_create(
        actor=owner, subject="Bilan", expires_at=timezone.now() + dt.timedelta(days=3)
    )
    transfer_files_add(actor=owner, transfer=transfer, files=[version.file])
    with django_capture_on_commit_callbacks(execute=True):
        anna, bruno = transfer_send(
            actor=owner,
            transfer=transfer,
            recipients=["anna@clinique.example", "bruno@labo.example"],
            email_verification=True,
        )
    mallory = Client()  # Bruno, curious about Anna's link (forwarded to him by mistake)
    mallory.get(open_url(bruno.token))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        mallory.post(open_url(bruno.token), {"action": "send_code"})
    (message,) = mail.outbox
    assert message.to == ["bruno@labo.example"]
    code = message.subject.rsplit(" ", 1)[-1]
    # His code on Anna's link: refused; his unlocked session does not open hers.
    mallory.get(open_url(anna.token))
    refused = mallory.post(open_url(anna.token), {"action": "code", "code": code})
    assert refused.status_code == 400
    assert "No code is waiting for this link" in refused.content.decode()
    assert mallory.post(open_url(bruno.token), {"action": "code", "code": code}).status_code == 302
    assert mallory.get(file_url(bruno.token, version.file)).status_code == 200
    assert mallory.get(file_url(anna.token, version.file)).status_code == 302
    # Asking a code on Anna's link sends it to Anna, never to whoever asks.
    with django_capture_on_commit_callbacks(execute=True):
        mallory.post(open_url(anna.token), {"action": "send_code"})
    assert mail.outbox[-1].to == ["anna@clinique.example"]
    # Guessing is cut short: five wrong codes kill Anna's code, and the link's guesses
    # are limited whatever the code.
    answers = [
        mallory.post(open_url(anna.token), {"action": "code", "code": f"{guess:08d}"})
        for guess in range(12)
    ]
    # The code dies after five; the link takes ten guesses (Bruno's code was the first).
    assert [answer.status_code for answer in answers] == [400] * 9 + [429] * 3
    assert "Too many wrong codes" in answers[4].content.decode()
    assert mallory.get(file_url(anna.token, version.file)).status_code == 302


# --- The sender's forms and API: odd digits -------------------------------------------------


@pytest.mark.parametrize("digits", ["²", "٣", "9" * 5000])
def test_odd_digits_in_the_senders_forms_and_api_get_a_4xx_never_a_500(
    owner: User, folder_backend: Backend, digits: str
) -> None:
    """``str.isdigit`` says yes to "²" and to Arabic-Indic digits, and int() refuses the
    first and numbers of more than 4,300 digits: each was a 500."""
    version = shared_file(owner)
    client = client_signed_in(owner)
    client.raise_request_exception = False  # every answer, 500s included
    transfer = transfer_create(
        actor=owner, subject="Bilan", expires_at=timezone.now() + dt.timedelta(days=3)
    )
    transfer_files_add(actor=owner, transfer=transfer, files=[version.file])
    transfer_send(actor=owner, transfer=transfer, recipients=["anna@clinique.example"])
    draft = transfer_create(
        actor=owner, subject="Brouillon", expires_at=timezone.now() + dt.timedelta(days=3)
    )
    answers = {
        "link form expiry": client.post(
            reverse("sharing:file_links", args=[version.file.pk]), {"expiry": digits}
        ),
        "transfer form expiry": client.post(
            "/sharing/transfers/new/", {"subject": "x", "expiry": digits}
        ),
        "transfer pick": client.post(
            f"/sharing/transfers/{draft.pk}/files/", {"file_ids": [digits]}
        ),
        "request folder (GET)": client.get(f"/sharing/requests/new/?folder={digits}"),
        "request folder (POST)": client.post("/sharing/requests/new/", {"folder": digits}),
        "api revoke one recipient": client.post(
            f"/api/v1/sharing/transfers/{transfer.pk}/revoke/?link={digits}"
        ),
        "api shares": client.get(f"/api/v1/sharing/shares/?file={digits}"),
    }
    failed = {what: answer.status_code for what, answer in answers.items()}
    assert all(400 <= status < 500 or status == 200 for status in failed.values()), failed


def test_the_api_refuses_a_download_limit_beyond_what_the_form_allows(
    owner: User, folder_backend: Backend
) -> None:
    """The page caps a link's download limit at 10,000; the API took 10^12, which the
    database column cannot hold: a 500."""
    version = shared_file(owner)
    api = client_signed_in(owner)
    api.raise_request_exception = False
    url = reverse("sharing_api:file_links", args=[version.file_id])
    for limit in (10**12, 2**31, 10_001):
        created = api.post(url, {"max_downloads": limit}, content_type="application/json")
        assert created.status_code == 400, (limit, created.status_code)
    assert api.post(
        url, {"max_downloads": 10_000}, content_type="application/json"
    ).status_code == (201)


def test_huge_numbers_in_the_sharing_api_get_a_4xx_never_a_500(
    owner: User, folder_backend: Backend
) -> None:
    version = shared_file(owner)
    api = client_signed_in(owner)
    api.raise_request_exception = False
    draft = transfer_create(
        actor=owner, subject="Brouillon", expires_at=timezone.now() + dt.timedelta(days=3)
    )
    huge = 10**30
    answers = {
        "transfer files": api.post(
            f"/api/v1/sharing/transfers/{draft.pk}/files/", {"files": [huge]}, "application/json"
        ),
        "transfer days": api.post(
            "/api/v1/sharing/transfers/",
            {"subject": "x", "expires_in_days": huge},
            "application/json",
        ),
        "share file": api.post(
            "/api/v1/sharing/shares/",
            {"file": huge, "email": "tom@hopital.example", "role": "viewer"},
            "application/json",
        ),
        "request days": api.post(
            "/api/v1/sharing/requests/",
            {"title": "x", "folder": root_of(owner).pk, "expires_in_days": 99_999},
            "application/json",
        ),
        "request folder": api.post(
            "/api/v1/sharing/requests/", {"title": "x", "folder": huge}, "application/json"
        ),
        "request limits": api.post(
            "/api/v1/sharing/requests/",
            {"title": "x", "folder": root_of(owner).pk, "max_files": huge, "max_bytes": huge},
            "application/json",
        ),
        "link expiry": api.post(
            reverse("sharing_api:file_links", args=[version.file_id]),
            {"expires_at": "99999-01-01T00:00:00Z"},
            "application/json",
        ),
    }
    statuses = {what: answer.status_code for what, answer in answers.items()}
    assert all(400 <= status < 500 for status in statuses.values()), statuses


def test_a_resume_after_a_new_version_is_a_new_download_of_that_version(
    owner: User, folder_backend: Backend
) -> None:
    """A link to a file serves its current version. Half of version 1, then a new
    version: "the rest" is no rest of anything the receipt counted (it names version 1);
    it is a new download, counted, and refused past the limit."""
    version = shared_file(owner, size=10_000)
    link, token = share_link_create(actor=owner, target=version.file, max_downloads=1)
    recipient = opened(token)
    first = recipient.get(file_url(token, version.file), HTTP_RANGE="bytes=0-4999")
    assert body_of(first) == content_of(10_000, seed=SEED)[:5000]
    newer = version_store(
        actor=owner, folder=root_of(owner), name=SEED, content=content_of(10_000, seed="v2")
    )
    assert newer.file_id == version.file_id
    rest = recipient.get(file_url(token, version.file), HTTP_RANGE="bytes=5000-")
    assert rest.status_code == 410
    assert not getattr(rest, "streaming", False)
    link.refresh_from_db()
    assert link.download_count == 1
    assert ShareLinkDownload.objects.get(link=link).version_id == version.pk
