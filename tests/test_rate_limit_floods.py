"""A flood of requests refused by a rate limit is on record at once, then counted: not
one audit event per refused request (audit/floods.py, docs/rate-limits.md).

Each event of the append-only, hash-chained log takes the chain's one lock and is kept
for years: a scanner hammering a share link, a script guessing a link's password or an
invitation, someone leaning on the sign-in page could write thousands of events a
second, slow every other one and drown the ones that matter. Per endpoint, source and
target and per 10 minutes: the first refusal is recorded at once (the operator sees the
attack start), then one ``ratelimit.flood`` event says how many were refused, in words
the audit console shows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import time_machine
from django.core import mail
from django.test import Client, override_settings
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import User
from audit.actions import Action
from audit.alerts import alerts_evaluate
from audit.models import AlertRule, AuditAlert, AuditEvent, Outcome
from sharing.services import link_access
from sharing.services.links import share_link_create
from tests.conftest import user_create
from tests.helpers import client_signed_in
from tests.test_sharing_links import open_url, password_given, shared_file
from tests.test_sharing_transfer_verification import (
    code_asked,
    code_typed,
    transfer_sent,
    wrong,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "rate_limit_cache"),
]

ATTACKER = "203.0.113.9"


def flood_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=Action.RATELIMIT_FLOOD).order_by("sequence"))


def windows_close() -> None:
    """What the beat task does every minute (audit.tasks.refusal_floods_close)."""
    from audit.tasks import refusal_floods_close

    refusal_floods_close()


def console(language: str = "en", path: str = "/audit/explore/") -> str:
    auditor = User.objects.filter(email="audrey.auditor@hopital.example").first() or user_create(
        "audrey.auditor@hopital.example", is_auditor=True
    )
    page = client_signed_in(auditor).get(path, HTTP_ACCEPT_LANGUAGE=language)
    assert page.status_code == 200
    return str(page.content.decode())


def test_a_scanner_hammering_a_link_is_on_record_at_once_then_counted(
    owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(link_access, "RATE_REQUESTS_PER_IP", "3/m")
    version = shared_file(owner, name="Scanner Dupont.pdf")
    link, token = share_link_create(actor=owner, target=version.file)
    scanner = Client(REMOTE_ADDR=ATTACKER)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        assert [scanner.get(open_url(token)).status_code for _ in range(3)] == [200] * 3
        answers = [scanner.get(open_url(token)).status_code for _ in range(142)]
        assert set(answers) == {429}
        refused = AuditEvent.objects.filter(
            action=Action.SHARING_LINK_ACCESS, details__outcome="rate limited"
        )
        # The attack's start is on record at once, and only its start.
        [first] = refused
        assert first.ip_address == ATTACKER
        assert first.actor_label == f"link:{link.pk}"
        assert first.details["next_not_recorded"] is True
        windows_close()
        assert flood_events() == []  # the window is not over

        # Someone else, at another address, is not refused.
        assert Client(REMOTE_ADDR="198.51.100.7").get(open_url(token)).status_code == 200

        clock.shift(dt.timedelta(minutes=11))
        windows_close()
        windows_close()  # twice: recorded once
    [flood] = flood_events()
    assert flood.outcome == Outcome.DENIED
    assert flood.ip_address == ATTACKER
    assert flood.target_type == "sharing.link"
    assert flood.target_id == str(link.pk)
    assert flood.details["refused"] == 142
    assert flood.details["name"] == "Scanner Dupont.pdf"
    assert flood.details["first_event"] == first.sequence
    assert refused.count() == 1
    english = console()
    assert (
        "142 requests refused from 203.0.113.9 on link “Scanner Dupont.pdf” in 10 minutes"
        in english
    )
    assert "counted, and recorded as one event when the window ends" in english
    assert (
        "142 requêtes refusées depuis 203.0.113.9 sur le lien «\u00a0Scanner Dupont.pdf\u00a0»"
        " en 10 minutes" in console("fr")
    )
    # The event's own page, where an auditor follows it from the list.
    assert "Scanner Dupont.pdf" in console(path=f"/audit/events/{flood.sequence}/")


def test_a_scanner_taking_a_new_ipv6_address_for_each_request_is_one_flood(
    owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scanner's provider gave it a /64: a new address for every request. Still one
    source: refused, recorded once, then counted, and the summary names its network."""
    monkeypatch.setattr(link_access, "RATE_REQUESTS_PER_IP", "3/m")
    version = shared_file(owner, name="Scanner Dupont.pdf")
    _link, token = share_link_create(actor=owner, target=version.file)

    def scanner(number: int) -> Client:
        return Client(REMOTE_ADDR=f"2001:db8:7:7::{number:x}")

    with time_machine.travel(timezone.now(), tick=False) as clock:
        assert [scanner(n).get(open_url(token)).status_code for n in range(1, 4)] == [200] * 3
        answers = [scanner(n).get(open_url(token)).status_code for n in range(4, 46)]
        assert set(answers) == {429}
        refused = AuditEvent.objects.filter(
            action=Action.SHARING_LINK_ACCESS, details__outcome="rate limited"
        )
        assert refused.count() == 1
        clock.shift(dt.timedelta(minutes=11))
        windows_close()
    [flood] = flood_events()
    assert flood.details["refused"] == 42
    assert (
        "42 requests refused from 2001:db8:7:7::/64 on link “Scanner Dupont.pdf” in 10 minutes"
        in console()
    )


