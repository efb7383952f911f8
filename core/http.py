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


# Counts saturate at 2^53 - 1 bytes (8 PiB, beyond any file): the largest integer JSON
# carries exactly (RFC 8785, which the audit chain's canonical form follows) and well
# inside a PostgreSQL bigint. Longer digit strings never reach int(): it refuses more
# than 4,300 digits with a ValueError (CVE-2020-10735's limit), which was a 500.
COUNT_BEYOND_ANYTHING: int = 2**53 - 1
_COUNT_MAX_DIGITS = len(str(COUNT_BEYOND_ANYTHING))


def header_count(value: object) -> int | None:
    """A header holding a byte count or offset (Content-Length, Upload-Length,
    Upload-Offset) as a number, or ``None`` when it is not one.

    Only ASCII digits count (RFC 9110 ``1*DIGIT``): ``str.isdigit`` also accepts ``²``,
    which int() refuses, and Arabic-Indic or fullwidth digits, which int() reads but no
    client sends. A number too long to mean anything saturates at
    ``COUNT_BEYOND_ANYTHING``, so the caller's size or offset check refuses it with its
    own status."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        return None
    significant = value.lstrip("0") or "0"
    if len(significant) > _COUNT_MAX_DIGITS:
        return COUNT_BEYOND_ANYTHING
    return min(int(significant), COUNT_BEYOND_ANYTHING)


def digits_value(value: object) -> int | None:
    """A form field, query parameter or posted id that should hold a number, as one, or
    ``None`` when it does not: ``header_count``'s rule (ASCII digits only, absurd lengths
    saturated). ``str.isdigit`` then ``int()`` was a 500 for "²" (a digit to isdigit, not
    to int) and for more than 4,300 digits."""
    return header_count(value)
