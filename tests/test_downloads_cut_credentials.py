"""A download under way stops within seconds once the credential it was started with
ends, whatever that credential is: an API token revoked (a script's token leaked, a
laptop stolen), a transfer withdrawn (sent to the wrong person). The browser session,
the account and a link withdrawn are told in tests/test_review_signin.py,
tests/test_offboarding_channels.py and tests/test_downloads_cut_when_access_ends.py.

One story runs against a real server, with a file larger than the socket buffers, so
that what is checked is bytes that really stop coming, not only an iterator that raises.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import time_machine
from django.core import mail
from django.test import Client, override_settings
from django.utils import timezone

from accounts import tokens
from accounts.models import PersonalAccessToken, User
from audit import readable
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from files import downloads
from files.downloads import DownloadCutOff
from sharing.models import ShareLink, Transfer
from sharing.services.transfers import transfer_revoke
from tests.files_helpers import chunks_of, content_of, root_of, version_store
from tests.helpers import client_signed_in, expiry_fields


def token_for(user: User, name: str) -> tuple[PersonalAccessToken, str]:
    return tokens.token_create(actor=user, name=name, scopes=["read"], expires_in_days=30)


def cut_event() -> AuditEvent:
    return AuditEvent.objects.get(action=Action.FILES_VERSION_DOWNLOAD, outcome=Outcome.DENIED)


@pytest.mark.django_db
@pytest.mark.usefixtures("folder_backend", "small_segments")
def test_a_token_revoked_while_a_script_downloads_stops_the_download(owner: User) -> None:
    study = version_store(
        actor=owner, folder=root_of(owner), name="etude-genou.dcm", content=content_of(6000)
    ).file
    token, plaintext = token_for(owner, "Script PACS")
    script = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    with time_machine.travel(timezone.now(), tick=False) as clock:
        response = script.get(f"/api/v1/files/{study.pk}/content/")
        assert response.status_code == 200
        body = chunks_of(response)
        received = [next(body)]
        # The token leaked: its person revokes it on her token page.
        tokens.token_revoke(actor=owner, token=token)
        clock.shift(dt.timedelta(seconds=30))
        with pytest.raises(DownloadCutOff, match="token revoked"):
            received.extend(body)
    assert len(b"".join(received)) < 6000
    event = cut_event()
    assert event.actor_id == str(owner.pk)
    assert event.details["reason"] == "token revoked"
    assert event.details["name"] == "etude-genou.dcm"
    assert event.details["during"] == "stream"
    [row] = readable.readable_events([event])
    assert row.what == "etude-genou.dcm"
    assert "Script PACS" in row.who_via


@pytest.mark.django_db
@pytest.mark.usefixtures("folder_backend", "small_segments")
def test_a_token_expiring_while_a_script_downloads_stops_the_download(owner: User) -> None:
    study = version_store(
        actor=owner, folder=root_of(owner), name="etude.dcm", content=content_of(6000)
    ).file
    token, plaintext = token_for(owner, "Script nuit")
    script = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    with time_machine.travel(token.expires_at - dt.timedelta(seconds=10), tick=False) as clock:
        body = chunks_of(script.get(f"/api/v1/files/{study.pk}/content/"))
        received = [next(body)]
        clock.shift(dt.timedelta(seconds=30))
        with pytest.raises(DownloadCutOff, match="token expired"):
            received.extend(body)
    assert len(b"".join(received)) < 6000
    assert cut_event().details["reason"] == "token expired"


@pytest.mark.django_db
@pytest.mark.usefixtures("folder_backend", "small_segments", "transfers_without_code")
def test_a_transfer_withdrawn_while_its_recipient_downloads_stops_the_download(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    sender = client_signed_in(owner)
    response = sender.post("/sharing/transfers/new/", {"subject": "IRM genou", **expiry_fields(7)})
    assert response.status_code == 302
    transfer = Transfer.objects.latest("pk")
    assert transfer.folder is not None
    study = version_store(
        actor=owner, folder=transfer.folder, name="irm.dcm", content=content_of(6000)
    ).file
    with django_capture_on_commit_callbacks(execute=True):
        sent = sender.post(
            f"/sharing/transfers/{transfer.pk}/send/", {"recipients": "dr.b@clinique.example"}
        )
    assert sent.status_code == 302
    token = mail.outbox[-1].body.split("/s/", 1)[1].split("/", 1)[0]
    link = ShareLink.objects.get(transfer=transfer)
    recipient = Client()
    assert recipient.get(f"/s/{token}/").status_code == 200
    with time_machine.travel(timezone.now(), tick=False) as clock:
        body = chunks_of(recipient.get(f"/s/{token}/files/{study.pk}/"))
        received = [next(body)]
        transfer_revoke(actor=owner, transfer=transfer)  # "wrong recipient!"
        clock.shift(dt.timedelta(seconds=30))
        with pytest.raises(DownloadCutOff, match="revoked"):
            received.extend(body)
    assert len(b"".join(received)) < 6000
    event = cut_event()
    assert event.actor_label == f"link:{link.pk}"
    assert event.details["name"] == "irm.dcm"


# --- A real server -------------------------------------------------------------------------

BIG = 24 * 1024 * 1024  # well beyond loopback socket buffers (a few MiB each way)


def slowly(response: requests.Response) -> Iterator[bytes]:
    yield from response.iter_content(64 * 1024)


def drain(body: Iterator[bytes], *, into: bytearray) -> None:
    for chunk in body:
        into += chunk


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("folder_backend")
def test_a_real_server_stops_sending_once_the_token_is_revoked(
    live_server: Any, owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Asked again at every segment rather than every 5 s: the story takes no 5 s.
    monkeypatch.setattr(downloads, "ACCESS_RECHECK_SECONDS", 0.0)
    content = random.Random(7).randbytes(BIG)  # noqa: S311  (test data)
    with override_settings(FILES_SEGMENT_SIZE=256 * 1024):
        study = version_store(
            actor=owner, folder=root_of(owner), name="scanner-thorax.dcm", content=content
        ).file
    token, plaintext = token_for(owner, "Passerelle PACS")
    received = bytearray()
    with requests.get(
        f"{live_server.url}/api/v1/files/{study.pk}/content/",
        headers={"Authorization": f"Bearer {plaintext}"},
        stream=True,
        timeout=60,
    ) as response:
        assert response.status_code == 200
        assert int(response.headers["Content-Length"]) == BIG
        body = slowly(response)
        received += next(body)
        tokens.token_revoke(actor=owner, token=token)
        with pytest.raises(requests.exceptions.RequestException):
            drain(body, into=received)
    assert len(received) < BIG // 2
    assert bytes(received) == content[: len(received)]
    event = cut_event()
    assert event.details["reason"] == "token revoked"
    assert event.details["name"] == "scanner-thorax.dcm"
    assert event.details.get("api_token_name", "") in ("", "Passerelle PACS")
    [row] = readable.readable_events([event])
    assert "Passerelle PACS" in row.who_via
