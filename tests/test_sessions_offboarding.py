"""Sessions end when they should, and an admin cuts a leaver's access at once."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.utils import timezone
from django_otp import devices_for_user

from accounts import offboarding
from accounts.models import PersonalAccessToken, User, UserSession
from audit.actions import Action
from audit.models import AuditEvent
from tests.conftest import PASSWORD
from tests.helpers import CONFIRMED, client_signed_in, totp_device_confirmed

pytestmark = pytest.mark.django_db


def is_signed_in(client: Client) -> bool:
    response = client.get("/")
    return response.status_code == 200


def test_idle_session_ends_after_the_policy_timeout(owner: User) -> None:
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        browser = client_signed_in(owner)
        clock.shift(dt.timedelta(minutes=14))
        assert is_signed_in(browser)  # activity resets the idle clock
        clock.shift(dt.timedelta(minutes=14))
        assert is_signed_in(browser)
        clock.shift(dt.timedelta(minutes=16))
        response = browser.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    event = AuditEvent.objects.get(action=Action.ACCOUNTS_SESSION_EXPIRE)
    assert event.details == {"reason": "idle timeout"}
    assert UserSession.objects.get().end_reason == "idle timeout"


def test_session_ends_after_its_maximum_length_even_when_active(owner: User) -> None:
    with time_machine.travel(timezone.now(), tick=False) as clock:
        browser = client_signed_in(owner)
        for _ in range(12 * 6 + 2):
            clock.shift(dt.timedelta(minutes=10))
            if not is_signed_in(browser):
                break
        ended_at = timezone.now()
    session = UserSession.objects.get()
    assert session.end_reason == "maximum length reached"
    assert (
        dt.timedelta(hours=12)
        <= ended_at - session.created_at
        <= dt.timedelta(hours=12, minutes=10)
    )


def test_person_sees_and_revokes_a_session(owner: User) -> None:
    laptop = client_signed_in(owner, user_agent="Firefox/140 (laptop)")
    phone = client_signed_in(owner, user_agent="Safari (phone)")
    page = laptop.get("/accounts/sessions/").content.decode()
    assert "laptop" in page
    assert "phone" in page
    phone_session = UserSession.objects.get(user_agent__contains="phone")
    laptop.post(f"/accounts/sessions/{phone_session.pk}/revoke/")
    assert not is_signed_in(phone)
    assert is_signed_in(laptop)
    assert AuditEvent.objects.filter(action=Action.ACCOUNTS_SESSION_REVOKE).exists()


def test_nobody_revokes_someone_elses_session(owner: User, outsider: User) -> None:
    victim = client_signed_in(owner)
    attacker = client_signed_in(outsider)
    victim_session = UserSession.objects.get(user=owner)
    assert attacker.post(f"/accounts/sessions/{victim_session.pk}/revoke/").status_code == 404
    assert is_signed_in(victim)


def test_sign_out_everywhere(owner: User) -> None:
    browsers = [client_signed_in(owner, user_agent=f"browser {n}") for n in range(3)]
    browsers[0].post("/accounts/sessions/sign-out-everywhere/")
    assert not any(is_signed_in(browser) for browser in browsers)
    assert AuditEvent.objects.get(action=Action.ACCOUNTS_SESSION_REVOKE_ALL).details == {
        "sessions_ended": 3,
        "tokens_revoked": 0,  # she had none (tests/test_reauth.py revokes some)
    }


def test_new_device_sign_in_is_notified_by_email(
    owner: User, django_capture_on_commit_callbacks: object
) -> None:
    def sign_in(browser: Client) -> None:
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            browser.post("/accounts/login/", {"username": owner.email, "password": PASSWORD})

    sign_in(Client(HTTP_USER_AGENT="Firefox/140 (office PC)"))  # the account's first sign-in
    assert len(mail.outbox) == 0
    browser = Client(HTTP_USER_AGENT="Firefox/140 (ward PC)")
    sign_in(browser)
    assert len(mail.outbox) == 1
    assert "New sign-in" in mail.outbox[0].subject
    browser.post("/accounts/logout/")
    sign_in(browser)  # same browser (device cookie kept): no new e-mail
    assert len(mail.outbox) == 1


def test_admin_offboards_a_signed_in_user_at_once(
    site_admin: User, owner: User, outsider: User
) -> None:
    leaver_browser = client_signed_in(owner)
    totp_device_confirmed(owner)
    PersonalAccessToken.objects.create(
        user=owner, name="scanner", prefix="sdpat_abc", token_hash="0" * 64,
        scopes=["read"], expires_at=timezone.now() + dt.timedelta(days=30),
    )  # fmt: skip
    received = []

    def files_receiver(sender: object, **kwargs: object) -> dict[str, int]:
        received.append(kwargs)
        return {"files_moved": 0}

    offboarding.user_deactivated.connect(files_receiver)
    try:
        response = client_signed_in(site_admin).post(
            f"/accounts/admin/users/{owner.pk}/deactivate/",
            {"when": "now", "successor": outsider.pk, "confirmed": "yes"},
        )
    finally:
        offboarding.user_deactivated.disconnect(files_receiver)
    assert response.status_code == 302

    assert not is_signed_in(leaver_browser)  # refused on the very next request
    owner.refresh_from_db()
    assert not owner.is_active
    assert owner.files_successor == outsider
    assert PersonalAccessToken.objects.get().revoked_at is not None
    assert list(devices_for_user(owner, confirmed=True)) == []
    assert received[0]["successor"] == outsider
    event = AuditEvent.objects.get(action=Action.ACCOUNTS_USER_DEACTIVATE)
    assert event.actor_id == str(site_admin.pk)
    assert event.details["sessions_ended"] == 1
    assert event.details["tokens_revoked"] == 1
    assert event.details["mfa_devices_disabled"] == 1
    assert event.details["files_receiver"] == {"files_moved": 0}
    # And the password no longer opens anything.
    again = Client().post("/accounts/login/", {"username": owner.email, "password": PASSWORD})
    assert again.status_code == 200


def test_admin_cannot_deactivate_themselves(site_admin: User) -> None:
    client_signed_in(site_admin).post(
        f"/accounts/admin/users/{site_admin.pk}/deactivate/", {"when": "now", "confirmed": "yes"}
    )
    site_admin.refresh_from_db()
    assert site_admin.is_active


def test_scheduled_departure_is_carried_out_on_its_date(site_admin: User, owner: User) -> None:
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    client_signed_in(site_admin).post(
        f"/accounts/admin/users/{owner.pk}/deactivate/",
        {"when": "later", "departure_on": tomorrow.isoformat(), "confirmed": "yes"},
    )
    owner.refresh_from_db()
    assert owner.is_active
    assert owner.departure_scheduled_for == tomorrow
    assert offboarding.departures_due_process(today=timezone.localdate()) == 0
    assert offboarding.departures_due_process(today=tomorrow) == 1
    owner.refresh_from_db()
    assert not owner.is_active
    event = AuditEvent.objects.get(action=Action.ACCOUNTS_USER_DEACTIVATE)
    assert event.actor_label == "system (departure date)"
    assert event.details["scheduled"] is True


def test_reactivation_requires_a_new_second_factor(site_admin: User, owner: User) -> None:
    totp_device_confirmed(owner)
    offboarding.user_deactivate(actor=site_admin, user=owner, successor=None)
    client_signed_in(site_admin).post(f"/accounts/admin/users/{owner.pk}/reactivate/", CONFIRMED)
    owner.refresh_from_db()
    assert owner.is_active
    assert list(devices_for_user(owner, confirmed=None)) == []
    assert (
        AuditEvent.objects.get(action=Action.ACCOUNTS_USER_REACTIVATE).details[
            "mfa_devices_deleted"
        ]
        == 1
    )


def test_one_failing_departure_does_not_keep_the_next_leaver_in(
    owner: User, outsider: User, caplog: pytest.LogCaptureFixture
) -> None:
    """Two people leave the same day; the first one's offboarding fails (a step raises).
    The second is still cut off at this run, and the first at the next one."""
    today = timezone.localdate()
    first, second = sorted([owner, outsider], key=lambda user: user.pk)
    User.objects.filter(pk__in=[first.pk, second.pk]).update(departure_scheduled_for=today)
    broken = {"on": True}

    def failing_step(sender: object, *, user: User, **kwargs: object) -> None:
        if user.pk == first.pk and broken["on"]:
            raise RuntimeError("storage unreachable")

    offboarding.user_deactivated.connect(failing_step, weak=False)
    try:
        assert offboarding.departures_due_process(today=today) == 1
    finally:
        offboarding.user_deactivated.disconnect(failing_step)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.is_active
    assert not second.is_active
    assert "scheduled departure of user" in caplog.text
    assert offboarding.departures_due_process(today=today) == 1
    first.refresh_from_db()
    assert not first.is_active
