"""Helpers shared by tests that act as a signed-in person."""

from __future__ import annotations

import datetime as dt
import subprocess
import threading
import time
from typing import Any

import pyotp
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY

from accounts.models import User, UserSession
from accounts.reauth import PROOF_SESSION_KEY
from accounts.totp import AuthenticatorApp
from sharing.services.policy import EXPIRY_PRESET_DAYS
from tests.conftest import PASSWORD


def totp_device_confirmed(user: User) -> AuthenticatorApp:
    device: AuthenticatorApp
    device, _created = AuthenticatorApp.objects.get_or_create(
        user=user, name="Authenticator app", defaults={"confirmed": True}
    )
    return device


def client_signed_in(user: User, *, user_agent: str = "Firefox/140 (ward PC)") -> Client:
    """A browser signed in with password and second factor (as after the MFA step)."""
    client = Client(HTTP_USER_AGENT=user_agent)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = totp_device_confirmed(user).persistent_id
    # The second factor was just proved: sensitive actions are allowed for
    # settings.REAUTH_MINUTES (accounts/reauth.py), as after a real sign-in.
    session[PROOF_SESSION_KEY] = timezone.now().isoformat()
    session.save()
    # force_login's internal request carries no user agent: record this "browser's".
    UserSession.objects.filter(session_key=session.session_key).update(user_agent=user_agent)
    return client


def client_signed_in_long_ago(user: User) -> Client:
    """A verified browser whose second factor was proved longer ago than the window of
    recent authentication (accounts/reauth.py): sensitive actions ask for it again."""
    client = client_signed_in(user)
    session = client.session
    del session[PROOF_SESSION_KEY]
    session.save()
    return client


def totp_code(device: AuthenticatorApp, *, steps_ahead: int = 0) -> str:
    """What the person's authenticator app shows: pyotp, from the device's own secret.

    django-otp refuses a code twice (and any older one); ``steps_ahead=1`` is the next
    30-second code, which it accepts now (tolerance of one step) after a code was used.
    """
    app = pyotp.parse_uri(device.config_url)
    assert isinstance(app, pyotp.TOTP)
    return app.at(time.time() + steps_ahead * device.step)


def totp_wrong_code(device: AuthenticatorApp) -> str:
    """Six digits that are certainly not accepted right now."""
    accepted = {totp_code(device, steps_ahead=steps) for steps in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in accepted)


def client_password_only(user: User, *, remote_addr: str = "127.0.0.1") -> Client:
    """A browser that passed the password step of the real sign-in form, nothing more."""
    client = Client(REMOTE_ADDR=remote_addr)
    response = client.post("/accounts/login/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302, response
    return client


# The second, confirming POST of an irreversible action (core/confirm.py).
CONFIRMED = {"confirmed": "yes"}


def expiry_fields(days: int) -> dict[str, str]:
    """An expiry as the link, transfer and file-request forms post it
    (sharing/forms/expiry.py): a preset when there is one, else the day ``days`` from
    today on the site's clock."""
    if days in EXPIRY_PRESET_DAYS:
        return {"expiry": str(days)}
    day = timezone.localdate(timezone.now(), timezone.get_default_timezone())
    return {"expiry": "date", "expiry_date": (day + dt.timedelta(days=days)).isoformat()}


def threads_join(*threads: threading.Thread, timeout_s: float = 60) -> None:
    """Waits for ``threads`` (those started) within one deadline, and fails the test if
    one still runs then: a thread outliving its test writes into the next test's
    database, after that test's flush. Call it in a ``finally``, after releasing
    whatever the threads wait for, so that a failing test stops its threads too."""
    deadline = time.monotonic() + timeout_s
    started = [thread for thread in threads if thread.ident is not None]
    for thread in started:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [thread.name for thread in started if thread.is_alive()]
    assert not alive, f"threads still running after {timeout_s} s: {alive}"


def process_stop(process: subprocess.Popen[Any], *, timeout_s: float = 30) -> None:
    """Asks ``process`` to stop (SIGTERM) and kills it if it has not within
    ``timeout_s``, then fails the test: a server or worker left running on the test
    database answers, and writes, into later tests."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        raise AssertionError(f"{process.args!r} did not stop within {timeout_s} s") from None
