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
"""

from __future__ import annotations


class RuleError(Exception):
    """A request the rules refuse; ``str(error)`` is the message for the person."""

    status_code = 400
    # Extra response headers a protocol prescribes with this answer (tus: Tus-Version).
    headers: dict[str, str] = {}

    def __init__(self, message: str = "", status_code: int | None = None) -> None:
        super().__init__(message)
        if status_code is not None:
            self.status_code = status_code


class NotFoundForActor(Exception):
    """No such object, or the person may not see it: one answer (404) for both."""
