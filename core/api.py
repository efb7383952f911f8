"""The REST API's one exception handler (``REST_FRAMEWORK["EXCEPTION_HANDLER"]``).

Every API view raises the app errors (``core.errors``) and lets this turn them into
answers, instead of each view class translating them itself.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.utils.translation import gettext as _
from rest_framework import parsers as drf_parsers
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.utils import json
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import NotFoundForActor, RuleError
from core.http import object_without_duplicate_keys


class JSONBodyParser(JSONParser):
    """DRF's JSON parser (which reads ``request.body``, so Django's
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bounds it), with two refusals DRF leaves out, each
    a 400 like any other JSON error (recorded as refused input, audit/refusals.py): a
    key given twice in one object, and a body nested too deep for Python's decoder (DRF
    catches ValueError, not RecursionError)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        # DRF's own check: a text charset only (a bz2 "charset" would decompress).
        encoding = drf_parsers.get_encoding(parser_context or {})  # type: ignore[attr-defined]
        try:
            # DRF hands a BytesIO of request.body: already in memory, within the limit.
            return json.loads(
                stream.read().decode(encoding),
                parse_constant=json.strict_constant if self.strict else None,
                object_pairs_hook=object_without_duplicate_keys,
            )
        except ValueError as error:  # UnicodeDecodeError is one
            raise ParseError(f"JSON parse error - {error}") from None
        except RecursionError:
            raise ParseError("JSON parse error - nested too deep") from None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """``NotFoundForActor`` → 404 (already audited by the selector); a body over
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` → 413; ``RuleError`` →
    its status code with ``{"detail": message}``; anything else as DRF answers it."""
    if isinstance(exc, NotFoundForActor):
        exc = NotFound()
    elif isinstance(exc, RequestDataTooBig):
        # Django's own answer would be its HTML 400 page: the body is over
        # DATA_UPLOAD_MAX_MEMORY_SIZE (docs/api.md, "Errors").
        return Response({"detail": _("The request body is too large.")}, status=413)
    elif isinstance(exc, RuleError):
        response = Response({"detail": str(exc)}, status=exc.status_code)
        for name, value in exc.headers.items():
            response[name] = value
        return response
    return drf_exception_handler(exc, context)
