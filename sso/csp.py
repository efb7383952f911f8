"""The identity provider as a form's destination, in the page's Content-Security-Policy.

A "Confirm with", "Accept with", "Continue with" or "Sign in again with <provider>"
button posts to SecureDrive, which answers with a redirect to the provider's
authorization endpoint. The site's policy says ``form-action 'self'``, and browsers
apply it to every redirect of a form's submission (CSP Level 3, §6.3.2.1): Chromium
blocked the redirect and the button did nothing. A page that shows such a button adds
the origin of that provider (its issuer's: the authorization endpoint of the providers
SecureDrive knows is on the same origin) to its own ``form-action``, and no other page
does: a form injected elsewhere still cannot post anywhere but SecureDrive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponseBase

from sso.providers import Provider

_REQUEST_ATTRIBUTE = "_sd_provider_form_targets"


def provider_form_targets(request: HttpRequest | None, providers: Iterable[Provider]) -> None:
    """The page answering ``request`` shows a form whose submission the server redirects
    to each of ``providers``."""
    if request is None:
        return
    targets: set[str] = getattr(request, _REQUEST_ATTRIBUTE, set())
    for provider in providers:
        parts = urlsplit(provider.issuer)
        if parts.scheme in ("https", "http") and parts.netloc:
            targets.add(f"{parts.scheme}://{parts.netloc}")
    setattr(request, _REQUEST_ATTRIBUTE, targets)


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
