"""The REST API under /api/v1/: who am I, tokens, and the OpenAPI schema.

Two ways in, one client helper each: ``verified_client`` (a browser session that passed
a second factor) and ``token_client`` (a personal access token).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from drf_spectacular.validation import validate_schema

from accounts import tokens
from accounts.api import TokenCreateThrottle
from accounts.models import PersonalAccessToken, Team, TeamMembership, TeamRole, TokenScope, User
from accounts.reauth import PROOF_SESSION_KEY
from accounts.totp import AuthenticatorApp
from audit.actions import Action
from audit.models import AuditEvent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("isolated_throttles")]

ME = "/api/v1/me/"
TOKENS = "/api/v1/tokens/"


# --- Ways in ----------------------------------------------------------------------------


def verified_client(user: User, **client_options: Any) -> Client:
    """A browser signed in and verified with a second factor (as after the MFA step).

    django-otp's middleware marks a request verified when the session names one of the
    user's confirmed devices: this is what a successful TOTP check leaves behind.
    """
    device, _created = AuthenticatorApp.objects.get_or_create(
        user=user, name="Authenticator app", defaults={"confirmed": True}
    )
    client = Client(**client_options)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session[PROOF_SESSION_KEY] = timezone.now().isoformat()  # as right after sign-in
    session.save()
    return client


def token_client(plaintext: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")


def token_for(
    user: User, *scopes: str, name: str = "Scanner, room 12"
) -> tuple[PersonalAccessToken, str]:
    return tokens.token_create(actor=user, name=name, scopes=scopes or ["read"], expires_in_days=30)


def json_of(response: Any) -> Any:
    return json.loads(response.content)


# --- Who am I ---------------------------------------------------------------------------


def test_integrator_asks_who_the_token_belongs_to(owner: User) -> None:
    cardiology = Team.objects.create(name="Cardiologie", slug="cardiologie")
    TeamMembership.objects.create(team=cardiology, user=owner, role=TeamRole.MANAGER)
    # A site administrator (an auditor holds no token: tests/test_tokens.py).
    owner.is_site_admin = True
    owner.save(update_fields=["is_site_admin"])
    token, plaintext = token_for(owner, "read", "share")

    response = token_client(plaintext).get(ME)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert json_of(response) == {
        "id": owner.pk,
        "email": "alice.martin@hopital.example",
        "full_name": "Alice Martin",
        "roles": ["site_admin"],
        "teams": [
            {"id": cardiology.pk, "name": "Cardiologie", "slug": "cardiologie", "role": "manager"}
        ],
        "authentication": "token",
        "token": {
            "id": token.pk,
            "name": "Scanner, room 12",
            "prefix": token.prefix,
            "scopes": ["read", "share"],
            "expires_at": json_of(response)["token"]["expires_at"],
        },
    }


def test_verified_browser_session_may_call_the_api(site_admin: User) -> None:
    response = verified_client(site_admin).get(ME)
    assert response.status_code == 200
    body = json_of(response)
    assert (body["email"], body["roles"], body["authentication"], body["token"]) == (
        site_admin.email,
        ["site_admin"],
        "session",
        None,
    )


def password_only_client(user: User) -> Client:
    client = Client()
    client.force_login(user)  # password only: no device verified in this session
    return client


def test_session_without_second_factor_is_refused(owner: User) -> None:
    response = password_only_client(owner).get(ME)
    assert response.status_code in (401, 403)  # 403: MFARequiredMiddleware answers first
    assert "email" not in json_of(response)


def test_session_without_second_factor_is_refused_even_past_the_middleware(
    owner: User,
) -> None:
    """The middleware lets requests with an Authorization header through to DRF (the
    token decides). A header that is not a bearer token must not let the unverified
    session in: the API's own session authentication refuses it too."""
    response = password_only_client(owner).get(ME, HTTP_AUTHORIZATION="Basic YWxpY2U6eA==")
    assert response.status_code == 401
    assert json_of(response) == {
        "detail": "Confirm your second factor in SecureDrive before using the API."
    }


