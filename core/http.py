"""HTTP helpers every app's browser views share (imports no app)."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest, HttpResponseBase
from django.utils.functional import Promise
from django.utils.http import url_has_allowed_host_and_scheme

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


def next_path(request: HttpRequest, candidate: str) -> str:
    """``candidate`` (a ``next`` parameter) if it is a path on this site, else "".

    Only a path: ``redirect()`` reads a bare word as a URL name ("%" or "0" raised
    NoReverseMatch, a 500; "home" went home) and a relative one ("report.pdf") lands
    below the page that posted. ``url_has_allowed_host_and_scheme`` still refuses
    ``//evil.example`` and ``/\\evil.example`` (open redirect)."""
    if candidate.startswith("/") and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


class DuplicateKeyError(ValueError):
    """A JSON object that gives one key twice (``key``, as sent)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key[:40]!r}")
        self.key = key


def object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for ``json.loads``: ``{"active": true, "active": false}`` is
    refused, not read as its last value. A proxy, a log or a reviewer reading the first
    would not see what was done (RFC 8259 §4: names SHOULD be unique; I-JSON, RFC 7493
    §2.3: MUST)."""
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKeyError(key)
        seen[key] = value
    return seen


def _not_json_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_document(raw: bytes | str) -> Any:
    """``raw`` parsed as JSON, ``ValueError`` if it is not JSON (RFC 8259), nests too deep
    or gives a key twice in one object (``DuplicateKeyError``, which names it).

    Python's decoder recurses once per ``[`` or ``{``: 100,000 of them raise
    RecursionError, which callers catching ``ValueError`` (DRF's parser, SCIM) let
    through as a 500. It also reads ``NaN`` and ``Infinity``, which are not JSON."""
    try:
        return json.loads(
            raw,
            object_pairs_hook=object_without_duplicate_keys,
            parse_constant=_not_json_constant,
        )
    except RecursionError as error:
        raise ValueError("JSON nested too deep") from error


# An id in a URL, a form or a query string: a PostgreSQL bigint has at most 19 digits.
_ID_MAX_DIGITS = 18


def id_number(value: object) -> int | None:
    """An object id someone sent (query string, form field, SCIM path or member) as a
    number, or ``None`` when it is not one.

    Only ASCII digits: ``str.isdigit`` also accepts ``²``, on which ``int()`` raises, and
    ``int()`` refuses more than 4,300 digits (CVE-2020-10735's limit); both were a 500
    wherever an id was read as ``int(value) if value.isdigit()``."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        return None
    if len(value) > _ID_MAX_DIGITS:
        return None
    return int(value)


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
