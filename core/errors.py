"""The two roots of every error a person is meant to see (STYLE.md §11).

``RuleError``: the request breaks a rule; the message is translated and shown to the
person as is, ``status_code`` is the HTTP answer (400 unless the subclass or the raiser
says otherwise). ``NotFoundForActor``: no such object, or the person may not see it, one
answer (404) for both so that an id from elsewhere confirms nothing; the selector that
raises it has already audited the refusal.

Each app derives its own errors from these (``files.errors``, ``sharing.errors``,
``accounts.errors``...). The REST API turns them into responses in one place
(``core.api.exception_handler``), the browser views with ``core.http.errors_as_404``
or by showing the message in the page.

Whatever way a view answers, the last ``RuleError`` made during a request is kept
(``rule_error_last``), so that the audit's one recorder of refused input
(``audit.middleware``) says why in the person's words without each view passing it on.
"""

from __future__ import annotations

import contextvars


class RuleError(Exception):
    """A request the rules refuse; ``str(error)`` is the message for the person."""

    status_code = 400
    # Extra response headers a protocol prescribes with this answer (tus: Tus-Version).
    headers: dict[str, str] = {}
    # Already in the audit log as a refusal: a caller that records refusals skips it.
    recorded = False

    def __init__(self, message: str = "", status_code: int | None = None) -> None:
        super().__init__(message)
        if status_code is not None:
            self.status_code = status_code
        _last_rule_error.set(self)


_last_rule_error: contextvars.ContextVar[RuleError | None] = contextvars.ContextVar(
    "last_rule_error", default=None
)


def rule_error_watch() -> contextvars.Token[RuleError | None]:
    """Start a request with no rule error seen; ``rule_error_unwatch`` ends it."""
    return _last_rule_error.set(None)


def rule_error_unwatch(token: contextvars.Token[RuleError | None]) -> None:
    _last_rule_error.reset(token)


def rule_error_last() -> RuleError | None:
    """The last rule error made in this request (the one its answer most likely shows)."""
    return _last_rule_error.get()


class NotFoundForActor(Exception):
    """No such object, or the person may not see it: one answer (404) for both."""
