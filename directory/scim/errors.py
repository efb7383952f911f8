"""SCIM errors (RFC 7644 §3.12): a status, a ``scimType`` where the RFC names one, and a
detail the directory's administrator can act on. Never a 500 for what a client sent."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from scim2_models import Error, SCIMException


class ScimError(Exception):
    def __init__(self, status: int, detail: str, scim_type: str = "") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        # Whom the refused request was about ("Alice Martin <alice@…>", a team's name),
        # for the audit log: an auditor reads people, not /scim/v2/Users/12.
        self.subject: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": str(self.status),
            "detail": self.detail,
        }
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body


def from_library(error: SCIMException | ValidationError) -> ScimError:
    """scim2-models' own verdicts (bad PATCH, bad value, mutability…) as our errors."""
    if isinstance(error, ValidationError):
        errors = Error.from_validation_errors(error)
        first = errors[0] if errors else Error(status=400, detail=str(error))
    else:
        first = error.to_error()
    return ScimError(int(first.status or 400), str(first.detail or ""), first.scim_type or "")


def not_found(what: str) -> ScimError:
    return ScimError(404, f"{what} not found")


def invalid_value(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidValue")


def uniqueness(detail: str) -> ScimError:
    return ScimError(409, detail, "uniqueness")


def precondition_failed() -> ScimError:
    return ScimError(412, "The resource changed since the version given in If-Match")
