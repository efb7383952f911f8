"""The identity provider as a form's destination, in the page's Content-Security-Policy.

A "Confirm with", "Accept with", "Continue with" or "Sign in again with <provider>"
button posts to SecureDrive, which answers with a redirect to the provider's
authorization endpoint. The site's policy says ``form-action 'self'``, and browsers
apply it to every redirect of a form's submission (CSP Level 3, §6.3.2.1): Chromium
blocked the redirect and the button did nothing. A page that shows such a button adds
the origin of that provider (its issuer's: the authorization endpoint of the providers
SecureDrive knows is on the same origin) to its own ``form-action``, and no other page
does: a form injected elsewhere still cannot post anywhere but SecureDrive.

The origin is the authorization endpoint's, as the provider's discovery document names
it, not the issuer's: some providers (ADFS or Azure behind a login host, Keycloak behind
a proxy rewriting the front channel) publish one on another origin, and the issuer's
origin there both blocked the button and allowed an origin the form never goes to. When
the metadata cannot be read, the issuer's origin is the best guess: the button then
leads to SecureDrive's own "cannot be reached" page, or, if the provider is back by then,
most likely to its issuer.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

import requests
from django.http import HttpRequest, HttpResponseBase

from sso.providers import Provider, ProviderError, client_for

_REQUEST_ATTRIBUTE = "_sd_provider_form_targets"


def provider_form_targets(request: HttpRequest | None, providers: Iterable[Provider]) -> None:
    """The page answering ``request`` shows a form whose submission the server redirects
    to each of ``providers``."""
    if request is None:
        return
    targets: set[str] = getattr(request, _REQUEST_ATTRIBUTE, set())
    for provider in providers:
        origin = _origin(_authorization_endpoint(provider)) or _origin(provider.issuer)
        if origin:
            targets.add(origin)
    setattr(request, _REQUEST_ATTRIBUTE, targets)


# After a failed read of a provider's metadata, pages do not try again for this long:
# every page of a password-only session shows "Sign in again with <provider>", and each
# would otherwise wait for an unreachable provider (up to HTTP_TIMEOUT_S) to render.
METADATA_RETRY_S = 60.0
_metadata_unreadable_until: dict[Provider, float] = {}


def _authorization_endpoint(provider: Provider) -> str:
    """Where the provider's metadata sends the browser ("" when it cannot be read); read
    once per client (sso/providers.py keeps it), as the redirect itself reads it."""
    if time.monotonic() < _metadata_unreadable_until.get(provider, 0.0):
        return ""
    try:
        endpoint = client_for(provider).load_server_metadata().get("authorization_endpoint")
    except (ProviderError, requests.RequestException, ValueError):
        _metadata_unreadable_until[provider] = time.monotonic() + METADATA_RETRY_S
        return ""
    return endpoint if isinstance(endpoint, str) else ""


# A host (name, IPv4, or [IPv6]) and an optional port, nothing else: the origin goes into
# a header, where a ";" or a space from a provider's document would add directives.
_HOST_AND_PORT = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def _origin(url: str) -> str:
    """The origin of an http(s) URL, as CSP names it; "" for anything else."""
    parts = urlsplit(url)
    if parts.scheme in ("https", "http") and _HOST_AND_PORT.fullmatch(parts.netloc):
        return f"{parts.scheme}://{parts.netloc}"
    return ""


class ProviderFormActionMiddleware:
    """Adds the origins marked by :func:`provider_form_targets` to the response's
    ``form-action`` (read by django-csp's middleware, which must come before this one)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        targets: set[str] = getattr(request, _REQUEST_ATTRIBUTE, set())
        if targets:
            update = dict(getattr(response, "_csp_update", None) or {})
            update["form-action"] = [*update.get("form-action", ()), *sorted(targets)]
            response._csp_update = update  # type: ignore[attr-defined]  # django-csp's hook
        return response
