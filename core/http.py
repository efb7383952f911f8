"""HTTP helpers every app's browser views share (imports no app)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest, HttpResponseBase
from django.utils.functional import Promise

from core.errors import NotFoundForActor

View = Callable[..., HttpResponseBase]


def errors_as_404(*errors: type[Exception], message: str | Promise) -> Callable[[View], View]:
    """A view decorator: the "not yours or does not exist" errors a selector raises
    (and has already audited) become one 404, so an id from elsewhere confirms nothing.

    Without ``errors`` it catches every ``NotFoundForActor`` (files, transfers, file
    requests...); ``message`` is the 404's text."""
    caught = errors or (NotFoundForActor,)

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                return view(request, *args, **kwargs)
            except caught:
                raise Http404(str(message)) from None

        return wrapper

    return decorator