def test_anonymous_caller_is_challenged_for_a_bearer_token() -> None:
    response = Client().get(ME)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="SecureDrive API"'
    assert json_of(response) == {"detail": "Authentication credentials were not provided."}


# --- Tokens through the API --------------------------------------------------------------


def test_owner_lists_own_tokens_without_any_secret(owner: User, outsider: User) -> None:
    mine, my_plaintext = token_for(owner, "read")
    token_for(outsider, "read", name="Outsider's script")

    response = verified_client(owner).get(TOKENS)

    assert response.status_code == 200
    listed = json_of(response)
    assert [row["id"] for row in listed] == [mine.pk]
    assert set(listed[0]) == {
        "id",
        "name",
        "prefix",
        "scopes",
        "created_at",
        "expires_at",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
        "status",
    }
    assert listed[0]["status"] == "active"
    assert my_plaintext not in response.content.decode()
    assert mine.token_hash not in response.content.decode()


def test_read_token_lists_tokens(owner: User) -> None:
    _token, plaintext = token_for(owner, "read")
    response = token_client(plaintext).get(TOKENS)
    assert response.status_code == 200
    assert len(json_of(response)) == 1


def test_owner_creates_a_token_from_a_verified_session_and_sees_it_once(owner: User) -> None:
    client = verified_client(owner)
    response = client.post(
        TOKENS,
        {"name": "Lab export", "scopes": ["write", "read"], "expires_in_days": 7},
        content_type="application/json",
    )

    assert response.status_code == 201
    body = json_of(response)
    assert body["token"].startswith("sdpat_")
    assert body["scopes"] == ["read", "write"]
    assert "no-store" in response["Cache-Control"]
    stored = PersonalAccessToken.objects.get(pk=body["id"])
    assert stored.user == owner
    assert stored.token_hash == tokens.token_hash_of(body["token"])
    # Shown once: the list never carries it again, and it works.
    assert body["token"] not in client.get(TOKENS).content.decode()
    assert token_client(body["token"]).get(ME).status_code == 200


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"scopes": ["read"], "expires_in_days": 7}, "name"),
        ({"name": "x", "scopes": [], "expires_in_days": 7}, "scopes"),
        ({"name": "x", "scopes": ["admin"], "expires_in_days": 7}, "scopes"),
        ({"name": "x", "scopes": ["read"]}, "expires_in_days"),
        ({"name": "x", "scopes": ["read"], "expires_in_days": 0}, "expires_in_days"),
        ({"name": "x", "scopes": ["read"], "expires_in_days": 91}, "expires_in_days"),
        ({"name": "x", "scopes": ["read"], "expires_in_days": "soon"}, "expires_in_days"),
    ],
)
def test_invalid_token_requests_get_a_400_naming_the_field(
    owner: User, payload: dict[str, Any], field: str
) -> None:
    response = verified_client(owner).post(TOKENS, payload, content_type="application/json")
    assert response.status_code == 400
    body = json_of(response)
    assert list(body) == [field]
    assert isinstance(body[field][0], str)
    assert not PersonalAccessToken.objects.exists()


