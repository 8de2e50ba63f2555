"""How a long library call reports progress without printing (the CLI draws the bar).

A call that runs in several phases (an import validates, then writes) takes a
:class:`Phases`: for each phase it asks for a callback with a name, a total and a unit, then
calls that callback with increments. ``None`` everywhere means "nobody is watching", which is
what tests and pipes get.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

Advance = Callable[[int], None]


class Phases(Protocol):
    def __call__(self, what: str, total: int, unit: str) -> Advance | None:
        """Start phase ``what`` of ``total`` ``unit``s; return the callback to advance it."""
        ...


def start(phases: Phases | None, what: str, total: int, unit: str) -> Advance | None:
    return phases(what, total, unit) if phases is not None else None


T = TypeVar("T")


def counted(items: Iterable[T], advance: Advance | None) -> Iterator[T]:
    """``items``, advancing by one after each item's work is done (when the next is asked for)."""
    for item in items:
        yield item
        if advance is not None:
            advance(1)
