"""Pages only some people may open: anyone else gets a 403 and an audit event naming the
page, so that probing the administration or the audit console leaves a trace.

The roles themselves are decided by the callers (accounts/permissions.py, the audit
console): ``audit`` never imports ``accounts``, so the check is a function of the user.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from audit import services as audit
from audit.actions import Action
from audit.models import Outcome

Response = TypeVar("Response", bound=HttpResponseBase)


def role_required(
    allowed: Callable[[Any], bool], *, denied_action: Action
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """A view decorator: signed-in people for whom ``allowed(user)`` holds; anyone else
    signed in gets 403 and a ``denied_action`` event (the sign-in page comes first)."""

    def decorator(view: Callable[..., Response]) -> Callable[..., Response]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
            if not allowed(request.user):
                audit.record(
                    action=denied_action,
                    outcome=Outcome.DENIED,
                    actor=request.user,
                    details={"path": request.path},
                )
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
