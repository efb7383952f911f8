"""Errors the sharing app raises with a message meant for the person who asked."""

from __future__ import annotations

from core.errors import NotFoundForActor, RuleError
from files.errors import FileRuleError

# --- Shares ---------------------------------------------------------------------------


class ShareRuleError(RuleError):
    """A share request that cannot be done as asked; the message is for the person
    (400, or the status code given: 403 not yours to share, 409 already shared)."""


# --- Links ----------------------------------------------------------------------------


class LinkRuleError(FileRuleError):
    """A link request the rules refuse; the message says why. HTTP 400."""


class RecipientRefusedError(LinkRuleError):
    """The recipient's address may not receive files (an auditor's: an auditor reads no
    file content). The message is the same whatever the reason, so that the sender
    does not learn anyone's role; ``reason`` is kept for the audit log. 409."""

    status_code = 409

    def __init__(self, message: str, *, reason: str, recipient: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.recipient = recipient


class LinkPolicyError(LinkRuleError):
    """The site's sharing policy forbids this (who may share outside, domains...). 403."""

    status_code = 403


# --- Transfers ------------------------------------------------------------------------


class TransferRuleError(RuleError):
    """A request that breaks a transfer rule; the message is shown to the person."""

    status_code = 400


class TransferRightError(TransferRuleError):
    """A file the sender sees only through a share: not theirs to send outside. 403."""

    status_code = 403


class TransferNotFound(NotFoundForActor):
    """No such transfer, or not the asker's: one answer (404) for both."""


# --- File requests --------------------------------------------------------------------


class FileRequestRuleError(RuleError):
    """A request that breaks a file-request rule; the message is shown to the person."""

    status_code = 400


class FileRequestRightError(FileRequestRuleError):
    """A folder the person sees only through a share: not theirs to open to outsiders."""

    status_code = 403


class FileRequestNotFound(NotFoundForActor):
    """No such request (or not the asker's, or a malformed token): 404."""


class FileRequestGone(Exception):
    """Closed, expired, or its owner left: 410 on the page and the tus endpoint. Not a
    ``RuleError``: its argument is a reason code for the audit log, not a message."""
