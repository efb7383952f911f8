"""What the audit console needs to know about people (registered in AccountsConfig.ready)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q

from accounts.models import User
from audit.resolvers import Person


def _person(user: User) -> Person:
    return Person(
        id=str(user.pk), name=user.full_name or user.email, email=user.email, active=user.is_active
    )


def people_lookup(ids: Iterable[str]) -> dict[str, Person]:
    """Accounts by id, leavers included: the log outlives their departure."""
    numbers = [int(value) for value in ids if value.isdigit()]
    return {str(user.pk): _person(user) for user in User.objects.filter(pk__in=numbers)}


def people_search(text: str, limit: int) -> list[Person]:
    words = text.strip()
    found = User.objects.filter(Q(email__icontains=words) | Q(full_name__icontains=words))
    return [_person(user) for user in found.order_by("full_name", "email")[:limit]]
