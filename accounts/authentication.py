"""How API requests authenticate: a personal access token, or an MFA-verified session.

Also the permissions that depend on how a request authenticated (token scopes).
Bearer tokens follow RFC 6750 (``Authorization: Bearer sdpat_...``). A browser may also
call the API with its session cookie, but only once the session has passed a second
factor (django-otp); CSRF is then enforced as for any form.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import (
    BaseAuthentication,
    SessionAuthentication,
    get_authorization_header,
)
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts import reauth, tokens
from accounts.mfa import session_is_verified
from accounts.models import PersonalAccessToken, TokenScope, User
from audit import context as audit_context
from audit.context import client_ip
from audit.refusals import csrf_refusal_record

if TYPE_CHECKING:
    # Not at run time: DRF imports this module while rest_framework.views loads.
    from rest_framework.views import APIView

REALM = "SecureDrive API"
# Set on the request when a token was presented and refused, so that the 401 names
# the error as RFC 6750 section 3.1 asks ("invalid_token").
_REFUSED_MARK = "_securedrive_token_refused"


class PersonalAccessTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer sdpat_...``; ``request.auth`` is the PersonalAccessToken."""

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[User, PersonalAccessToken] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None  # not ours: another authentication class may answer
        try:
            raw = header[1].decode("ascii") if len(header) == 2 else ""
        except UnicodeDecodeError:
            raw = ""
        # Malformed headers go through token_authenticate too: one place audits refusals.
        token = tokens.token_authenticate(raw, ip=client_ip(request._request))
        if token is None:
            setattr(request, _REFUSED_MARK, True)
            raise exceptions.AuthenticationFailed(
                _("This token is not valid: it may be mistyped, expired or revoked.")
            )
        audit_context.token_authenticated(prefix=token.prefix, name=token.name)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        if getattr(request, _REFUSED_MARK, False):
            return f'Bearer realm="{REALM}", error="invalid_token"'
        return f'Bearer realm="{REALM}"'


class MFAVerifiedSessionAuthentication(SessionAuthentication):
    """Django's session, for the browser, only once a second factor was verified."""

    def authenticate(self, request: Request) -> tuple[Any, None] | None:
        user = getattr(request._request, "user", None)
        if user is None or not user.is_active:
            return None
        if not session_is_verified(user):
            raise exceptions.AuthenticationFailed(
                _("Confirm your second factor in SecureDrive before using the API.")
            )
        self.enforce_csrf(request)
        return user, None

    def enforce_csrf(self, request: Request) -> None:
        """The REST framework checks the session's CSRF token itself (not through
        ``CSRF_FAILURE_VIEW``): its refusal is recorded the same way."""
        try:
            super().enforce_csrf(request)
        except exceptions.PermissionDenied as refused:
            reason = str(refused.detail).removeprefix("CSRF Failed: ")
            csrf_refusal_record(request._request, reason=reason)
            raise


def HasScope(scope: str) -> type[BasePermission]:
    """Permission: a token must carry ``scope``; a verified session may do anything.

    Used as ``permission_classes = [IsAuthenticated, HasScope("read")]``. DRF
    instantiates permission classes itself, hence a class built per scope.
    """
    if scope not in TokenScope.values:
        raise ValueError(f"unknown token scope {scope!r}")
    return _HAS_SCOPE[scope]


def _has_scope_class(scope: str) -> type[BasePermission]:
    class _HasScope(BasePermission):
        def has_permission(self, request: Request, view: APIView) -> bool:
            if isinstance(request.auth, PersonalAccessToken):
                self.message = gettext("This token does not have the “%(scope)s” scope.") % {
                    "scope": scope
                }
                if scope in request.auth.scopes:
                    return True
                # A 403 decided here: audited here (a read-only token trying to change
                # or delete files, a write-only one trying to read them).
                tokens.token_scope_refused_record(
                    token=request.auth,
                    scope=scope,
                    method=request.method or "",
                    view=getattr(request.resolver_match, "view_name", "") or "",
                )
                return False
            return bool(request.user and request.user.is_authenticated)

    _HasScope.__name__ = _HasScope.__qualname__ = f"HasScope_{scope}"
    return _HasScope


_HAS_SCOPE = {scope: _has_scope_class(scope) for scope in TokenScope.values}


class VerifiedSessionOnly(BasePermission):
    """Account-security actions (minting tokens): a verified browser session, never a
    token. Otherwise a stolen token could mint itself a longer-lived successor."""

    message = _("Create tokens from a signed-in browser session, not with a token.")

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.auth is not None:
            return False
        if not session_is_verified(request.user):
            return False
        if not reauth.proof_is_recent(request._request):
            # The same recent-proof rule as the Tokens page (accounts/reauth.py).
            self.message = _(
                "Creating a token needs a recently confirmed second factor: sign in "
                "again or confirm it in SecureDrive, then retry."
            )
            return False
        return True
