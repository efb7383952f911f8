"""ID tokens a hostile party could hand SecureDrive after a genuine code exchange, each
refused without a session: the classic JWT confusions (``alg: none``; HS256 "signed"
with the client secret, which whoever reads SecureDrive's configuration holds), an
issuer that is not the provider's, and an audience that is only another application's.

A fake token endpoint in front of the real provider swaps the ID token
(tests/oidc_helpers.py, ``forging_provider``); the claims are the real ones but for what
each story changes, and a key SecureDrive trusts as the provider's signs them, so that
only that change can be the reason for the refusal.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from accounts.models import UserSession
from tests.oidc_helpers import CLIENT_SECRET, OTHER_CLIENT_ID, Forgery, OpenIDProvider
from tests.test_sso_oidc import _claims_of, linked_alice, refusals, sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("oidc_provider")]

TRUSTED = RSAKey.import_key(
    rsa.generate_private_key(public_exponent=65537, key_size=2048),
    parameters={"kid": "provider-key", "alg": "RS256", "use": "sig"},
)


def _segment(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def unsigned(claims: dict[str, Any]) -> str:
    return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(claims)}."


def signed_with_the_client_secret(claims: dict[str, Any]) -> str:
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(CLIENT_SECRET))


def from_another_issuer(claims: dict[str, Any]) -> str:
    return jwt.encode(
        {"alg": "RS256", "kid": "provider-key"},
        {**claims, "iss": "https://login.attacker.example"},
        TRUSTED,
    )


def for_another_application_naming_us_as_azp(claims: dict[str, Any]) -> str:
    return jwt.encode(
        {"alg": "RS256", "kid": "provider-key"},
        {**claims, "aud": [OTHER_CLIENT_ID], "azp": claims["aud"]},
        TRUSTED,
    )


@pytest.mark.parametrize(
    "forge",
    [
        unsigned,
        signed_with_the_client_secret,
        from_another_issuer,
        for_another_application_naming_us_as_azp,
    ],
)
def test_a_forged_id_token_after_a_genuine_exchange_opens_no_session(
    live_server: Any,
    oidc_provider: OpenIDProvider,
    forging_provider: Forgery,
    forge: Callable[[dict[str, Any]], str],
) -> None:
    alice = linked_alice(oidc_provider)
    forging_provider.trusted_key = TRUSTED
    forging_provider.replace = lambda real: forge(_claims_of(real["id_token"])[1])
    refused = sign_in(live_server, "alice", slug="forged")
    assert refused.status_code == 400
    assert forging_provider.real_responses  # the code was exchanged, the token swapped
    assert not UserSession.objects.filter(user=alice).exists()
    assert refusals()
