"""A list a person reads before confirming, kept to a length she can read.

A confirmation names what will be lost (core/confirm.py); a person who opened forty
links would fill the page with them and push the button out of reach on a phone. The
page names the first ``LISTED`` and says how many more there are: the count stays
exact, the names are a sample, and the log names every one afterwards."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

# Ten names read at a glance and fit a 390 px phone above the button.
LISTED = 10


@dataclass(frozen=True)
class Bounded(Generic[T]):
    """The first names of a list (``shown``), how many are left out (``more``) and the
    whole count (``total``)."""

    shown: list[T]
    more: int
    total: int

    def __bool__(self) -> bool:
        return self.total > 0


def bounded(items: Sequence[T], *, limit: int = LISTED) -> Bounded[T]:
    return Bounded(shown=list(items[:limit]), more=max(0, len(items) - limit), total=len(items))