def test_a_flood_still_going_when_its_window_ends_is_counted_at_its_next_refusal(
    owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No beat needed: the next refusal after the window records its count, then opens a
    new window with its own first event."""
    monkeypatch.setattr(link_access, "RATE_REQUESTS_PER_IP", "1/m")
    version = shared_file(owner, name="Echo cœur.pdf")
    _link, token = share_link_create(actor=owner, target=version.file)
    scanner = Client(REMOTE_ADDR=ATTACKER)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for _ in range(6):
            scanner.get(open_url(token))
        clock.shift(dt.timedelta(minutes=10, seconds=1))
        for _ in range(4):
            scanner.get(open_url(token))
    [flood] = flood_events()
    assert flood.details["refused"] == 5
    starts = AuditEvent.objects.filter(
        details__outcome="rate limited", details__next_not_recorded=True
    )
    assert starts.count() == 2


def test_guesses_at_a_links_password_past_the_limit_are_counted(owner: User) -> None:
    version = shared_file(owner, name="Bilan sanguin.pdf")
    _link, token = share_link_create(actor=owner, target=version.file, password="Correct-horse-42")
    guesser = Client(REMOTE_ADDR=ATTACKER)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        answers = [password_given(guesser, token, f"guess-{n}").status_code for n in range(40)]
        assert answers[:10] == [200] * 10
        assert set(answers[10:]) == {429}
        refused = AuditEvent.objects.filter(
            action=Action.SHARING_LINK_ACCESS, details__outcome="rate limited"
        )
        assert refused.count() == 1
        clock.shift(dt.timedelta(minutes=11))
        windows_close()
    [flood] = flood_events()
    assert flood.details["refused"] == 30
    assert flood.details["name"] == "Bilan sanguin.pdf"


def test_guesses_at_a_transfers_e_mail_code_past_the_limit_are_counted(
    owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    _transfer, _file, token = transfer_sent(owner, django_capture_on_commit_callbacks)
    guesser = Client(REMOTE_ADDR=ATTACKER)
    code = code_asked(guesser, token, django_capture_on_commit_callbacks)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        answers = [code_typed(guesser, token, wrong(code)).status_code for _ in range(30)]
        assert answers[-1] == 429
        refused = AuditEvent.objects.filter(
            action=Action.SHARING_LINK_VERIFY, details__outcome="rate limited"
        )
        assert refused.count() == 1
        clock.shift(dt.timedelta(minutes=11))
        windows_close()
    [flood] = flood_events()
    assert flood.details["refused"] == answers.count(429)
    assert flood.details["name"] == "IRM genou — Mme Durand"


def invitation_guess(client: Client, attempt: int) -> int:
    return int(client.get(f"/accounts/invitation/guess-{attempt}/").status_code)


def set_up_guess(client: Client, attempt: int) -> int:
    person = User.objects.get(email="alice.martin@hopital.example")
    uid = urlsafe_base64_encode(force_bytes(person.pk))
    return int(client.get(f"/accounts/setup/{uid}/guess-{attempt}/").status_code)


@pytest.mark.parametrize(
    ("guess", "action", "endpoint"),
    [
        (invitation_guess, Action.ACCOUNTS_INVITATION_USE, "accounts.invitation"),
        (set_up_guess, Action.ACCOUNTS_SETUP_LINK_USE, "accounts.setup"),
    ],
)
def test_guessing_invitation_and_set_up_links_is_limited_and_counted(
    owner: User, guess: Callable[[Client, int], int], action: Action, endpoint: str
) -> None:
    guesser = Client(REMOTE_ADDR=ATTACKER)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        answers = [guess(guesser, attempt) for attempt in range(80)]
        assert answers[-50:] == [429] * 50
        assert AuditEvent.objects.filter(action=action, details__reason="rate limited").count() == 1
        clock.shift(dt.timedelta(minutes=11))
        windows_close()
    [flood] = flood_events()
    assert flood.details["endpoint"] == endpoint
    assert flood.details["refused"] == answers.count(429)
    assert flood.ip_address == ATTACKER


HOSPITAL_NAT = "198.51.100.20"


def test_new_staff_accepting_their_invitations_from_one_address_are_not_limited(
    site_admin: User,
) -> None:
    """A ward's twelve newcomers open their invitations together on their first day,
    behind the hospital's one NAT address, and some mistype the password twice: every
    page counted towards 30 an hour, so the ninth was refused. Only refused links count
    now; a guesser behind the same address is still limited and on record."""
    from accounts import invitations

    newcomers = [
        invitations.invitation_create(actor=site_admin, email=f"new.{n}@hopital.example")
        for n in range(12)
    ]
    for sent in newcomers:
        browser = Client(REMOTE_ADDR=HOSPITAL_NAT)
        path = urlsplit(sent.url).path
        assert browser.get(path).status_code == 200
        for _mistyped in range(2):
            mistyped = {"full_name": "New", "password1": "Tr0ub4dor&3x!", "password2": "other"}
            assert browser.post(path, mistyped).status_code == 200
    assert not AuditEvent.objects.filter(
        action=Action.ACCOUNTS_INVITATION_USE, details__reason="rate limited"
    ).exists()

    guesser = Client(REMOTE_ADDR=HOSPITAL_NAT)
    answers = [invitation_guess(guesser, attempt) for attempt in range(32)]
    assert answers == [410] * 30 + [429] * 2
    assert (
        AuditEvent.objects.filter(
            action=Action.ACCOUNTS_INVITATION_USE, details__reason="rate limited"
        ).count()
        == 1
    )


def test_new_staff_setting_their_passwords_from_one_address_are_not_limited() -> None:
    """The same for set-up links: ten people open theirs from one address (the link,
    the page it leads to, a mistyped form, the page again): 40 pages were past the 30
    an hour counted before. A guesser there is still limited and on record."""
    from accounts import services as account_services

    for n in range(10):
        person = User.objects.create_user(f"new.{n}@hopital.example", None)
        _user, url = account_services.setup_link_issue(email=person.email)
        browser = Client(REMOTE_ADDR=HOSPITAL_NAT)
        opened = browser.get(urlsplit(url).path)
        assert opened.status_code == 302
        assert browser.get(opened["Location"]).status_code == 200
        mistyped = {"new_password1": "Tr0ub4dor&3x!", "new_password2": "other"}
        assert browser.post(opened["Location"], mistyped).status_code == 200
        assert browser.get(opened["Location"]).status_code == 200
    assert not AuditEvent.objects.filter(
        action=Action.ACCOUNTS_SETUP_LINK_USE, details__reason="rate limited"
    ).exists()

    user_create("alice.martin@hopital.example")
    guesser = Client(REMOTE_ADDR=HOSPITAL_NAT)
    answers = [set_up_guess(guesser, attempt) for attempt in range(32)]
    assert answers == [200] * 30 + [429] * 2
    assert (
        AuditEvent.objects.filter(
            action=Action.ACCOUNTS_SETUP_LINK_USE, details__reason="rate limited"
        ).count()
        == 1
    )


def test_sign_in_attempts_during_a_lockout_are_counted(owner: User) -> None:
    attacker = Client(REMOTE_ADDR=ATTACKER)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        answers = [
            attacker.post(
                "/accounts/login/", {"username": owner.email, "password": f"guess-{n}"}
            ).status_code
            for n in range(30)
        ]
        assert answers[-25:] == [429] * 25
        locked_out = AuditEvent.objects.filter(
            action=Action.ACCOUNTS_LOGIN, details__reason="locked out"
        )
        assert locked_out.count() == 1
        # The wrong passwords before the lockout are each on record, as always.
        assert (
            AuditEvent.objects.filter(
                action=Action.ACCOUNTS_LOGIN, details__reason="invalid credentials"
            ).count()
            == 5
        )
        clock.shift(dt.timedelta(minutes=11))
        windows_close()
    [flood] = flood_events()
    assert flood.details["endpoint"] == "accounts.sign_in"
    assert flood.details["refused"] == 25
    assert "on sign-in in 10 minutes" in console()


def test_a_script_looping_on_the_api_is_counted_with_its_person(
    owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from accounts.throttling import UserThrottle
    from tests.test_api import ME, token_client, token_for

    monkeypatch.setattr(UserThrottle, "THROTTLE_RATES", {"user": "2/minute"})
    _token, plaintext = token_for(owner, "read")
    script = token_client(plaintext)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        answers = [script.get(ME).status_code for _ in range(50)]
        assert answers[2:] == [429] * 48
        assert AuditEvent.objects.filter(action=Action.RATELIMIT_API).count() == 1
        clock.shift(dt.timedelta(minutes=11))
        windows_close()
    [flood] = flood_events()
    assert flood.actor_id == str(owner.pk)
    assert flood.details["refused"] == 48
    assert (
        "48 requests refused from alice.martin@hopital.example on the API in 10 minutes"
        in console()
    )


def test_a_thief_with_the_password_hammering_the_second_factor_is_counted(owner: User) -> None:
    from accounts import mfa
    from tests.helpers import client_password_only, totp_device_confirmed, totp_wrong_code
    from tests.test_mfa import RECOVERY, VERIFY

    device = totp_device_confirmed(owner)
    mfa.recovery_codes_generate(actor=owner)
    thief = client_password_only(owner, remote_addr=ATTACKER)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for attempt in range(mfa.MFA_FAILURES_PER_ACCOUNT // 2):
            clock.shift(dt.timedelta(seconds=2**attempt))  # past django-otp's back-off
            thief.post(VERIFY, {"code": totp_wrong_code(device)})
            thief.post(RECOVERY, {"code": "aaaa-bbbb-cccc"})
        clock.shift(dt.timedelta(minutes=2))
        answers = [thief.post(VERIFY, {"code": totp_wrong_code(device)}) for _ in range(40)]
        assert {answer.status_code for answer in answers} == {429}
        refused = AuditEvent.objects.filter(
            action=Action.ACCOUNTS_MFA_VERIFY, details__reason="too many failures"
        )
        assert refused.count() == 1
        clock.shift(dt.timedelta(minutes=11))
        windows_close()
    [flood] = flood_events()
    assert flood.actor_id == str(owner.pk)
    assert flood.ip_address == ATTACKER
    assert flood.details["refused"] == 40
    assert (
        "40 requests refused from alice.martin@hopital.example on account "
        "alice.martin@hopital.example in 10 minutes" in console()
    )


@override_settings(TUS_OPEN_UPLOADS_MAX=2)
def test_a_script_looping_on_the_open_uploads_cap_is_counted_like_every_other_limit(
    owner: User, site_admin: User, django_capture_on_commit_callbacks: Any
) -> None:
    """The cap on uploads in progress (files/tus.py) recorded its first refusal, then
    only logged the next ones: nobody could tell from the log that the script went on."""
    from tests.test_tus import create, token_client

    script = token_client(owner)
    script.defaults["REMOTE_ADDR"] = ATTACKER
    with time_machine.travel(timezone.now(), tick=False) as clock:
        answers = [create(script, 1, name=f"vide-{n}.txt").status_code for n in range(27)]
        assert answers == [201, 201] + [403] * 25
        [first] = AuditEvent.objects.filter(action=Action.FILES_UPLOAD_REJECT)
        assert first.details["reason"] == "too many uploads in progress"
        assert first.details["next_not_recorded"] is True
        clock.shift(dt.timedelta(minutes=11))
        windows_close()
    [flood] = flood_events()
    assert flood.actor_id == str(owner.pk)
    assert flood.ip_address == ATTACKER
    assert flood.details["refused"] == 25
    assert flood.details["endpoint"] == Action.FILES_UPLOAD_START
    assert flood.details["first_event"] == first.sequence
    assert (
        "25 requests refused from alice.martin@hopital.example on new uploads "
        "(too many in progress) in 10 minutes" in console()
    )
    assert "nouveaux dépôts (trop de dépôts en cours)" in console("fr")
    # And the security officers are told who it was (audit/alerts.py, refusal_flood).
    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate()
    [alert] = AuditAlert.objects.filter(rule=AlertRule.REFUSAL_FLOOD)
    assert alert.event_count == 25
    assert any(
        "25 requests refused on new uploads (too many in progress) by "
        "alice.martin@hopital.example from 1 address (203.0.113.9)" in message.body
        for message in mail.outbox
    )
