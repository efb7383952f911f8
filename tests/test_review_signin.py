"""An outside review of signing in: the password step, the second factor, sessions and
set-up links, probed as an attacker would (ISSUE: sign-in review).

Each story names what someone holding part of the credentials tries, and what stops them.
"""

# The URL matrix's fixtures (alices, rate_limit_cache) are imported from tests.test_url_access.

from __future__ import annotations

import datetime as dt
import html
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_otp_webauthn.models import WebAuthnCredential

from accounts import services as account_services
from accounts.models import User, UserSession
from accounts.totp import AuthenticatorApp
from audit.actions import Action
from audit.models import AuditEvent
from files.downloads import DownloadCutOff
from tests.conftest import PASSWORD
from tests.files_helpers import chunks_of, content_of, root_of, version_store
from tests.helpers import client_password_only, client_signed_in, totp_code, totp_device_confirmed
from tests.test_url_access import REFUSED, alices, rate_limit_cache, url_of  # noqa: F401
from tests.url_access_registry import COVERED

pytestmark = pytest.mark.django_db

VERIFY = "/accounts/mfa/verify/"
ENROL = "/accounts/mfa/setup/"
# Reachable with the password alone by design (accounts.middleware.MFA_EXEMPT_VIEWS).
EXEMPT = {
    "accounts:logout",
    "accounts:mfa_verify",
    "accounts:mfa_verify_recovery",
    "accounts:mfa_enrol",
    "accounts:mfa_totp_add",
    "accounts:mfa_passkey_add",
    "set_language",
    "healthz",
}


def test_a_password_alone_opens_no_page_nor_api_of_the_account(
    owner: User,
    alices: dict[str, Any],  # noqa: F811  (the fixture, imported above)
) -> None:
    """Walk every URL Alice may use, as a browser that passed only her password."""
    thief = client_password_only(owner)
    opened: list[tuple[str, str, int]] = []
    for name in sorted(COVERED):
        if name in EXEMPT or name.startswith("otp_webauthn:"):
            continue
        url = url_of(name, alices)
        for method in ("GET", "POST"):
            answer = thief.get(url) if method == "GET" else thief.post(url, {})
            if answer.status_code in REFUSED:
                continue
            if answer.status_code == 302 and answer["Location"].startswith((VERIFY, ENROL)):
                continue
            opened.append((url, method, answer.status_code))
    assert not opened


def _new_password_through_setup_link(owner: User, password: str) -> None:
    _user, url = account_services.setup_link_issue(email=owner.email)
    person = Client()
    form = person.get(url.removeprefix("http://127.0.0.1:8000"), follow=True)
    assert form.status_code == 200
    done = person.post(
        form.redirect_chain[-1][0], {"new_password1": password, "new_password2": password}
    )
    assert done.status_code == 302, done


def test_a_new_password_from_a_setup_link_ends_the_thiefs_open_sessions(owner: User) -> None:
    """Alice's password leaked; the operator prints her a set-up link to choose a new
    one. The thief's browser, already through both steps, must be out at once, and her
    session list must not show it open any more."""
    thief = client_signed_in(owner)
    assert thief.get("/accounts/sessions/").status_code == 200

    _new_password_through_setup_link(owner, "Un tout nouveau mot de passe 2026")

    assert thief.get("/accounts/sessions/")["Location"].startswith("/accounts/login/")
    assert thief.get("/api/v1/me/").status_code in (401, 403)
    [refused] = AuditEvent.objects.filter(action=Action.ACCOUNTS_SESSION_ENDED_REFUSE)
    assert refused.details["reason"] == "new password"
    [ended] = UserSession.objects.filter(user=owner)
    assert ended.ended_at is not None
    assert ended.end_reason == "new password"
    [event] = AuditEvent.objects.filter(action=Action.ACCOUNTS_PASSWORD_SET)
    assert event.details == {"via": "setup link", "sessions_ended": 1, "tokens_revoked": 0}


