"""Errors the sharing app raises with a message meant for the person who asked."""

from __future__ import annotations

from files.errors import FileRuleError

# --- Shares ---------------------------------------------------------------------------


class ShareRuleError(Exception):
    """A share request that cannot be done as asked; the message is for the person."""

    status_code = 400

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


# --- Links ----------------------------------------------------------------------------


class LinkRuleError(FileRuleError):
    """A link request the rules refuse; the message says why. HTTP 400."""


class LinkPolicyError(LinkRuleError):
    """The site's sharing policy forbids this (who may share outside, domains...). 403."""

    status_code = 403


# --- Transfers ------------------------------------------------------------------------


class TransferRuleError(Exception):
    """A request that breaks a transfer rule; the message is shown to the person."""

    status_code = 400


class TransferNotFound(Exception):
    """No such transfer, or not the asker's: one answer (404) for both."""


# --- File requests --------------------------------------------------------------------


class FileRequestRuleError(Exception):
    """A request that breaks a file-request rule; the message is shown to the person."""

    status_code = 400


class FileRequestNotFound(Exception):
    """No such request (or not the asker's, or a malformed token): 404."""


class FileRequestGone(Exception):
    """Closed, expired, or its owner left: 410 on the page and the tus endpoint."""
