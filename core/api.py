"""The REST API's one exception handler (``REST_FRAMEWORK["EXCEPTION_HANDLER"]``).

Every API view raises the app errors (``core.errors``) and lets this turn them into
answers, instead of each view class translating them itself.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import NotFound, ParseError
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import NotFoundForActor, RuleError


class JSONBodyParser(JSONParser):
    """DRF's JSON parser, with a body nested too deep for Python's decoder refused as
    400 like any other JSON error (DRF catches ValueError, not RecursionError)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deep") from None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """``NotFoundForActor`` → 404 (already audited by the selector); ``RuleError`` →
    its status code with ``{"detail": message}``; anything else as DRF answers it."""
    if isinstance(exc, NotFoundForActor):
        exc = NotFound()
    elif isinstance(exc, RuleError):
        response = Response({"detail": str(exc)}, status=exc.status_code)
        for name, value in exc.headers.items():
            response[name] = value
        return response
    return drf_exception_handler(exc, context)
