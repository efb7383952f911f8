"""The identity providers' settings fail closed (securedrive/config.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import environ
import pytest
from django.core.exceptions import ImproperlyConfigured

from securedrive.config import oidc_providers_from

PSC = {
    "SECUREDRIVE_OIDC_PROVIDERS": "psc",
    "SECUREDRIVE_OIDC_PSC_NAME": "Pro Santé Connect",
    "SECUREDRIVE_OIDC_PSC_ISSUER": "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet",
    "SECUREDRIVE_OIDC_PSC_CLIENT_ID": "securedrive-chu",
    "SECUREDRIVE_OIDC_PSC_CLIENT_SECRET": "s3cr3t-from-the-ans",
    "SECUREDRIVE_OIDC_PSC_SCOPES": "openid scope_all",
    "SECUREDRIVE_OIDC_PSC_ACR_VALUES": "eidas1",
    "SECUREDRIVE_OIDC_PSC_ACCEPTED_ACR": "eidas1",
}


def providers(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], *, production: bool
) -> dict[str, dict[str, Any]]:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return oidc_providers_from(environ.FileAwareEnv(), production=production)


def test_no_provider_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECUREDRIVE_OIDC_PROVIDERS", raising=False)
    assert oidc_providers_from(environ.FileAwareEnv(), production=True) == {}


def test_pro_sante_connect_profile_reads_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    psc = providers(monkeypatch, PSC, production=True)["psc"]
    assert psc["name"] == "Pro Santé Connect"
    assert psc["discovery_url"] == (
        "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet/.well-known/openid-configuration"
    )
    assert psc["accepted_acr"] == ["eidas1"]
    assert psc["acr_values"] == "eidas1"
    assert psc["create_accounts"] is False
    assert psc["require_email_verified"] is True


def test_secret_may_come_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "keycloak_secret"
    secret.write_text("from-a-docker-secret")
    # Another provider's name: django-environ keeps what it read from a file for the
    # process, so the other stories' PSC secret must not come from one.
    variables = {
        "SECUREDRIVE_OIDC_PROVIDERS": "keycloak",
        "SECUREDRIVE_OIDC_KEYCLOAK_ISSUER": "https://sso.chu.example/realms/staff",
        "SECUREDRIVE_OIDC_KEYCLOAK_CLIENT_ID": "securedrive",
        "SECUREDRIVE_OIDC_KEYCLOAK_CLIENT_SECRET_FILE": str(secret),
    }
    keycloak = providers(monkeypatch, variables, production=True)["keycloak"]
    assert keycloak["client_secret"] == "from-a-docker-secret"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"SECUREDRIVE_OIDC_PSC_CLIENT_SECRET": ""}, "CLIENT_SECRET is required"),
        ({"SECUREDRIVE_OIDC_PSC_ISSUER": "http://idp.example"}, "must be an https:// URL"),
        ({"SECUREDRIVE_OIDC_PSC_SCOPES": "scope_all"}, "must include 'openid'"),
        ({"SECUREDRIVE_OIDC_PROVIDERS": "PSC!"}, "lower-case letters"),
        (
            {
                "SECUREDRIVE_OIDC_PSC_CREATE_ACCOUNTS": "true",
                "SECUREDRIVE_OIDC_PSC_REQUIRE_EMAIL_VERIFIED": "false",
            },
            "CREATE_ACCOUNTS needs verified addresses",
        ),
    ],
)
def test_unsafe_or_incomplete_provider_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, change: dict[str, str], problem: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=problem):
        providers(monkeypatch, {**PSC, **change}, production=True)
