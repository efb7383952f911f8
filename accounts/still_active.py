"""Is the person acting still on staff? The one re-check every app's writes make.

A form posted, an API call authenticated or a job queued just before a departure holds
a person object that still reads "active" after the administrator pressed Deactivate
(docs/accounts.md, Offboarding). Whatever that caller then changes, shares or sends
would outlive the offboarding, which withdrew only what existed when it ran. So a
service asks the row, not the object, and refuses on record.

Asking the row is not enough on its own: a deactivation committed between that question
and the write's commit would still let the write through, after the offboarding's plan
was made (a link nobody withdrew). So the check hands back a guard whose
``locked_transaction()`` opens the write's transaction by locking the person's row: the
offboarding (``accounts.offboarding``) locks the same row first, so either the write
commits before it (and its plan, made after, withdraws what the write made) or the
write waits, then sees the deactivation and is refused. The person's row is the first
lock such a transaction takes (docs/architecture.md, "Lock order").

A write that grants another person something (a share to a colleague) is stale the same
way about that person: a share made to someone being deactivated at that instant would
outlive their offboarding and apply again on their reactivation. ``locked_transaction``
then locks the other person's row as well, with the actor's, in one statement in
ascending id order (two colleagues sharing with each other at once must not wait for
each other crosswise), and hands the rows back, read under the lock, for the caller to
re-check.

It lives in ``accounts`` because files and sharing both import accounts (and never the
other way round); each app passes its own error type, so that its views answer as they
do for any other refusal of that app.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

from django.db import transaction
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


def actor_row_lock(actor: User) -> bool:
    """Lock ``actor``'s row until the caller's transaction ends; True when it is active.

    ``FOR NO KEY UPDATE``, as the deactivation takes it: each waits for the other,
    and neither blocks the foreign-key checks of rows that name the person (``FOR KEY
    SHARE``), which other people's writes take at commit."""
    return bool(
        User.objects.select_for_update(no_key=True)
        .filter(pk=actor.pk)
        .values_list("is_active", flat=True)
        .first()
    )


def people_rows_lock(people: Iterable[User]) -> dict[int, User]:
    """Lock the rows of ``people`` until the caller's transaction ends, in ascending id
    order (PostgreSQL locks the rows as the sorted scan returns them), and return them
    as they are now: ``is_active`` and ``is_auditor`` read under the lock.

    ``FOR NO KEY UPDATE``, as ``actor_row_lock`` and the deactivation take it."""
    ids = sorted({person.pk for person in people})
    rows = (
        User.objects.select_for_update(no_key=True)
        .filter(pk__in=ids)
        .order_by("pk")
        .only("pk", "email", "full_name", "is_active", "is_auditor")
    )
    return {row.pk: row for row in rows}


class _DeactivatedMeanwhile(Exception):
    """Raised inside the write's transaction, so that it rolls back and the refusal is
    recorded after, outside it."""


@dataclass(frozen=True)
class StillActive:
    """What ``actor_still_active_check`` hands back: the write's transaction, with the
    person's row locked (see the module's docstring)."""

    actor: User | None
    refuse: Callable[[], NoReturn]

    @contextmanager
    def locked_transaction(self, *, with_people: Iterable[User] = ()) -> Iterator[dict[int, User]]:
        """``transaction.atomic()`` whose first statement locks the actor's row; a
        deactivation committed since the check refuses it, on record, after the rollback.
        ``actor=None`` (the system) locks nothing of its own.

        ``with_people``: the people the write grants something to, locked in the same
        statement (ascending id); their rows, read under the lock, are what the block
        receives (``{id: person}``), to re-check that they are still active."""
        others = list(with_people)
        try:
            with transaction.atomic():
                if not others:
                    if self.actor is not None and not actor_row_lock(self.actor):
                        raise _DeactivatedMeanwhile
                    yield {}
                else:
                    acting = [self.actor] if self.actor is not None else []
                    rows = people_rows_lock([*acting, *others])
                    if self.actor is not None and not (
                        self.actor.pk in rows and rows[self.actor.pk].is_active
                    ):
                        raise _DeactivatedMeanwhile
                    yield {person.pk: rows[person.pk] for person in others if person.pk in rows}
        except _DeactivatedMeanwhile:
            self.refuse()


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
) -> StillActive:
    """Raise ``error`` (403), after recording ``action`` as refused with the reason
    "account deactivated", when ``actor``'s account was deactivated since it was loaded.

    ``actor=None`` is the system (purges, the offboarding's own hand-over): allowed.
    Call it before the change's transaction, so that the refusal is not rolled back,
    and make the change inside the returned guard's ``locked_transaction()``: without
    it, a deactivation committing meanwhile does not stop the change.
    """

    def refuse() -> NoReturn:
        assert actor is not None  # noqa: S101  (the system is never refused)
        audit.record(
            action=action,
            outcome=Outcome.DENIED,
            actor=actor,
            target_type=target_type,
            target_id=target_id,
            details={"reason": REASON, **details},
            request=request,
        )
        refused = error(message or _("This account was deactivated: nothing was changed."), 403)
        refused.recorded = True
        raise refused

    if actor is not None and not actor_is_still_active(actor):
        refuse()
    return StillActive(actor=actor, refuse=refuse)