def test_expiry_beyond_the_policy_says_what_is_allowed(owner: User) -> None:
    response = verified_client(owner).post(
        TOKENS,
        {"name": "Forever", "scopes": ["read"], "expires_in_days": 3650},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert json_of(response) == {"expires_in_days": ["Tokens expire after at most 90 days."]}


def test_duplicate_active_name_is_a_400(owner: User) -> None:
    token_for(owner, "read", name="Nightly sync")
    response = verified_client(owner).post(
        TOKENS,
        {"name": "nightly SYNC", "scopes": ["read"], "expires_in_days": 7},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "name" in json_of(response)


def test_non_json_body_is_a_415(owner: User) -> None:
    response = verified_client(owner).post(TOKENS, {"name": "x"})  # form-encoded
    assert response.status_code == 415


@pytest.mark.parametrize("scopes", [["read"], ["read", "write", "share"]])
def test_a_token_cannot_create_tokens(owner: User, scopes: list[str]) -> None:
    _token, plaintext = token_for(owner, *scopes)
    response = token_client(plaintext).post(
        TOKENS,
        {"name": "Successor", "scopes": ["read", "write"], "expires_in_days": 90},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert "browser session" in json_of(response)["detail"]
    assert PersonalAccessToken.objects.count() == 1


def test_session_post_without_csrf_token_is_refused(owner: User) -> None:
    client = verified_client(owner, enforce_csrf_checks=True)
    response = client.post(
        TOKENS,
        {"name": "Cross-site", "scopes": ["read"], "expires_in_days": 7},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert "CSRF" in json_of(response)["detail"]
    assert not PersonalAccessToken.objects.exists()


def test_owner_revokes_a_token_and_it_stops_working_at_once(owner: User) -> None:
    token, plaintext = token_for(owner, "read")
    assert token_client(plaintext).get(ME).status_code == 200

    response = verified_client(owner).delete(f"{TOKENS}{token.pk}/")

    assert response.status_code == 204
    assert token_client(plaintext).get(ME).status_code == 401
    # Idempotent: revoking again changes nothing and records nothing more.
    assert verified_client(owner).delete(f"{TOKENS}{token.pk}/").status_code == 204
    assert AuditEvent.objects.filter(action=Action.ACCOUNTS_TOKEN_REVOKE).count() == 1


def test_write_token_may_revoke_itself(owner: User) -> None:
    token, plaintext = token_for(owner, "write")
    assert token_client(plaintext).delete(f"{TOKENS}{token.pk}/").status_code == 204
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_outsider_cannot_revoke_someone_elses_token_by_guessing_its_id(
    owner: User, outsider: User
) -> None:
    victim, victim_plaintext = token_for(owner, "read")
    _token, outsider_plaintext = token_for(outsider, "read", "write")

    by_session = verified_client(outsider).delete(f"{TOKENS}{victim.pk}/")
    by_token = token_client(outsider_plaintext).delete(f"{TOKENS}{victim.pk}/")

    assert (by_session.status_code, by_token.status_code) == (404, 404)
    # The same answer as for any object not yours (docs/api.md), naming no model.
    assert json_of(by_session) == json_of(by_token) == {"detail": "Not found."}
    victim.refresh_from_db()
    assert victim.revoked_at is None
    assert token_client(victim_plaintext).get(ME).status_code == 200
    # Someone trying ids is on record, both times, as Oscar.
    tries = AuditEvent.objects.filter(action=Action.ACCOUNTS_TOKEN_REVOKE, outcome="denied")
    assert [(event.actor_id, event.target_id) for event in tries] == [
        (str(outsider.pk), str(victim.pk))
    ] * 2


def test_unknown_token_id_is_a_404(owner: User) -> None:
    assert verified_client(owner).delete(f"{TOKENS}999999/").status_code == 404


def test_token_creation_is_rate_limited(owner: User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(TokenCreateThrottle, "THROTTLE_RATES", {"token_create": "2/hour"})
    client = verified_client(owner)
    answers = [
        client.post(
            TOKENS,
            {"name": f"Batch {number}", "scopes": ["read"], "expires_in_days": 1},
            content_type="application/json",
        )
        for number in range(3)
    ]
    assert [answer.status_code for answer in answers] == [201, 201, 429]
    # Any hour holds two: the next one once the second token is an hour old.
    assert 3590 <= int(answers[2]["Retry-After"]) <= 3600
    # Listing is not minting: still allowed.
    assert client.get(TOKENS).status_code == 200


# --- Schema -----------------------------------------------------------------------------


def test_schema_is_valid_openapi_3_and_describes_the_api() -> None:
    response = Client().get("/api/v1/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = json_of(response)
    # drf-spectacular's copy of the official OpenAPI 3.0 JSON Schema, with jsonschema.
    validate_schema(schema)  # type: ignore[no-untyped-call]
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/me/", "/api/v1/tokens/", "/api/v1/tokens/{token_id}/"} <= set(schema["paths"])
    assert schema["components"]["securitySchemes"]["personalAccessToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal access token (sdpat_...), created in SecureDrive.",
    }
    # The schema never documents a way to read a token back.
    listed = schema["components"]["schemas"]["Token"]["properties"]
    assert "token" not in listed
    assert "token_hash" not in listed


def test_schema_is_also_served_as_yaml() -> None:
    response = Client().get("/api/v1/schema/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert b"/api/v1/me/:" in response.content


def test_scope_names_in_the_schema_match_the_model() -> None:
    schema = json_of(Client().get("/api/v1/schema/", {"format": "json"}))
    assert schema["components"]["schemas"]["ScopesEnum"]["enum"] == list(TokenScope.values)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nothing-here/",
        "/api/v1/files/1/versions/not-a-uuid/content/",
        "/api/v1/tokens/abc/",
    ],
)
def test_an_address_no_api_view_answers_is_a_json_404(owner: User, path: str) -> None:
    """An integrator's client mistypes a path or sends a version id that is not a UUID:
    the answer is the API's JSON error, as docs/api.md says, not the site's HTML page."""
    _token, plaintext = token_for(owner, "read")

    response = token_client(plaintext).get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert json_of(response) == {"detail": "Not found."}


def test_the_site_keeps_its_own_404_page(owner: User) -> None:
    response = verified_client(owner).get("/files/not-a-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_key_given_twice_is_refused_not_read_as_the_last_one(owner: User) -> None:
    """``{"name": "A", "name": "B"}``: a proxy or a log reading the first value would not
    see what was made. The API refuses it (400, recorded) and makes nothing."""
    client = verified_client(owner)

    response = client.post(
        TOKENS,
        '{"name": "Lab", "scopes": ["read"], "scopes": ["read", "write", "share"], '
        '"expires_in_days": 30}',
        content_type="application/json",
    )

    assert response.status_code == 400
    assert "duplicate key 'scopes'" in json_of(response)["detail"]
    assert not PersonalAccessToken.objects.exists()
    refused = AuditEvent.objects.get(action=Action.REQUEST_INPUT_REFUSE)
    assert refused.details["status"] == 400


def test_a_json_body_past_the_upload_memory_limit_is_a_413_never_parsed(
    owner: User, settings: Any
) -> None:
    """A body larger than DATA_UPLOAD_MAX_MEMORY_SIZE is refused with the API's JSON
    error (413, recorded), not Django's HTML 400 page."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    client = verified_client(owner)
    body = json.dumps(
        {"name": "Lab", "scopes": ["read"], "expires_in_days": 30, "padding": "x" * 20_000}
    )

    response = client.post(TOKENS, body, content_type="application/json")

    assert response.status_code == 413
    assert set(json_of(response)) == {"detail"}
    assert not PersonalAccessToken.objects.exists()
    refused = AuditEvent.objects.get(action=Action.REQUEST_INPUT_REFUSE)
    assert refused.details["status"] == 413


def test_a_client_over_the_api_rate_limit_is_refused_and_recorded_once(
    owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alice's script loops: past the per-person limit each call gets a 429 with
    Retry-After (docs/rate-limits.md), and the log shows it once per window, naming her
    and the limit, not once per refused call."""
    from accounts.throttling import UserThrottle

    monkeypatch.setattr(UserThrottle, "THROTTLE_RATES", {"user": "2/minute"})
    _token, plaintext = token_for(owner, "read")
    client = token_client(plaintext)

    answers = [client.get(ME) for _ in range(4)]

    assert [answer.status_code for answer in answers] == [200, 200, 429, 429]
    assert 1 <= int(answers[2]["Retry-After"]) <= 60
    assert set(json_of(answers[2])) == {"detail"}
    limited = AuditEvent.objects.get(action=Action.RATELIMIT_API)
    assert limited.outcome == "denied"
    assert limited.actor_id == str(owner.pk)
    assert limited.details["limit"] == "user"
    assert limited.details["rate"] == "2/minute"
    assert limited.details["view"] == "api:me"


def test_an_anonymous_client_rotating_through_its_ipv6_network_is_limited_as_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The anonymous limit is per address; an IPv6 client has a /64 (2^64 addresses)
    and was never limited by taking a new one for each call. Its network is one client;
    another network is not held up by it. The refusal on record keeps its own address."""
    from accounts.throttling import AnonThrottle

    monkeypatch.setattr(AnonThrottle, "THROTTLE_RATES", {"anon": "3/minute"})
    answers = [
        Client(REMOTE_ADDR=f"2001:db8:3:3:{number:x}::1")
        .get("/api/v1/schema/", {"format": "json"})
        .status_code
        for number in range(1, 6)
    ]
    assert answers == [200, 200, 200, 429, 429]
    other = Client(REMOTE_ADDR="2001:db8:3:4::1").get("/api/v1/schema/", {"format": "json"})
    assert other.status_code == 200
    limited = AuditEvent.objects.get(action=Action.RATELIMIT_API)
    assert limited.details["limit"] == "anon"
    assert limited.ip_address == "2001:db8:3:3:4::1"


def _documented_fields(schema: dict[str, Any], path: str, method: str, status: int) -> set[str]:
    answer = schema["paths"][path][method]["responses"][str(status)]
    reference = answer["content"]["application/json"]["schema"]["$ref"]
    return set(schema["components"]["schemas"][reference.rsplit("/", 1)[1]]["properties"])


def test_the_schema_names_every_field_of_the_sharing_answers(owner: User) -> None:
    """A client generated from the schema must not drop what the answer holds: the
    file request's address (shown once), a transfer's files and recipients."""
    from tests.files_helpers import root_of

    schema = json_of(Client().get("/api/v1/schema/", {"format": "json"}))
    _token, plaintext = token_for(owner, "read", "share")
    api = token_client(plaintext)

    asked = api.post(
        "/api/v1/sharing/requests/",
        {"folder": root_of(owner).pk, "title": "Scans"},
        content_type="application/json",
    )
    opened = api.get(f"/api/v1/sharing/requests/{asked.json()['id']}/")
    started = api.post(
        "/api/v1/sharing/transfers/", {"subject": "Scans"}, content_type="application/json"
    )
    seen = api.get(f"/api/v1/sharing/transfers/{started.json()['id']}/")

    requests, transfers = "/api/v1/sharing/requests/", "/api/v1/sharing/transfers/"
    assert set(asked.json()) == _documented_fields(schema, requests, "post", 201)
    assert set(opened.json()) == _documented_fields(schema, requests + "{request_id}/", "get", 200)
    assert set(started.json()) == _documented_fields(schema, transfers, "post", 201)
    assert set(seen.json()) == _documented_fields(schema, transfers + "{transfer_id}/", "get", 200)


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/files/spaces/", "get"),
        ("/api/v1/files/folders/{folder_id}/upload/", "post"),
        ("/api/v1/sharing/files/{file_id}/links/", "post"),
        ("/api/v1/sharing/transfers/{transfer_id}/send/", "post"),
        ("/api/v1/me/", "get"),
        ("/api/v1/tokens/", "post"),
    ],
)
def test_the_schema_declares_the_refusals_every_caller_may_meet(path: str, method: str) -> None:
    """A client generated from the schema knows the answers a token may get on any
    endpoint: 401 (no valid token), 403 (a scope it lacks, or a session without its CSRF
    token) and 429 (over the rate limit, with Retry-After), each the ``{"detail": ...}``
    body that DRF sends."""
    schema = json_of(Client().get("/api/v1/schema/", {"format": "json"}))
    for status in (401, 403, 429):
        assert _documented_fields(schema, path, method, status) == {"detail"}, (status, path)
    assert "Retry-After" in schema["paths"][path][method]["responses"]["429"].get("headers", {})
