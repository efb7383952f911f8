"""Who may open which part of the interface. One place, used by every view."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from rest_framework.request import Request

from accounts.models import User
from audit import services as audit
from audit.actions import Action
from audit.models import Outcome

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

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not getattr(request.user, "is_site_admin", False):
            audit.record(
                action=Action.ACCOUNTS_ADMIN_ACCESS,
                outcome=Outcome.DENIED,
                actor=request.user,
                details={"path": request.path},
            )
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def role_approver_required(view: View) -> View:
    """Site administrators and auditors: the people who may approve a proposed role
    (accounts/roles.py). Anyone else gets 403 and an audit event."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if not (getattr(user, "is_site_admin", False) or getattr(user, "is_auditor", False)):
            audit.record(
                action=Action.ACCOUNTS_ADMIN_ACCESS,
                outcome=Outcome.DENIED,
                actor=user,
                details={"path": request.path},
            )
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper
