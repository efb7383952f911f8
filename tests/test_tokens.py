"""Personal access tokens: stored hashed, expiring, scoped, revocable, audited.

Alice (``owner``) makes tokens for her scripts; Oscar (``outsider``) must never reach
them. Time is frozen with time-machine, never slept.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client, RequestFactory
from django.utils import timezone
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from accounts import tokens
from accounts.authentication import HasScope
from accounts.models import AccountPolicy, PersonalAccessToken, User
from accounts.views import tokens as token_views
from audit import services as audit
from audit.actions import Action
from audit.models import AuditEvent
from tests.test_api import token_client, token_for, verified_client

pytestmark = [pytest.mark.usefixtures("isolated_throttles"), pytest.mark.django_db]

ME = "/api/v1/me/"
TOKEN_SHAPE = re.compile(r"^sdpat_[A-Za-z0-9_-]{43}$")


def denied_uses() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=Action.ACCOUNTS_TOKEN_USE, outcome="denied"))


def audit_text() -> str:
    """Everything the audit log holds, as text, to look for leaked secrets."""
    return json.dumps(
        list(AuditEvent.objects.values("actor_label", "target_id", "details")), default=str
    )


# --- Minting ----------------------------------------------------------------------------


def test_token_is_random_and_stored_only_as_its_hash(owner: User) -> None:
    token, plaintext = tokens.token_create(
        actor=owner, name="Scanner", scopes=["read"], expires_in_days=30
    )

    assert TOKEN_SHAPE.match(plaintext)
    row = PersonalAccessToken.objects.filter(pk=token.pk).values().get()
    assert all(plaintext not in str(value) for value in row.values())
    assert row["token_hash"] == tokens.token_hash_of(plaintext)
    assert len(row["token_hash"]) == 64
    assert row["prefix"] == plaintext[:12]
    other, other_plaintext = tokens.token_create(
        actor=owner, name="Other", scopes=["read"], expires_in_days=30
    )
    assert other_plaintext != plaintext
    assert other.prefix != token.prefix or other.token_hash != token.token_hash


def test_expiry_is_mandatory_and_capped_by_the_policy(owner: User) -> None:
    policy = AccountPolicy.current()
    policy.token_max_days = 30
    policy.save(update_fields=["token_max_days"])
    now = timezone.now()

    with time_machine.travel(now, tick=False):
        token, _plaintext = tokens.token_create(
            actor=owner, name="Monthly", scopes=["read"], expires_in_days=30
        )
        assert token.expires_at == now + dt.timedelta(days=30)
        for days in (0, -1, 31, 365):
            with pytest.raises(ValidationError) as refused:
                tokens.token_create(
                    actor=owner, name=f"{days} days", scopes=["read"], expires_in_days=days
                )
            assert list(refused.value.message_dict) == ["expires_in_days"]
    assert PersonalAccessToken.objects.count() == 1


@pytest.mark.parametrize("scopes", [[], ["admin"], ["read", "delete-everything"]])
def test_scopes_must_be_a_non_empty_subset_of_read_write_share(
    owner: User, scopes: list[str]
) -> None:
    with pytest.raises(ValidationError) as refused:
        tokens.token_create(actor=owner, name="Bad", scopes=scopes, expires_in_days=1)
    assert list(refused.value.message_dict) == ["scopes"]


def test_scopes_are_stored_once_and_in_a_fixed_order(owner: User) -> None:
    token, _plaintext = tokens.token_create(
        actor=owner, name="All", scopes=["share", "read", "share", "write"], expires_in_days=1
    )
    assert token.scopes == ["read", "write", "share"]


def test_names_are_unique_among_a_persons_active_tokens(owner: User, outsider: User) -> None:
    first, _plaintext = token_for(owner, name="Nightly sync")
    with pytest.raises(ValidationError):
        token_for(owner, name="  nightly SYNC ")

    # Someone else may use the name, and so may Alice once the first token is gone.
    token_for(outsider, name="Nightly sync")
    tokens.token_revoke(actor=owner, token=first)
    token_for(owner, name="Nightly sync")
    with time_machine.travel(timezone.now() + dt.timedelta(days=31), tick=False):
        token_for(owner, name="Nightly sync")
    assert PersonalAccessToken.objects.filter(user=owner).count() == 3


# --- Refusals: 401, and an audit event without the secret ---------------------------------


def assert_refused(plaintext: str) -> None:
    response = token_client(plaintext).get(ME)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="SecureDrive API", error="invalid_token"'
    assert json.loads(response.content) == {
        "detail": "This token is not valid: it may be mistyped, expired or revoked."
    }


def test_revoked_token_is_refused_and_the_attempt_audited(owner: User) -> None:
    token, plaintext = token_for(owner)
    tokens.token_revoke(actor=owner, token=token)

    assert_refused(plaintext)

    [event] = denied_uses()
    assert (event.actor_id, event.target_type, event.target_id) == (
        str(owner.pk),
        "accounts.token",
        str(token.pk),
    )
    assert event.details == {"reason": "revoked", "prefix": token.prefix}
    assert plaintext not in audit_text()
    # The console says it of the token, not of a link ("withdrawn link" before).
    from audit.readable import readable_events

    [row] = readable_events([event])
    assert row.note == "revoked API token"


def test_expired_token_is_refused_and_the_attempt_audited(owner: User) -> None:
    token, plaintext = token_for(owner)  # 30 days
    with time_machine.travel(token.expires_at + dt.timedelta(seconds=1), tick=False):
        assert_refused(plaintext)
    assert [event.details["reason"] for event in denied_uses()] == ["expired"]


def test_tokens_of_a_deactivated_person_stop_working_at_once(owner: User) -> None:
    _token, plaintext = token_for(owner)
    assert token_client(plaintext).get(ME).status_code == 200

    owner.is_active = False
    owner.save(update_fields=["is_active"])

    assert_refused(plaintext)
    assert [event.details["reason"] for event in denied_uses()] == ["account deactivated"]


def test_made_up_token_is_refused_and_only_its_prefix_logged(owner: User) -> None:
    _token, real = token_for(owner)
    guess = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")

    assert_refused(guess)

    [event] = denied_uses()
    assert (event.actor_id, event.target_id) == ("", "")
    assert event.details == {"reason": "unknown token", "prefix": guess[:12]}
    assert guess not in audit_text()
    assert real not in audit_text()


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer not-a-securedrive-token",
        "Bearer sdpat_short",
        "Bearer sdpat_" + "x" * 43 + " extra",
        "bearer sdpat_" + "é" * 43,
    ],
)
def test_malformed_bearer_header_is_refused_and_audited(header: str) -> None:
    response = Client(HTTP_AUTHORIZATION=header).get(ME)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    [event] = denied_uses()
    assert event.details["reason"] == "malformed"
    assert len(event.details["prefix"]) <= 12


def test_other_authorization_schemes_are_not_mistaken_for_tokens(owner: User) -> None:
    response = Client(HTTP_AUTHORIZATION="Basic YWxpY2U6c2VjcmV0").get(ME)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="SecureDrive API"'
    assert denied_uses() == []


# --- Scopes ----------------------------------------------------------------------------


class WriteProbe(APIView):
    """Stands in for the write endpoints to come (uploads): needs the write scope."""

    permission_classes = [IsAuthenticated, HasScope("write")]

    def post(self, request: Request) -> Response:
        return Response({"written": True}, status=201)


def probe_post(plaintext: str) -> Any:
    request = APIRequestFactory().post(
        "/probe/", {}, format="json", HTTP_AUTHORIZATION=f"Bearer {plaintext}"
    )
    return WriteProbe.as_view()(request)


def test_read_token_cannot_post_where_write_is_needed(owner: User) -> None:
    _read, read_plaintext = token_for(owner, "read", name="Reader")
    _write, write_plaintext = token_for(owner, "write", name="Writer")

    refused = probe_post(read_plaintext)
    allowed = probe_post(write_plaintext)

    assert refused.status_code == 403
    assert refused.data == {"detail": "This token does not have the “write” scope."}
    assert allowed.status_code == 201


def test_a_token_used_outside_a_request_names_no_later_event(owner: User) -> None:
    """A view called without the middleware (here the probe) authenticates a token:
    the thread's next events, outside any request, must not be stamped with it."""
    _write, write_plaintext = token_for(owner, "write", name="Writer")
    assert probe_post(write_plaintext).status_code == 201
    later = audit.record(action=Action.ACCOUNTS_LOGIN, actor=owner)
    assert "api_token" not in later.details
    assert "api_token_name" not in later.details