def _console_setup_link(email: str) -> str:
    """What the operator reads at the server's console (``manage.py setup_link``)."""
    printed = io.StringIO()
    call_command("setup_link", email, stdout=printed)
    found = re.search(r"https?://\S+/accounts/setup/\S+", printed.getvalue())
    assert found is not None, printed.getvalue()
    return found.group(0).removeprefix("http://127.0.0.1:8000")


@pytest.mark.parametrize("has_password", [True, False], ids=["with a password", "without one"])
def test_a_new_console_setup_link_ends_the_one_printed_before(
    owner: User, has_password: bool
) -> None:
    """The operator printed Alice a set-up link, then, unsure it reached her (pasted in
    the wrong chat, left in a terminal's scrollback), printed another. Only the last one
    may choose her password, as when an administrator sends a new link from the web."""
    if not has_password:
        owner.set_unusable_password()
        owner.save(update_fields=["password"])
    earlier = _console_setup_link(owner.email)
    later = _console_setup_link(owner.email)

    stale = Client().get(earlier, follow=True)
    assert stale.status_code == 200
    assert 'id="setup-account"' not in stale.text
    [refused] = AuditEvent.objects.filter(action=Action.ACCOUNTS_SETUP_LINK_USE)
    assert refused.outcome == "denied"

    person = Client()
    form = person.get(later, follow=True)
    assert 'id="setup-account"' in form.text
    new_password = "Un tout nouveau mot de passe 2026"
    done = person.post(
        form.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password}
    )
    assert done.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password(new_password)


def test_the_login_form_refuses_a_post_without_its_csrf_token(owner: User) -> None:
    """Login CSRF: another site must not sign a nurse's browser into its own account."""
    browser = Client(enforce_csrf_checks=True)
    response = browser.post("/accounts/login/", {"username": owner.email, "password": PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in browser.session


def test_sign_out_is_a_post_with_csrf_token(owner: User) -> None:
    browser = client_signed_in(owner)
    browser.handler.enforce_csrf_checks = True
    assert browser.get("/accounts/logout/").status_code == 405
    assert browser.post("/accounts/logout/").status_code == 403
    assert browser.get("/accounts/sessions/").status_code == 200


@pytest.mark.parametrize(
    "next_url", ["//evil.example/", "https://evil.example/", "/\\evil.example", "///evil.example"]
)
def test_the_password_step_never_leads_off_site(owner: User, next_url: str) -> None:
    totp_device_confirmed(owner)
    response = Client().post(
        f"/accounts/login/?next={next_url}",
        {"username": owner.email, "password": PASSWORD, "next": next_url},
    )
    assert response.status_code == 302
    assert "evil" not in response["Location"]


def test_an_idle_session_is_refused_by_the_api_too(owner: User) -> None:
    with time_machine.travel(dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC), tick=False) as clock:
        browser = client_signed_in(owner)
        assert browser.get("/api/v1/me/").status_code == 200
        clock.shift(dt.timedelta(minutes=16))
        refused = browser.get("/api/v1/me/")
        assert refused.status_code == 302
        assert refused["Location"] == "/accounts/login/"
    assert AuditEvent.objects.filter(
        action=Action.ACCOUNTS_SESSION_EXPIRE, details__reason="idle timeout"
    ).exists()


def test_a_busy_session_still_ends_at_its_maximum_length(owner: User) -> None:
    with time_machine.travel(dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC), tick=False) as clock:
        browser = client_signed_in(owner)
        for _minute in range(0, 12 * 60, 10):
            assert browser.get("/api/v1/me/").status_code == 200
            clock.shift(dt.timedelta(minutes=10))
        clock.shift(dt.timedelta(minutes=1))
        assert browser.get("/api/v1/me/").status_code == 302
        assert browser.get("/")["Location"].startswith("/accounts/login/")


def test_a_totp_code_used_by_alice_cannot_be_replayed_by_a_password_thief(owner: User) -> None:
    device = totp_device_confirmed(owner)
    with time_machine.travel(dt.datetime(2026, 3, 2, 8, 0, 5, tzinfo=dt.UTC), tick=False):
        alice = client_password_only(owner)
        thief = client_password_only(owner, remote_addr="203.0.113.9")
        code = totp_code(device)
        assert alice.post(VERIFY, {"code": code})["Location"] == "/"
        refused = thief.post(VERIFY, {"code": code})
        assert refused.status_code == 200
        assert thief.get("/")["Location"].startswith(VERIFY)
    assert AuthenticatorApp.objects.get(pk=device.pk).last_t > 0


