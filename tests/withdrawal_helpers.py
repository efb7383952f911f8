"""What the withdrawal tests share (tests/test_auditor_grant_withdraws.py,
tests/test_team_leave_withdraws.py): Alice's files in Cardiologie's space and her own,
and a transfer of them to a radiologist. Fixtures are imported by name; pytest injects
them."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import Team, User
from files import services
from files.models import File, Folder
from sharing.services import transfers
from tests.files_helpers import content_of, root_of, version_store

RADIOLOGIST = "dr.radio@clinique.example"
WITHDRAWN_PAGE = "This link was withdrawn"
CLOSED_PAGE = "This file request is closed"


def week() -> dt.datetime:
    return timezone.now() + dt.timedelta(days=7)


@pytest.fixture
def team_folder(team: Team) -> Folder:
    return services.space_root(services.space_team_get_or_create(team=team))


@pytest.fixture
def echo(owner: User, team_folder: Folder) -> File:
    """Mrs Dupont's echo in Cardiologie's space."""
    return version_store(
        actor=owner, folder=team_folder, name="Dupont Marie - echo.jpg", content=content_of(700)
    ).file


@pytest.fixture
def letter(owner: User) -> File:
    """A letter in Alice's own files."""
    return version_store(
        actor=owner, folder=root_of(owner), name="Lettre Martin.pdf", content=content_of(500)
    ).file


def transfer_sent(alice: User, subject: str, files: list[File], capture: Any) -> str:
    """A transfer of ``files`` to the radiologist; returns her link's token."""
    transfer = transfers.transfer_create(actor=alice, subject=subject, expires_at=week())
    transfers.transfer_files_add(actor=alice, transfer=transfer, files=files)
    before = len(mail.outbox)
    with capture(execute=True):
        transfers.transfer_send(actor=alice, transfer=transfer, recipients=[RADIOLOGIST])
    [sent] = mail.outbox[before:]
    found = re.search(r"/s/([A-Za-z0-9_-]{43})/", str(sent.body))
    assert found
    return found.group(1)
