"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0): the provider says a person
signed out there, and SecureDrive ends their sessions. The logout tokens are the real
provider's, signed with its key (tests/oidc_provider/server.js, hook /admin/logout-token),
except the one signed with a key of our own.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests
import time_machine
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

from accounts.models import User, UserSession
from accounts.sessions import EndReason
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from sso.models import ProviderSession
from tests.oidc_helpers import OTHER_CLIENT_ID, STRONG_ACR, OpenIDProvider
from tests.test_sso_oidc import ALICE_SUB, landing, linked_alice, sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("oidc_provider")]


def signed_in_browser(live_server: Any, provider: OpenIDProvider) -> requests.Session:
    """Alice's browser, signed in through the provider with an accepted acr."""
    provider.assurance(STRONG_ACR)
    http = requests.Session()
    assert landing(http, sign_in(live_server, "alice", http=http)) == "/"
    return http


def still_signed_in(live_server: Any, http: requests.Session) -> bool:
    return http.get(f"{live_server.url}/api/v1/me/", timeout=10).status_code == 200


def post_logout(live_server: Any, token: str) -> requests.Response:
    return requests.post(
        f"{live_server.url}/sso/test/backchannel-logout/",
        data={"logout_token": token},
        timeout=10,
    )


def refused(reason: str) -> bool:
    return AuditEvent.objects.filter(
        action=Action.SSO_BACKCHANNEL_LOGOUT, outcome=Outcome.DENIED, details__reason=reason
    ).exists()


def test_logout_at_the_provider_ends_the_session_it_opened(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    alice = linked_alice(oidc_provider)
    http = signed_in_browser(live_server, oidc_provider)
    link = ProviderSession.objects.get(identity__user=alice)
    token = oidc_provider.admin("logout-token", sub=ALICE_SUB, sid=link.sid)["logout_token"]

    answer = post_logout(live_server, token)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"].startswith("max-age=0")
    assert not still_signed_in(live_server, http)
    ended = UserSession.objects.get(user=alice)
    assert ended.end_reason == EndReason.PROVIDER_LOGOUT
    event = AuditEvent.objects.get(action=Action.SSO_BACKCHANNEL_LOGOUT, outcome=Outcome.SUCCESS)
    assert event.details["sessions_ended"] == 1
    assert event.target_id == str(alice.pk)


def test_logout_naming_only_the_person_ends_all_her_sessions(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    alice = linked_alice(oidc_provider)
    ward_pc = signed_in_browser(live_server, oidc_provider)
    office_pc = signed_in_browser(live_server, oidc_provider)
    token = oidc_provider.admin("logout-token", sub=ALICE_SUB)["logout_token"]
    assert post_logout(live_server, token).status_code == 200
    assert not still_signed_in(live_server, ward_pc)
    assert not still_signed_in(live_server, office_pc)
    assert not UserSession.objects.filter(user=alice, ended_at__isnull=True).exists()


def test_replayed_logout_token_is_refused(live_server: Any, oidc_provider: OpenIDProvider) -> None:
    linked_alice(oidc_provider)
    token = oidc_provider.admin("logout-token", sub=ALICE_SUB)["logout_token"]
    assert post_logout(live_server, token).status_code == 200
    http = signed_in_browser(live_server, oidc_provider)
    assert post_logout(live_server, token).status_code == 400
    assert still_signed_in(live_server, http)
    assert refused("replayed jti")


@pytest.mark.parametrize(
    ("hook_arguments", "reason"),
    [
        ({"client_id": OTHER_CLIENT_ID}, "wrong audience"),
        ({"events": False}, "no back-channel logout event"),
        ({"nonce": "n-0S6_WzA2Mj"}, "nonce present"),
    ],
    ids=["another-application", "no-event", "with-nonce"],
)
def test_malformed_logout_tokens_of_the_provider_are_refused(
    live_server: Any, oidc_provider: OpenIDProvider, hook_arguments: dict[str, Any], reason: str
) -> None:
    linked_alice(oidc_provider)
    http = signed_in_browser(live_server, oidc_provider)
    token = oidc_provider.admin("logout-token", sub=ALICE_SUB, **hook_arguments)["logout_token"]
    assert post_logout(live_server, token).status_code == 400
    assert still_signed_in(live_server, http)
    assert refused(reason)


def test_old_logout_token_is_refused(live_server: Any, oidc_provider: OpenIDProvider) -> None:
    linked_alice(oidc_provider)
    http = signed_in_browser(live_server, oidc_provider)
    token = oidc_provider.admin("logout-token", sub=ALICE_SUB)["logout_token"]
    with time_machine.travel(dt.datetime.now(tz=dt.UTC) + dt.timedelta(minutes=30), tick=True):
        assert post_logout(live_server, token).status_code == 400
    assert refused("iat out of range")
    assert still_signed_in(live_server, http)


def test_logout_token_signed_with_another_key_is_refused(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    linked_alice(oidc_provider)
    http = signed_in_browser(live_server, oidc_provider)
    # Everything right but the key: one the provider never had.
    claims = {
        "iss": oidc_provider.issuer,
        "aud": "securedrive",
        "iat": int(dt.datetime.now(tz=dt.UTC).timestamp()),
        "jti": "forged-1",
        "sub": ALICE_SUB,
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    }
    own_key = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    forged = jwt.encode({"alg": "RS256", "typ": "logout+jwt"}, claims, own_key)
    assert post_logout(live_server, forged).status_code == 400
    assert still_signed_in(live_server, http)
    assert AuditEvent.objects.filter(
        action=Action.SSO_BACKCHANNEL_LOGOUT, outcome=Outcome.DENIED
    ).exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"logout_token": "not-a-jwt"},
        {"logout_token": "a.b.c"},
        {"logout_token": "x" * 20000},
    ],
)
def test_garbage_is_a_400_never_a_500(live_server: Any, body: dict[str, str]) -> None:
    answer = requests.post(f"{live_server.url}/sso/test/backchannel-logout/", data=body, timeout=10)
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid_request"}