def test_a_colleague_cannot_reset_the_lockout_by_signing_into_his_own_account(
    owner: User, outsider: User
) -> None:
    """Oscar knows his own password: between his guesses at Alice's, he signs in as
    himself from the same PC. Alice's account still locks after five wrong passwords."""
    ward_pc = "10.20.30.40"
    answers = []
    for _round in range(3):
        for _guess in range(2):
            answers.append(
                Client(REMOTE_ADDR=ward_pc)
                .post("/accounts/login/", {"username": owner.email, "password": "guess"})
                .status_code
            )
        own = Client(REMOTE_ADDR=ward_pc).post(
            "/accounts/login/", {"username": outsider.email, "password": PASSWORD}
        )
        assert own.status_code in (302, 429)
    # Six wrong passwords at Alice's account: the fifth locked it.
    assert answers[:4] == [200] * 4
    assert answers[4:] == [429, 429]
    assert AuditEvent.objects.filter(action=Action.ACCOUNTS_LOCKOUT).exists()


def test_a_guesser_rotating_through_its_ipv6_network_is_locked_out_as_one_address(
    owner: User,
) -> None:
    """Password spraying: one guess at each of many accounts, so no account reaches its
    five. Per address, five failures lock out whatever account is tried next; a
    guesser on IPv6 has a /64 (2^64 addresses) and took a new one for every guess,
    never locked out. Its network is one address: after five wrong passwords even
    Alice's right one is refused from it, while her own network signs in. Each attempt
    on record keeps the address it came from."""
    answers = []
    for number in range(1, 9):
        guesser = Client(REMOTE_ADDR=f"2001:db8:66:1:{number:x}::9")
        answers.append(
            guesser.post(
                "/accounts/login/",
                {"username": f"staff{number}@hopital.example", "password": "Spring2026!"},
            ).status_code
        )
    # The fifth wrong password starts the lockout and is answered 429 already.
    assert answers == [200] * 4 + [429] * 4
    same_network = Client(REMOTE_ADDR="2001:db8:66:1:ffff::1")
    right = same_network.post("/accounts/login/", {"username": owner.email, "password": PASSWORD})
    assert right.status_code == 429
    hers = Client(REMOTE_ADDR="2001:db8:66:2::1")
    signed_in = hers.post("/accounts/login/", {"username": owner.email, "password": PASSWORD})
    assert signed_in.status_code == 302
    tried = AuditEvent.objects.filter(action=Action.ACCOUNTS_LOGIN, outcome="denied")
    assert set(tried.values_list("ip_address", flat=True)) >= {
        f"2001:db8:66:1:{number:x}::9" for number in range(1, 6)
    }


def test_recovery_codes_shown_after_a_first_passkey_are_never_cached(owner: User) -> None:
    """The ward PC's browser must not keep the page that shows the recovery codes."""
    browser = client_signed_in(owner)
    passkey = WebAuthnCredential.objects.create(
        user=owner, name="Laptop", credential_id=b"\x01" * 16, public_key=b"\x02" * 32
    )
    page = browser.post("/accounts/mfa/setup/passkey/added/", {"device": passkey.pk, "name": "PC"})
    assert page.status_code == 200
    assert "recovery" in page.text.lower()
    assert "no-store" in page["Cache-Control"]


