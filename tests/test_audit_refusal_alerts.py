"""Someone guessing a link's password, an e-mail code or a second factor is refused by a
rate limit, and the log keeps two events per address and 10 minutes (audit/floods.py).
That kept the log readable, but nobody was told: no alert read those events, and a
botnet (many addresses, a few tries each) stayed under every per-address window.

The alert rule ``refusal_flood`` (audit/alerts.py) adds the refusals up per target (the
link, the account) across addresses and tells the security officers, by e-mail and in
the console, in words: which link or account, how many requests, from how many
addresses, over what span."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db.models import Q
from django.test import Client
from django.utils import timezone

from accounts.models import User
from audit.actions import Action
from audit.models import AlertRule, AuditAlert, AuditEvent
from audit.tasks import alerts_evaluate, refusal_floods_close
from sharing.services.links import share_link_create
from tests.conftest import user_create
from tests.helpers import client_signed_in
from tests.test_sharing_links import password_given, shared_file

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "rate_limit_cache"),
]

ATTACKER = "203.0.113.9"


@pytest.fixture
def auditor(db: None) -> User:
    return user_create(
        "audrey.auditor@hopital.example", full_name="Audrey Auditor", is_auditor=True
    )


@pytest.fixture(autouse=True)
def thresholds(settings: Any) -> None:
    settings.AUDIT_ALERT_REFUSALS_COUNT = 20
    settings.AUDIT_ALERT_REFUSALS_WINDOW_S = 3600


def evaluate(capture: Any) -> list[AuditAlert]:
    before = set(AuditAlert.objects.values_list("pk", flat=True))
    with capture(execute=True):
        alerts_evaluate.delay()
    return list(AuditAlert.objects.exclude(pk__in=before).order_by("pk"))


def bilan(owner: User) -> str:
    version = shared_file(owner, name="Bilan sanguin.pdf")
    _link, token = share_link_create(actor=owner, target=version.file, password="Correct-horse-42")
    return token


def test_a_password_guesser_on_a_link_raises_one_alert_naming_the_link_and_the_address(
    owner: User, auditor: User, django_capture_on_commit_callbacks: Any
) -> None:
    token = bilan(owner)
    guesser = Client(REMOTE_ADDR=ATTACKER)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        answers = [password_given(guesser, token, f"guess-{n}").status_code for n in range(40)]
        assert answers.count(429) == 30
        clock.shift(dt.timedelta(minutes=11))
        refusal_floods_close()
        [alert] = evaluate(django_capture_on_commit_callbacks)
    assert alert.rule == AlertRule.REFUSAL_FLOOD
    assert alert.event_count == 30
    assert "Bilan sanguin.pdf" in alert.summary
    [message] = mail.outbox
    assert auditor.email in message.to
    body = message.body
    assert (
        "repeated attempts refused by a rate limit: 30 requests refused on link "
        "“Bilan sanguin.pdf” from 1 address (203.0.113.9)"
    ) in body
    assert "sharing.link" not in body
    # The same refusals read again raise nothing more.
    assert evaluate(django_capture_on_commit_callbacks) == []


def test_a_guesser_rotating_through_its_ipv6_network_is_named_by_its_network(
    owner: User, auditor: User, django_capture_on_commit_callbacks: Any
) -> None:
    """A new address of its /64 for every guess: the limits count the network as one
    address, and the alert names that network, not the one address its first refusal
    happened to come from (the next 29 came from 29 others)."""
    token = bilan(owner)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        answers = [
            password_given(
                Client(REMOTE_ADDR=f"2001:db8:5:5:{n + 1:x}::1"), token, f"guess-{n}"
            ).status_code
            for n in range(40)
        ]
        assert answers.count(429) == 30
        clock.shift(dt.timedelta(minutes=11))
        refusal_floods_close()
        [alert] = evaluate(django_capture_on_commit_callbacks)
    assert alert.event_count == 30
    assert "from 1 address(es)" in alert.summary
    assert (
        "30 requests refused on link “Bilan sanguin.pdf” from 1 address (2001:db8:5:5::/64)"
    ) in mail.outbox[-1].body


def test_the_alert_reads_in_french_for_a_french_reader(
    owner: User, auditor: User, django_capture_on_commit_callbacks: Any
) -> None:
    User.objects.filter(pk=auditor.pk).update(language="fr")
    token = bilan(owner)
    guesser = Client(REMOTE_ADDR=ATTACKER)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for n in range(40):
            password_given(guesser, token, f"guess-{n}")
        clock.shift(dt.timedelta(minutes=11))
        refusal_floods_close()
        evaluate(django_capture_on_commit_callbacks)
    french = next(message for message in mail.outbox if auditor.email in message.to).body
    assert (
        "tentatives répétées refusées par le limiteur de débit\u00a0: 30 requêtes refusées "
        "sur le lien «\u00a0Bilan sanguin.pdf\u00a0» depuis 1 adresse (203.0.113.9)"
    ) in french
    for english in ("requests refused", "address (", "between"):
        assert english not in french, english


def test_a_botnet_guessing_one_links_password_is_told_with_the_link_and_its_addresses(
    owner: User, auditor: User, django_capture_on_commit_callbacks: Any
) -> None:
    # 50 addresses, 5 wrong passwords each: no address comes near its own limit (20 in
    # 15 minutes); the link's limit (10 in 15 minutes) refuses the rest.
    token = bilan(owner)
    addresses = [f"198.51.100.{number}" for number in range(1, 51)]
    with time_machine.travel(timezone.now(), tick=False) as clock:
        answers = [
            password_given(Client(REMOTE_ADDR=address), token, f"guess-{address}-{n}").status_code
            for address in addresses
            for n in range(5)
        ]
        assert answers.count(429) == 240
        # The beat reads the log before the windows end: only each address's first
        # refusal is there, which already names the link and the addresses.
        [early] = evaluate(django_capture_on_commit_callbacks)
        assert early.event_count == 48
        assert "48 requests refused on link “Bilan sanguin.pdf” from 48 addresses" in (
            mail.outbox[-1].body
        )
        clock.shift(dt.timedelta(minutes=11))
        refusal_floods_close()
        # The log is not flooded: at most two events per address for the 240 refusals.
        limited = AuditEvent.objects.filter(
            Q(action=Action.RATELIMIT_FLOOD) | Q(details__outcome="rate limited")
        )
        assert limited.count() == 2 * 48
        [alert] = evaluate(django_capture_on_commit_callbacks)
        assert evaluate(django_capture_on_commit_callbacks) == []
    # The counts, once their windows end, say it was five times as many: told again.
    assert alert.rule == AlertRule.REFUSAL_FLOOD
    assert alert.event_count == 240
    message = mail.outbox[-1]
    assert len(mail.outbox) == 2
    assert (
        "240 requests refused on link “Bilan sanguin.pdf” from 48 addresses "
        "(198.51.100.3, 198.51.100.4, 198.51.100.5 and 45 more)"
    ) in message.body
    # The console lists it for auditors, in the same words.
    page = client_signed_in(auditor).get("/audit/alerts/", HTTP_ACCEPT_LANGUAGE="en")
    assert "240 requests refused on link “Bilan sanguin.pdf” from 48 addresses" in (
        page.content.decode()
    )


def test_a_few_refusals_raise_nothing(owner: User, django_capture_on_commit_callbacks: Any) -> None:
    # Someone who forgot the password tries a dozen times: refused twice, no alert.
    token = bilan(owner)
    person = Client(REMOTE_ADDR=ATTACKER)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        answers = [password_given(person, token, f"guess-{n}").status_code for n in range(12)]
        assert answers.count(429) == 2
        clock.shift(dt.timedelta(minutes=11))
        refusal_floods_close()
        assert evaluate(django_capture_on_commit_callbacks) == []
    assert mail.outbox == []


def test_a_thief_hammering_the_second_factor_raises_an_alert_naming_the_account(
    owner: User, auditor: User, django_capture_on_commit_callbacks: Any
) -> None:
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
        clock.shift(dt.timedelta(minutes=11))
        refusal_floods_close()
        [alert] = [
            alert
            for alert in evaluate(django_capture_on_commit_callbacks)
            if alert.rule == AlertRule.REFUSAL_FLOOD
        ]
    assert alert.event_count == 40
    assert (
        "40 requests refused on account Alice Martin (alice.martin@hopital.example) "
        "from 1 address (203.0.113.9)"
    ) in mail.outbox[-1].body


def test_a_botnet_at_the_sign_in_page_raises_an_alert_naming_the_account_tried(
    owner: User, auditor: User, django_capture_on_commit_callbacks: Any
) -> None:
    # 30 addresses, three passwords each, all at Alice's account: it locks after five;
    # sign-in refusals are limited per address, whatever account is tried.
    addresses = [f"198.51.100.{number}" for number in range(1, 31)]
    with time_machine.travel(timezone.now(), tick=False) as clock:
        refused_from = []
        for address in addresses:
            client = Client(REMOTE_ADDR=address)
            for n in range(3):
                answer = client.post(
                    "/accounts/login/", {"username": owner.email, "password": f"guess-{n}"}
                )
                if answer.status_code == 429:
                    refused_from.append(address)
        assert len(refused_from) >= 80
        clock.shift(dt.timedelta(minutes=11))
        refusal_floods_close()
        [alert] = [
            alert
            for alert in evaluate(django_capture_on_commit_callbacks)
            if alert.rule == AlertRule.REFUSAL_FLOOD
        ]
    # The fifth wrong password, which locked the account, is answered 429 too, and on
    # record as a wrong password: every other 429 was refused by the lockout.
    assert alert.event_count == len(refused_from) - 1
    assert (
        f"{len(refused_from) - 1} requests refused on sign-in as alice.martin@hopital.example "
        f"from {len(set(refused_from))} addresses"
    ) in mail.outbox[-1].body