def test_read_token_cannot_revoke_tokens(owner: User) -> None:
    token, plaintext = token_for(owner, "read", "share")
    response = token_client(plaintext).delete(f"/api/v1/tokens/{token.pk}/")
    assert response.status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_write_only_token_cannot_list_tokens(owner: User) -> None:
    _token, plaintext = token_for(owner, "write")
    assert token_client(plaintext).get("/api/v1/tokens/").status_code == 403


def test_has_scope_refuses_unknown_scopes() -> None:
    with pytest.raises(ValueError, match="unknown token scope"):
        HasScope("admin")


# --- Use: last seen and audited, once a minute -------------------------------------------


def test_last_use_is_recorded_and_audited_at_most_once_a_minute(owner: User) -> None:
    token, plaintext = token_for(owner)
    client = token_client(plaintext)
    start = timezone.now()

    with time_machine.travel(start, tick=False) as clock:
        assert client.get(ME, REMOTE_ADDR="10.0.0.7").status_code == 200
        token.refresh_from_db()
        assert (token.last_used_at, token.last_used_ip) == (start, "10.0.0.7")

        clock.shift(dt.timedelta(seconds=30))
        assert client.get(ME, REMOTE_ADDR="10.0.0.8").status_code == 200
        token.refresh_from_db()
        assert (token.last_used_at, token.last_used_ip) == (start, "10.0.0.7")

        clock.shift(dt.timedelta(seconds=31))
        assert client.get(ME, REMOTE_ADDR="10.0.0.8").status_code == 200
        token.refresh_from_db()
        assert (token.last_used_at, token.last_used_ip) == (
            start + dt.timedelta(seconds=61),
            "10.0.0.8",
        )

    uses = AuditEvent.objects.filter(action=Action.ACCOUNTS_TOKEN_USE, outcome="success")
    assert [(event.ip_address, event.actor_id) for event in uses] == [
        ("10.0.0.7", str(owner.pk)),
        ("10.0.0.8", str(owner.pk)),
    ]


