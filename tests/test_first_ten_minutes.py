"""A new administrator's first ten minutes, from the README: the set-up link, choosing a
password, the first sign-in, a local virus scanner and readable log times."""

from __future__ import annotations

import logging
import re
import socket
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from core.log_format import FORMAT, UTCFormatter
from securedrive.config import clamd_address_default
from tests.conftest import PASSWORD, user_create

pytestmark = pytest.mark.django_db

LINK = re.compile(r"http://127\.0\.0\.1:8000(/accounts/setup/\S+/)")


def test_bootstrap_prints_the_set_up_link_last_and_framed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    call_command("bootstrap", admin_email="chief@hopital.example", no_static=True)
    lines = capsys.readouterr().out.rstrip().splitlines()
    assert lines[-1] == "=" * 78
    link_line = next(n for n, line in enumerate(lines) if LINK.search(line))
    ready_line = next(n for n, line in enumerate(lines) if "is ready at" in line)
    assert ready_line < link_line
    assert "chief@hopital.example" in "\n".join(lines[link_line - 3 : link_line])


def test_bootstrap_leaves_the_link_to_the_supervisor_when_told(
    capsys: pytest.CaptureFixture[str],
) -> None:
    call_command(
        "bootstrap", admin_email="chief@hopital.example", no_static=True, no_setup_link=True
    )
    assert not LINK.search(capsys.readouterr().out)
    call_command("setup_link", if_pending=True)
    assert LINK.search(capsys.readouterr().out)


def test_setup_link_command_prints_a_working_link_and_sign_in_is_prefilled(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("bootstrap", admin_email="chief@hopital.example", no_static=True)
    capsys.readouterr()
    call_command("setup_link")
    link = LINK.search(capsys.readouterr().out)
    assert link is not None
    assert AuditEvent.objects.filter(action=Action.ACCOUNTS_SETUP_LINK_ISSUE).count() == 1

    page = client.get(link.group(1), follow=True)
    assert "For the account <strong>chief@hopital.example</strong>" in page.content.decode()
    new_password = "Un mot de passe tres long 2026"
    done = client.post(
        page.redirect_chain[-1][0],
        {"new_password1": new_password, "new_password2": new_password},
        follow=True,
    )
    assert done.redirect_chain[-1][0] == "/accounts/login/"
    assert 'value="chief@hopital.example"' in done.content.decode()

    # Once the password is chosen, `make run` prints no link any more.
    call_command("setup_link", if_pending=True)
    assert not LINK.search(capsys.readouterr().out)


def test_setup_link_for_a_named_account_and_refused_for_an_unknown_one(
    owner: User, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("setup_link", owner.email.upper())
    assert owner.email in capsys.readouterr().out
    with pytest.raises(CommandError, match="No active account"):
        call_command("setup_link", "nobody@hopital.example")


def test_first_sign_in_of_a_new_account_sends_no_new_device_alert(
    django_capture_on_commit_callbacks: object,
) -> None:
    newcomer = user_create("nina.new@hopital.example", full_name="Nina New")
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        Client().post("/accounts/login/", {"username": newcomer.email, "password": PASSWORD})
    assert mail.outbox == []
    event = AuditEvent.objects.get(action=Action.ACCOUNTS_LOGIN, outcome="success")
    assert event.details["new_device"] is True  # still recorded for auditors


def test_a_trial_finds_debians_clamd_socket_by_itself(tmp_path: Path) -> None:
    path = tmp_path / "clamd.ctl"
    assert clamd_address_default(production=False, socket=path) == ""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
        assert clamd_address_default(production=False, socket=path) == f"unix://{path}"
        # Production names its scanner: nothing is guessed there.
        assert clamd_address_default(production=True, socket=path) == ""
    finally:
        listener.close()


def test_home_page_says_how_to_get_a_scanner_when_there_is_none(owner: User) -> None:
    from tests.helpers import client_signed_in

    page = client_signed_in(owner).get("/").content.decode()
    assert "sudo apt install clamav-daemon" in page


def test_log_lines_carry_one_named_time_zone() -> None:
    record = logging.LogRecord("securedrive", logging.INFO, __file__, 1, "started", None, None)
    record.created = 1781245800.25  # 2026-06-12 06:30:00.25 UTC (08:30 in Paris)
    record.msecs = 250
    assert UTCFormatter(FORMAT).format(record) == (
        "2026-06-12 06:30:00,250 UTC INFO securedrive started"
    )
