"""A passkey assertion grants nothing before django-otp-webauthn's own checks pass.

The package verifies the signature in the helper (accounts/webauthn.py), then, in its
view, refuses a disabled credential or a deactivated person. Success (the audit event,
the new session id, the recent proof of accounts/reauth.py) must wait for both.

The authenticator is software, as a security key would answer: an ES256 key pair, a
signature over the authenticator data and the hash of the client data (WebAuthn §6.3.3).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client
from django_otp_webauthn.models import WebAuthnCredential
from pytest_django import Settings

from accounts.models import User
from accounts.reauth import PROOF_SESSION_KEY
from audit.actions import Action
from audit.models import AuditEvent
from tests.helpers import client_password_only, client_signed_in

pytestmark = pytest.mark.django_db

BEGIN = "/accounts/webauthn/authentication/begin/"
COMPLETE = "/accounts/webauthn/authentication/complete/"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SoftPasskey:
    def __init__(self, user: User, *, confirmed: bool = True) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.key.public_key().public_numbers()
        cose = {
            1: 2,
            3: -7,
            -1: 1,
            -2: numbers.x.to_bytes(32, "big"),
            -3: numbers.y.to_bytes(32, "big"),
        }
        self.credential_id = hashlib.sha256(str(id(self)).encode()).digest()
        self.device = WebAuthnCredential.objects.create(
            user=user,
            name="Ward laptop",
            confirmed=confirmed,
            credential_id=self.credential_id,
            public_key=cbor2.dumps(cose),
        )
        self.sign_count = 0

    def assertion(self, challenge: str) -> dict[str, Any]:
        self.sign_count += 1
        client_data = json.dumps(
            {"type": "webauthn.get", "challenge": challenge, "origin": "http://testserver"}
        ).encode()
        # rpIdHash, flags (user present and verified), signature counter.
        authenticator_data = (
            hashlib.sha256(b"testserver").digest()
            + bytes([0x05])
            + self.sign_count.to_bytes(4, "big")
        )
        signature = self.key.sign(
            authenticator_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(authenticator_data),
                "signature": b64url(signature),
            },
        }


def touch(browser: Client, passkey: SoftPasskey) -> Any:
    options = browser.post(BEGIN, content_type="application/json")
    assert options.status_code == 200, options.content
    challenge = options.json()["challenge"]
    return browser.post(COMPLETE, passkey.assertion(challenge), content_type="application/json")


@pytest.fixture(autouse=True)
def relying_party(settings: Settings) -> None:
    settings.OTP_WEBAUTHN_RP_ID = "testserver"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = ["http://testserver"]


def successes() -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            action__in=[Action.ACCOUNTS_MFA_VERIFY, Action.ACCOUNTS_REAUTH], outcome="success"
        )
    )


def test_a_working_passkey_signs_in_and_counts_as_a_recent_proof(owner: User) -> None:
    passkey = SoftPasskey(owner)
    browser = client_password_only(owner)
    assert touch(browser, passkey).status_code == 200
    assert browser.get("/").status_code == 200
    assert PROOF_SESSION_KEY in browser.session
    [verified] = successes()
    assert verified.details["device_type"] == "passkey"


def test_a_disabled_passkey_grants_no_recent_proof_and_is_not_logged_as_a_success(
    owner: User,
) -> None:
    """Alice's signed-in session is past its recent-proof window; a passkey she disabled
    (or one not yet confirmed) must not make it fresh enough to mint tokens."""
    browser = client_signed_in(owner)
    session = browser.session
    del session[PROOF_SESSION_KEY]
    session.save()
    key_before = browser.session.session_key
    disabled = SoftPasskey(owner, confirmed=False)

    refused = touch(browser, disabled)
    assert refused.status_code in (400, 403)
    assert PROOF_SESSION_KEY not in browser.session
    assert browser.session.session_key == key_before
    assert successes() == []
    [denied] = AuditEvent.objects.filter(action=Action.ACCOUNTS_REAUTH, outcome="denied")
    assert denied.details["device_type"] == "passkey"
