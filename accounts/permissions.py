"""Who may open which part of the interface. One place, used by every view."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rest_framework.request import Request

from accounts.models import User
from audit.actions import Action
from audit.guards import role_required

View = Callable[..., HttpResponse]


def signed_in_user(request: HttpRequest | Request) -> User:
    """The person behind a request that a sign-in check (``login_required``, DRF's
    ``IsAuthenticated``) already let through. Anything else is refused, never assumed."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def site_admin_required(view: View) -> View:
    """Site administrators only; anyone else gets 403 and an audit event."""
    return role_required(_is_site_admin, denied_action=Action.ACCOUNTS_ADMIN_ACCESS)(view)


def role_approver_required(view: View) -> View:
    """Site administrators and auditors: the people who may approve a proposed role
    (accounts/roles.py). Anyone else gets 403 and an audit event."""
    return role_required(
        lambda user: _is_site_admin(user) or bool(getattr(user, "is_auditor", False)),
        denied_action=Action.ACCOUNTS_ADMIN_ACCESS,
    )(view)


def _is_site_admin(user: object) -> bool:
    return bool(getattr(user, "is_site_admin", False))
