"""Is the person acting still on staff? The one re-check every app's writes make.

A form posted, an API call authenticated or a job queued just before a departure holds
a person object that still reads "active" after the administrator pressed Deactivate
(docs/accounts.md, Offboarding). Whatever that caller then changes, shares or sends
would outlive the offboarding, which withdrew only what existed when it ran. So a
service asks the row, not the object, and refuses on record.

It lives in ``accounts`` because files and sharing both import accounts (and never the
other way round); each app passes its own error type, so that its views answer as they
do for any other refusal of that app.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from accounts.models import User
from audit import services as audit
from audit.actions import Action
from audit.context import RequestContext
from audit.models import Outcome
from core.errors import RuleError

REASON = "account deactivated"


def actor_is_still_active(actor: User) -> bool:
    """True when the database, not the object in hand, says the account is active."""
    return User.objects.filter(pk=actor.pk, is_active=True).exists()


def actor_still_active_check(
    actor: User | None,
    *,
    action: Action,
    target_type: str,
    target_id: object,
    error: type[RuleError],
    message: str = "",
    request: RequestContext | None = None,
    **details: Any,
) -> None:
    """Raise ``error`` (403), after recording ``action`` as refused with the reason
    "account deactivated", when ``actor``'s account was deactivated since it was loaded.

    ``actor=None`` is the system (purges, the offboarding's own hand-over): allowed.
    Call it before the change's transaction, so that the refusal is not rolled back.
    """
    if actor is None or actor_is_still_active(actor):
        return
    audit.record(
        action=action,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type=target_type,
        target_id=target_id,
        details={"reason": REASON, **details},
        request=request,
    )
    raise error(message or _("This account was deactivated: nothing was changed."), 403)