def test_create_and_revoke_are_audited_with_the_prefix_only(owner: User) -> None:
    token, plaintext = token_for(owner, "read", "write", name="Backup robot")
    tokens.token_revoke(actor=owner, token=token)

    created = AuditEvent.objects.get(action=Action.ACCOUNTS_TOKEN_CREATE)
    revoked = AuditEvent.objects.get(action=Action.ACCOUNTS_TOKEN_REVOKE)
    assert (created.actor_id, created.target_type, created.target_id) == (
        str(owner.pk),
        "accounts.token",
        str(token.pk),
    )
    assert created.details["prefix"] == token.prefix
    assert created.details["scopes"] == ["read", "write"]
    assert created.details["name"] == "Backup robot"
    assert revoked.details == {"prefix": token.prefix, "name": "Backup robot", "owner_id": owner.pk}
    assert plaintext not in audit_text()
    assert token.token_hash not in audit_text()


# --- The API tokens page ------------------------------------------------------------------


def test_token_page_needs_a_signed_in_person() -> None:
    response = Client().get("/accounts/tokens/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_owner_creates_a_token_in_the_browser_and_sees_it_once(owner: User) -> None:
    client = verified_client(owner)

    created = client.post(
        "/accounts/tokens/",
        {"name": "Scanner, room 12", "scopes": ["read", "write"], "expires_in_days": "14"},
    )

    assert created.status_code == 200
    assert "no-store" in created["Cache-Control"]
    page = created.content.decode()
    shown = re.search(r'value="(sdpat_[A-Za-z0-9_-]{43})"', page)
    assert shown is not None
    plaintext = shown.group(1)
    assert "It will never be shown again" in page
    token = PersonalAccessToken.objects.get(user=owner)
    assert token.token_hash == tokens.token_hash_of(plaintext)
    assert token.scopes == ["read", "write"]

    listing = client.get("/accounts/tokens/").content.decode()
    assert token.prefix in listing
    assert "Scanner, room 12" in listing
    assert plaintext not in listing
    assert token_client(plaintext).get(ME).status_code == 200


def test_browser_form_shows_the_rules_it_breaks(owner: User) -> None:
    token_for(owner, name="Taken")
    response = verified_client(owner).post(
        "/accounts/tokens/", {"name": "Taken", "scopes": ["read"], "expires_in_days": "500"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Tokens expire after at most 90 days." in page
    assert PersonalAccessToken.objects.count() == 1


def test_a_session_without_second_factor_cannot_create_a_token(owner: User) -> None:
    client = Client()
    client.force_login(owner)
    response = client.post(
        "/accounts/tokens/", {"name": "Sneaky", "scopes": ["read"], "expires_in_days": "1"}
    )
    assert response.status_code in (302, 403)  # 302: MFARequiredMiddleware sends to MFA
    assert not PersonalAccessToken.objects.exists()


def test_token_view_itself_refuses_an_unverified_session(owner: User) -> None:
    """A second lock behind MFARequiredMiddleware: minting is what makes a token worth
    a second factor, so the view checks verification itself."""
    request = RequestFactory().post(
        "/accounts/tokens/", {"name": "Sneaky", "scopes": ["read"], "expires_in_days": "1"}
    )
    # What django-otp's middleware installs for a session without a verified device.
    owner.is_verified = lambda: False  # type: ignore[attr-defined]
    request.user = owner
    with pytest.raises(PermissionDenied):
        token_views.token_list(request)
    assert not PersonalAccessToken.objects.exists()


def test_owner_revokes_a_token_after_confirming(owner: User) -> None:
    token, plaintext = token_for(owner, name="Old laptop")
    client = verified_client(owner)

    confirm = client.get(f"/accounts/tokens/{token.pk}/revoke/")
    assert confirm.status_code == 200
    assert "Old laptop" in confirm.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None  # looking is not revoking

    done = client.post(f"/accounts/tokens/{token.pk}/revoke/", follow=True)
    assert done.redirect_chain[-1][0] == "/accounts/tokens/"
    assert "is revoked" in done.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert token_client(plaintext).get(ME).status_code == 401


def test_outsider_cannot_revoke_someone_elses_token_in_the_browser(
    owner: User, outsider: User
) -> None:
    token, _plaintext = token_for(owner)
    client = verified_client(outsider)
    assert client.get(f"/accounts/tokens/{token.pk}/revoke/").status_code == 404
    assert client.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_token_pages_carry_no_inline_script_or_style(owner: User) -> None:
    """The strict CSP would block them: every script is a file, every style a class."""
    token, _plaintext = token_for(owner)
    client = verified_client(owner)
    pages = [
        client.get("/accounts/tokens/"),
        client.get(f"/accounts/tokens/{token.pk}/revoke/"),
        client.post(
            "/accounts/tokens/", {"name": "CSP", "scopes": ["read"], "expires_in_days": "1"}
        ),
    ]
    for page in pages:
        html = page.content.decode()
        assert page.status_code == 200
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
        assert " style=" not in html
        assert re.search(r"\son[a-z]+=", html) is None


def test_token_page_and_api_errors_speak_french(owner: User) -> None:
    page = verified_client(owner, HTTP_ACCEPT_LANGUAGE="fr").get("/accounts/tokens/")
    assert "Jetons d\u2019API" in page.content.decode()
    assert "Créer le jeton" in page.content.decode()

    refused = Client(HTTP_AUTHORIZATION="Bearer sdpat_nope", HTTP_ACCEPT_LANGUAGE="fr").get(ME)
    assert json.loads(refused.content)["detail"].startswith("Ce jeton n\u2019est pas valide")


# --- Auditors hold no token (docs/api.md, "Auditors have no API tokens") -------------------


@pytest.fixture
def auditor(db: None) -> User:
    return User.objects.create_user(
        "audrey.auditor@hopital.example", "x" * 20, full_name="Audrey Auditor", is_auditor=True
    )


def test_an_auditor_is_refused_a_token_in_the_browser_and_the_api(auditor: User) -> None:
    """Audrey reads the whole log behind her second factor; a bearer token would be a
    way into her account that asks for none. Refused, said, recorded; nothing made."""
    client = verified_client(auditor)

    page = client.get("/accounts/tokens/").content.decode()
    posted = client.post(
        "/accounts/tokens/", {"name": "Audit", "scopes": ["read"], "expires_in_days": "7"}
    )
    api = client.post(
        "/api/v1/tokens/",
        {"name": "Audit", "scopes": ["read"], "expires_in_days": 7},
        content_type="application/json",
    )

    assert "An auditor&#x27;s account has no API tokens" in page
    assert 'action="/accounts/tokens/"' not in page  # no form to fill in vain
    assert posted.status_code == 400
    assert "An auditor&#x27;s account has no API tokens" in posted.content.decode()
    assert api.status_code == 403
    assert "An auditor's account has no API tokens" in api.json()["detail"]
    assert not PersonalAccessToken.objects.filter(user=auditor).exists()
    refused = AuditEvent.objects.filter(
        action=Action.ACCOUNTS_TOKEN_CREATE, outcome="denied", details__reason="auditor"
    )
    assert refused.count() == 2


def test_becoming_an_auditor_revokes_her_tokens_and_an_older_one_is_refused(
    owner: User, auditor: User
) -> None:
    """Alice scripted exports as a clinician; approved as an auditor, her tokens end in
    the grant's transaction. One left from before this rule is refused at use."""
    from accounts import roles

    _token, plaintext = token_for(owner, "read")
    admin = User.objects.create_user(
        "sam.admin@hopital.example", "x" * 20, full_name="Sam Admin", is_site_admin=True
    )
    proposal = roles.role_propose(actor=admin, subject=owner, role="auditor")
    roles.role_proposal_decide(actor=auditor, proposal_id=proposal.pk, approve=True)

    assert token_client(plaintext).get(ME).status_code == 401
    revoked = AuditEvent.objects.get(action=Action.ACCOUNTS_TOKEN_REVOKE)
    assert revoked.details["reason"] == "became an auditor"
    roles_event = AuditEvent.objects.get(action=Action.ACCOUNTS_USER_ROLES)
    assert roles_event.details["tokens_revoked"] == ["Scanner, room 12"]

    # A token from before this rule: made while she was not an auditor, never revoked.
    User.objects.filter(pk=owner.pk).update(is_auditor=False)
    _left_over, raw = token_for(User.objects.get(pk=owner.pk), "read", name="Old")
    User.objects.filter(pk=owner.pk).update(is_auditor=True)
    assert token_client(raw).get(ME).status_code == 401
    assert denied_uses()[-1].details["reason"] == "auditor"
    # Revoked as well: withdrawing her role later does not bring it back.
    User.objects.filter(pk=owner.pk).update(is_auditor=False)
    assert token_client(raw).get(ME).status_code == 401
    assert denied_uses()[-1].details["reason"] == "revoked"


def test_the_console_reads_the_refusal_as_a_token_rule(auditor: User) -> None:
    from audit.readable import readable_events

    with pytest.raises(ValidationError):
        tokens.token_create(actor=auditor, name="Audit", scopes=["read"], expires_in_days=7)

    [row] = readable_events(
        list(AuditEvent.objects.filter(action=Action.ACCOUNTS_TOKEN_CREATE, outcome="denied"))
    )
    assert "an auditor holds no API token" in str(row.note)
