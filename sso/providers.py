"""The configured OpenID providers and their Authlib clients.

Why Authlib (not mozilla-django-oidc): one registry for several providers, PKCE (S256)
and ``nonce`` built into the authorization request, ID token validation that re-fetches
the provider's JWKS once when a token names an unknown key (key rotation), and the
JOSE pieces (joserfc) needed to check back-channel logout tokens with the same keys.
mozilla-django-oidc is built around one provider per site and leaves the rest to
subclassing.

Settings come from ``settings.OIDC_PROVIDERS`` (``securedrive/config.py``). A client is
built once per configuration and kept, so the provider's metadata and keys are fetched
once, not at every sign-in.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from authlib.integrations.django_client import DjangoOAuth2App, OAuth
from django.conf import settings
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

if TYPE_CHECKING:
    from joserfc.jwk import KeySetSerialization

# What SecureDrive accepts as the signature of an ID token or logout token, whatever a
# provider's metadata claims: asymmetric algorithms only (a client-secret HMAC would let
# anyone holding the secret mint tokens; "none" is never a signature).
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
# The provider answers within this many seconds or the sign-in fails cleanly.
HTTP_TIMEOUT_S = 10


class ProviderError(Exception):
    """The provider's metadata is unusable (issuer mix-up, no keys)."""


@dataclass(frozen=True)
class Provider:
    slug: str
    name: str
    issuer: str
    discovery_url: str
    client_id: str
    client_secret: str
    scopes: str
    acr_values: str
    accepted_acr: tuple[str, ...]
    accepted_amr: tuple[str, ...]
    create_accounts: bool
    email_claim: str
    require_email_verified: bool

    @property
    def accepts_second_factor(self) -> bool:
        """The administrator accepts some assurance of this provider as the second factor."""
        return bool(self.accepted_acr or self.accepted_amr)

    def asserts_strong_authentication(self, claims: dict[str, Any]) -> bool:
        """The ID token says the person was authenticated in a way the administrator
        accepts as a second factor (``acr`` or one of the ``amr`` values)."""
        acr = claims.get("acr")
        if isinstance(acr, str) and acr in self.accepted_acr:
            return True
        amr = claims.get("amr")
        return isinstance(amr, list) and any(
            isinstance(value, str) and value in self.accepted_amr for value in amr
        )


def _provider_from(slug: str, values: dict[str, Any]) -> Provider:
    return Provider(
        slug=slug,
        name=str(values.get("name") or slug),
        issuer=str(values["issuer"]),
        discovery_url=str(values["discovery_url"]),
        client_id=str(values["client_id"]),
        client_secret=str(values["client_secret"]),
        scopes=str(values.get("scopes") or "openid"),
        acr_values=str(values.get("acr_values") or ""),
        accepted_acr=tuple(values.get("accepted_acr") or ()),
        accepted_amr=tuple(values.get("accepted_amr") or ()),
        create_accounts=bool(values.get("create_accounts")),
        email_claim=str(values.get("email_claim") or "email"),
        require_email_verified=bool(values.get("require_email_verified", True)),
    )


def providers_configured() -> list[Provider]:
    configured: dict[str, dict[str, Any]] = getattr(settings, "OIDC_PROVIDERS", {})
    return [_provider_from(slug, values) for slug, values in configured.items()]


def provider_get(slug: str) -> Provider | None:
    return next((provider for provider in providers_configured() if provider.slug == slug), None)


def provider_for_issuer(issuer: str) -> Provider | None:
    return next(
        (provider for provider in providers_configured() if provider.issuer == issuer), None
    )


_clients: dict[Provider, DjangoOAuth2App] = {}
_clients_lock = threading.Lock()


def client_for(provider: Provider) -> DjangoOAuth2App:
    """The Authlib client of a provider, its metadata loaded and checked."""
    with _clients_lock:
        client = _clients.get(provider)
        if client is None:
            registry = OAuth()
            client = registry.register(
                name=f"sso-{provider.slug}",
                client_id=provider.client_id,
                client_secret=provider.client_secret,
                server_metadata_url=provider.discovery_url,
                client_kwargs={
                    "scope": provider.scopes,
                    "code_challenge_method": "S256",
                    "timeout": HTTP_TIMEOUT_S,
                },
            )
            _clients[provider] = client
        metadata = client.load_server_metadata()
    # Mix-up defence (RFC 9207 §2.4's concern, OpenID Discovery §4.3): the metadata must
    # be the configured issuer's own, or its endpoints and keys are someone else's.
    if metadata.get("issuer") != provider.issuer:
        raise ProviderError("the provider's metadata names another issuer")
    advertised = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
    metadata["id_token_signing_alg_values_supported"] = [
        algorithm for algorithm in advertised if algorithm in SIGNING_ALGORITHMS
    ]
    return client


def jwk_set(provider: Provider, *, refresh: bool = False) -> dict[str, Any]:
    """The provider's public keys; ``refresh`` fetches them again (a rotated key)."""
    keys: dict[str, Any] = client_for(provider).fetch_jwk_set(force=refresh)
    return keys


def signed_claims(provider: Provider, token: str) -> dict[str, Any]:
    """The claims of a JWT signed by the provider (a signed UserInfo answer, a logout
    token): checked against its keys, fetched again once for an unknown key id. Raises
    joserfc's ``JoseError`` (or ``ValueError`` for what is not a JWT)."""
    registry = JWSRegistry(algorithms=list(SIGNING_ALGORITHMS))
    try:
        keys = KeySet.import_key_set(cast("KeySetSerialization", jwk_set(provider)))
        decoded = jwt.decode(token, keys, registry=registry)
    except InvalidKeyIdError:
        fresh = cast("KeySetSerialization", jwk_set(provider, refresh=True))
        decoded = jwt.decode(token, KeySet.import_key_set(fresh), registry=registry)
    claims: dict[str, Any] = dict(decoded.claims)
    if claims.get("iss", provider.issuer) != provider.issuer:
        raise ValueError("signed by the provider for another issuer")
    audience = claims.get("aud", provider.client_id)
    if provider.client_id not in (audience if isinstance(audience, list) else [audience]):
        raise ValueError("signed by the provider for another client")
    return claims
