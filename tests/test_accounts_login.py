"""Signing in, the first administrator's one-time link, and what the audit log keeps."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from tests.conftest import PASSWORD
from tests.helpers import totp_code, totp_device_confirmed

pytestmark = pytest.mark.django_db


def sign_in(client: Client, email: str, password: str) -> object:
    return client.post(
        "/accounts/login/",
        {"username": email, "password": password},
        HTTP_USER_AGENT="Firefox/140 (ward PC 12)",
        REMOTE_ADDR="10.1.2.3",
    )


def test_owner_signs_in_and_the_login_is_audited(client: Client, owner: User) -> None:
    device = totp_device_confirmed(owner)
    response = sign_in(client, owner.email, PASSWORD)
    assert response.status_code == 302  # type: ignore[attr-defined]
    # The password alone opens nothing but the second step (tests/test_mfa.py).
    assert client.get("/")["Location"].startswith("/accounts/mfa/verify/")
    client.post("/accounts/mfa/verify/", {"code": totp_code(device)})
    assert client.get("/").status_code == 200
    event = AuditEvent.objects.get(action=Action.ACCOUNTS_LOGIN)
    assert (event.outcome, event.actor_id, event.actor_label) == (
        "success",
        str(owner.pk),
        owner.email,
    )
    assert (event.ip_address, event.user_agent) == ("10.1.2.3", "Firefox/140 (ward PC 12)")


def test_unknown_and_known_accounts_get_the_same_answer(client: Client, owner: User) -> None:
    wrong_password = sign_in(client, owner.email, "not the password at all")
    unknown_account = sign_in(client, "nobody@hopital.example", "not the password at all")
    for response in (wrong_password, unknown_account):
        assert response.status_code == 200  # type: ignore[attr-defined]
        assert "do not match an active account" in response.content.decode()  # type: ignore[attr-defined]
    denied = AuditEvent.objects.filter(action=Action.ACCOUNTS_LOGIN, outcome="denied")
    assert sorted(denied.values_list("actor_label", flat=True)) == sorted(
        [owner.email, "nobody@hopital.example"]
    )
    assert all("not the password" not in str(event.details) for event in denied)


def test_anonymous_visitor_is_sent_to_sign_in(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_first_admin_sets_a_password_through_a_one_time_link(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("bootstrap", admin_email="chief@hopital.example")
    output = capsys.readouterr().out
    link = re.search(r"http://127\.0\.0\.1:8000(/accounts/setup/\S+/)", output)
    assert link is not None, output
    admin = User.objects.get(email="chief@hopital.example")
    assert admin.is_site_admin
    assert not admin.has_usable_password()

    set_password_page = client.get(link.group(1), follow=True)
    assert "Choose your password" in set_password_page.content.decode()
    new_password = "Un mot de passe tres long 2026"
    done = client.post(
        set_password_page.redirect_chain[-1][0],
        {"new_password1": new_password, "new_password2": new_password},
    )
    assert done.status_code == 302
    assert AuditEvent.objects.filter(
        action=Action.ACCOUNTS_PASSWORD_SET, actor_id=str(admin.pk)
    ).exists()

    # The link dies once used, and its reuse is recorded.
    reuse = Client().get(link.group(1))
    assert "This link no longer works" in reuse.content.decode()
    assert AuditEvent.objects.filter(
        action=Action.ACCOUNTS_SETUP_LINK_USE, outcome="denied"
    ).exists()
    assert sign_in(Client(), admin.email, new_password).status_code == 302  # type: ignore[attr-defined]

    # A second bootstrap creates nobody and prints no link.
    call_command("bootstrap", admin_email="other@hopital.example")
    assert "one-time link" not in capsys.readouterr().out
    assert User.objects.count() == 1


def test_weak_first_password_is_refused(client: Client) -> None:
    call_command("bootstrap", admin_email="chief@hopital.example")
    admin = User.objects.get()
    from accounts.services import setup_url_for

    page = client.get(setup_url_for(admin).removeprefix("http://127.0.0.1:8000"), follow=True)
    response = client.post(
        page.redirect_chain[-1][0], {"new_password1": "password123", "new_password2": "password123"}
    )
    assert response.status_code == 200
    assert not User.objects.get().has_usable_password()
