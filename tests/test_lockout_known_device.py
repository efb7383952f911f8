"""Wrong passwords typed for someone else's address must not keep them out of their own
browser (OWASP, "Slow down online guessing attacks with device cookies").

Five wrong passwords lock an account from every address (docs/mfa.md): without more,
anyone who knows a clinician's e-mail address could keep her out of SecureDrive for good,
five guesses every quarter of an hour. A browser where she signed in before (it holds
SecureDrive's device cookie, known to her session history) keeps a count of its own: five
wrong passwords *from it* lock it, others' do not. Real django-axes, real sign-in form.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import time_machine
from django.test import Client

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/login/"


@pytest.fixture
def traveller() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(dt.datetime(2026, 3, 2, 8, 30, tzinfo=dt.UTC), tick=False) as moved:
        yield moved


def sign_in(client: Client, email: str, password: str = PASSWORD, address: str = "") -> int:
    data = {"username": email, "password": password}
    if address:
        return client.post(LOGIN, data, REMOTE_ADDR=address).status_code
    return client.post(LOGIN, data).status_code


def her_ward_pc(owner: User) -> Client:
    """The browser Alice signs in with every morning: it holds the device cookie."""
    ward_pc = Client(REMOTE_ADDR="10.0.0.50")
    assert sign_in(ward_pc, owner.email) == 302
    ward_pc.post("/accounts/logout/")
    return ward_pc


def test_a_stranger_guessing_her_password_does_not_keep_her_out_of_her_own_browser(
    owner: User, traveller: time_machine.Traveller
) -> None:
    ward_pc = her_ward_pc(owner)
    for attempt in range(5):
        sign_in(Client(), owner.email, "guess", address=f"10.9.9.{attempt}")

    # A browser she never used is locked out, as before.
    assert sign_in(Client(), owner.email, address="10.9.9.99") == 429
    [lockout] = AuditEvent.objects.filter(action=Action.ACCOUNTS_LOCKOUT)
    assert lockout.actor_label == owner.email
    # Her own browser still signs her in.
    assert sign_in(ward_pc, owner.email) == 302


def test_her_browser_still_has_only_five_guesses_of_its_own(
    owner: User, traveller: time_machine.Traveller
) -> None:
    ward_pc = her_ward_pc(owner)
    # Someone at her PC, hopping addresses (another network each time).
    for attempt in range(5):
        assert sign_in(ward_pc, owner.email, "guess", address=f"10.8.{attempt}.1") in (200, 429)
    assert sign_in(ward_pc, owner.email, address="10.8.9.1") == 429

    traveller.shift(dt.timedelta(minutes=16))
    assert sign_in(ward_pc, owner.email, address="10.8.9.1") == 302
