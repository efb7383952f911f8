"""Errors the files app raises with a message meant for the person who asked."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from core.errors import NotFoundForActor, RuleError


class FileRuleError(RuleError):
    """A request that breaks a files rule (bad name, clash, wrong place); the message is
    shown to the person. Views answer 400 (or 409 for a clash)."""

    status_code = 400


class NameClashError(FileRuleError):
    """Something with that name already exists in the folder."""

    status_code = 409


class QuotaExceededError(FileRuleError):
    """The space has no room for this content. HTTP 413 Content Too Large."""

    status_code = 413


class BodyRefusedError(FileRuleError):
    """An API upload whose body is not a raw file (415) or has no length (411)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message, status_code)


class NotDownloadableError(FileRuleError):
    """The version exists and may be read by this person, but not now: not scanned
    clean yet, quarantined, or it failed an integrity check. HTTP 409."""

    status_code = 409

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class FileNotFoundForActor(NotFoundForActor):
    """No such object, or the person may not see it: one answer (404) for both, so an
    id from another space confirms nothing."""


class RightRefusedError(FileRuleError):
    """The person sees the item but her role does not allow this change (a member moving
    a team's file out of the team space, a viewer copying what she may only view): 403,
    with a message saying whom to ask. The refusal is already in the audit log."""

    status_code = 403
    recorded = True


class ContentWithheldFromAuditor(FileRuleError, PermissionDenied):
    """The person would reach this item through a team or a share, but holds the auditor
    role: an auditor reads no file content (ARCHITECTURE.md, invariant 4), whatever
    memberships or grants are left from before (docs/accounts.md). A 403 that says why,
    not the 404 of "not yours": the person already knows the item (it is in their team
    or was shared with them), so naming it confirms nothing new. The selector has
    recorded the refusal. A ``PermissionDenied`` too, so a view that does not catch
    ``FileRuleError`` still answers Django's 403 page, never a 500."""

    status_code = 403
    recorded = True