def test_logout_endpoint_answers_post_only_and_knows_its_providers(live_server: Any) -> None:
    url = f"{live_server.url}/sso/test/backchannel-logout/"
    assert requests.get(url, timeout=10).status_code == 405
    unknown = requests.post(
        f"{live_server.url}/sso/nobody/backchannel-logout/", data={"logout_token": "x"}, timeout=10
    )
    assert unknown.status_code == 404


def test_nobody_signed_in_is_left_unaffected_by_a_logout_for_someone_else(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    linked_alice(oidc_provider)
    http = signed_in_browser(live_server, oidc_provider)
    token = oidc_provider.admin("logout-token", sub="someone-else")["logout_token"]
    assert post_logout(live_server, token).status_code == 200
    assert still_signed_in(live_server, http)
    assert User.objects.count() == 1


def test_made_up_key_ids_do_not_make_us_hammer_the_provider(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    own_key = RSAKey.import_key(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    fetched = oidc_provider.stats()["jwks_requests"]
    for attempt in range(5):
        claims = {
            "iss": oidc_provider.issuer,
            "aud": "securedrive",
            "iat": int(dt.datetime.now(tz=dt.UTC).timestamp()),
            "jti": f"made-up-{attempt}",
            "sub": ALICE_SUB,
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
        }
        token = jwt.encode({"alg": "RS256", "kid": f"made-up-{attempt}"}, claims, own_key)
        assert post_logout(live_server, token).status_code == 400
    # Five unknown key ids: the keys are read (if not yet known) and fetched again at
    # most once (one refresh per 10 s and provider), not five times.
    assert oidc_provider.stats()["jwks_requests"] - fetched <= 2


def test_a_burst_of_genuine_logouts_from_the_provider_is_never_held_back(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    """The provider signs a whole ward out at once (the end of a shift, an administrator's
    "sign everyone out" after an incident): every genuine logout token is applied, however
    many come from its address in a minute. Only refused requests count towards the
    per-address limit: a limit on the provider's own logouts left sessions open on
    shared PCs, the very ones the logout was meant to close."""
    from sso.views import BACKCHANNEL_REFUSALS_RATE

    alice = linked_alice(oidc_provider)
    http = signed_in_browser(live_server, oidc_provider)
    burst, _per = BACKCHANNEL_REFUSALS_RATE.split("/")
    for colleague in range(int(burst)):
        token = oidc_provider.admin("logout-token", sub=f"colleague-{colleague}")["logout_token"]
        assert post_logout(live_server, token).status_code == 200
    link = ProviderSession.objects.get(identity__user=alice)
    token = oidc_provider.admin("logout-token", sub=ALICE_SUB, sid=link.sid)["logout_token"]
    assert post_logout(live_server, token).status_code == 200
    assert not still_signed_in(live_server, http)


def test_refused_logout_requests_are_limited_per_address_without_flooding_the_log(
    live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    """Garbage from one address: refused (400, each on record) up to the limit, then 429
    with one record for the window; a genuine logout still goes through."""
    from sso.views import BACKCHANNEL_REFUSALS_RATE

    alice = linked_alice(oidc_provider)
    http = signed_in_browser(live_server, oidc_provider)
    limit = int(BACKCHANNEL_REFUSALS_RATE.split("/")[0])
    statuses = [post_logout(live_server, "not-a-jwt").status_code for _ in range(limit + 5)]
    assert statuses[:limit] == [400] * limit
    assert statuses[limit:] == [429] * 5
    refusals = AuditEvent.objects.filter(
        action=Action.SSO_BACKCHANNEL_LOGOUT, outcome=Outcome.DENIED
    )
    assert refusals.count() == limit + 1  # each refusal, then the window's first 429
    link = ProviderSession.objects.get(identity__user=alice)
    token = oidc_provider.admin("logout-token", sub=ALICE_SUB, sid=link.sid)["logout_token"]
    assert post_logout(live_server, token).status_code == 200
    assert not still_signed_in(live_server, http)
