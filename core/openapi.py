"""The OpenAPI schema's refusals: what any endpoint may answer before its view runs.

drf-spectacular describes what a view declares (``@extend_schema(responses=...)``); the
refusals made around the view (authentication, permissions and scopes, CSRF for a
session, rate limits) were missing, so a client generated from the schema did not know
a 401, a 403 or a 429 could come. ``AutoSchema`` adds them to every operation that
needs them, with the JSON body DRF sends (``{"detail": "..."}``) and, for a 429, the
``Retry-After`` header (RFC 9110 §10.2.3, RFC 6585 §4).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny


@extend_schema_serializer(component_name="Refusal")
class RefusalSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField(help_text="What was refused and why, for a person.")


_UNAUTHENTICATED = OpenApiResponse(
    RefusalSerializer, description="No valid token, or a session without a second factor."
)
_FORBIDDEN = OpenApiResponse(
    RefusalSerializer,
    description="The token lacks the scope, or a session's request lacks its CSRF token.",
)
_RATE_LIMITED = OpenApiResponse(
    RefusalSerializer, description="Over the rate limit: try again after Retry-After seconds."
)
_RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer"},
        "description": "Seconds to wait before trying again.",
    }
}


class AutoSchema(openapi.AutoSchema):
    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        refusals: dict[str, OpenApiResponse] = {}
        permissions = self.view.get_permissions()
        if any(not isinstance(permission, AllowAny) for permission in permissions):
            refusals["401"], refusals["403"] = _UNAUTHENTICATED, _FORBIDDEN
        if self.view.get_throttles():
            refusals["429"] = _RATE_LIMITED
        for code, refusal in refusals.items():
            # What the view declares itself (a more precise description) wins.
            if code not in responses:
                responses[code] = self._get_response_for_code(  # type: ignore[no-untyped-call]
                    refusal, code, direction=direction
                )
        if "429" in refusals:
            responses["429"].setdefault("headers", {}).update(_RETRY_AFTER)
        return responses