def test_a_thief_coming_back_with_a_session_alice_signed_out_is_recorded(owner: User) -> None:
    """Alice sees a session she does not know and signs it out. When its holder comes
    back, the auditor learns it: that browser was not hers."""
    alice = client_signed_in(owner)
    thief = client_signed_in(owner, user_agent="curl/8")
    stolen = UserSession.objects.get(user=owner, user_agent="curl/8")
    assert alice.post(f"/accounts/sessions/{stolen.pk}/revoke/").status_code == 302

    assert thief.get("/accounts/sessions/")["Location"].startswith("/accounts/login/")
    [event] = AuditEvent.objects.filter(action=Action.ACCOUNTS_SESSION_ENDED_REFUSE)
    assert event.outcome == "denied"
    assert event.actor_id == str(owner.pk)
    assert event.details == {
        "reason": "revoked",
        "session": stolen.pk,
        "path": "/accounts/sessions/",
    }
    # Once: the dead cookie is deleted with that answer.
    thief.get("/accounts/sessions/")
    assert AuditEvent.objects.filter(action=Action.ACCOUNTS_SESSION_ENDED_REFUSE).count() == 1


def test_the_home_page_left_open_does_not_keep_an_administrator_signed_in(
    site_admin: User,
) -> None:
    """Sam leaves the home page open on the ward PC: its status card refreshes itself
    every 30 s. Those refreshes are not Sam at the keyboard: after 15 idle minutes the
    session ends and the page leaves for the sign-in form on its next refresh."""
    with time_machine.travel(dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC), tick=False) as clock:
        sam = client_signed_in(site_admin)
        home = sam.get("/")
        card = re.search(r'<div id="platform-status"[^>]*>', home.text)
        assert card is not None
        headers_attribute = re.search(r"hx-headers='([^']*)'", card[0])
        assert headers_attribute is not None
        poll_headers = json.loads(html.unescape(headers_attribute[1]))
        poll_headers["HX-Request"] = "true"
        for _tick in range(2 * 15):  # fifteen minutes of refreshes: still signed in
            clock.shift(dt.timedelta(seconds=30))
            refreshed = sam.get("/status/", headers=poll_headers)
            assert refreshed.status_code == 200
            assert "HX-Redirect" not in refreshed
        clock.shift(dt.timedelta(seconds=30))
        assert sam.get("/status/", headers=poll_headers)["HX-Redirect"] == "/accounts/login/"
        assert sam.get("/")["Location"].startswith("/accounts/login/")
    [expired] = AuditEvent.objects.filter(action=Action.ACCOUNTS_SESSION_EXPIRE)
    assert expired.details == {"reason": "idle timeout"}


def test_every_polling_element_says_it_is_no_activity() -> None:
    """A new ``hx-trigger="every …"`` without the header would keep sessions alive."""
    root = Path(__file__).resolve().parent.parent
    silent: list[str] = []
    for template in root.glob("**/templates/**/*.html"):
        if ".venv" in template.parts or "node_modules" in template.parts:
            continue
        for tag in re.findall(r"<[^>]*hx-trigger=\"[^\"]*\bevery\b[^>]*>", template.read_text()):
            if '"X-SecureDrive-Background": "1"' not in tag:
                silent.append(f"{template.relative_to(root)}: {tag[:80]}")
    assert not silent


@pytest.mark.usefixtures("folder_backend", "small_segments")
def test_a_download_stops_when_alice_signs_out_the_session_it_runs_in(owner: User) -> None:
    """A browser Alice does not know is downloading her study; she signs it out on
    "Your sessions". The download stops within seconds, not at its end."""
    study = version_store(
        actor=owner, folder=root_of(owner), name="etude.dcm", content=content_of(6000)
    ).file
    with time_machine.travel(timezone.now(), tick=False) as clock:
        thief = client_signed_in(owner, user_agent="curl/8")
        body = chunks_of(thief.get(f"/files/{study.pk}/download/"))
        received = [next(body)]
        alice = client_signed_in(owner)
        stolen = UserSession.objects.get(user=owner, user_agent="curl/8")
        assert alice.post(f"/accounts/sessions/{stolen.pk}/revoke/").status_code == 302
        clock.shift(dt.timedelta(seconds=30))
        with pytest.raises(DownloadCutOff, match="session ended"):
            received.extend(body)
    assert len(b"".join(received)) < 6000
    refusal = AuditEvent.objects.get(action=Action.FILES_VERSION_DOWNLOAD, outcome="denied")
    assert refusal.details["reason"] == "session ended"
