"""Every live handler table, remembered weakly: the system checks and the task worker read
the registrations of all of them, and a dropped dispatcher is freed with its table."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

from gevent.monkey import get_original

if TYPE_CHECKING:
    from ._routing import HandlerTable, Registration

__all__ = ["Alive", "add_table", "added", "live_registrations", "on_added", "tables"]

_T = TypeVar("_T")


class Alive(Generic[_T]):
    """Objects remembered weakly, listed from any thread. Not a WeakSet: its weak
    references' callbacks run in whichever thread collects an object, without a lock, and
    change the set while another thread lists it ("Set changed size during iteration").
    These references have no callback: dead ones go when the objects are listed, or when
    their number doubles."""

    def __init__(self) -> None:
        self._refs: dict[int, weakref.ref[_T]] = {}
        # A real lock, also in a monkey-patched process: a greenlet switch cannot come inside.
        # Reentrant: a collection may run at any allocation inside, and an object's __del__
        # then add another (one that makes a dispatcher) in the thread that holds it.
        self._lock = get_original("_thread", "RLock")()
        self._prune_at = 64

    def add(self, item: _T) -> None:
        key = id(item)
        with self._lock:
            # (a dead one's id may come again: its entry goes, the new one is listed last)
            self._refs.pop(key, None)
            self._refs[key] = weakref.ref(item)
            if len(self._refs) >= self._prune_at:
                self._prune_at = 2 * len(self._pruned()) + 64

    def alive(self) -> list[_T]:
        """The objects still referenced, in the order they were added."""
        with self._lock:
            return self._pruned()

    def _pruned(self) -> list[_T]:
        found = []
        for key, ref in list(self._refs.items()):
            item = ref()
            if item is None:
                # (unless a collection inside meanwhile added a new object with that id)
                if self._refs.get(key) is ref:
                    del self._refs[key]
            else:
                found.append(item)
        return found


_tables: Alive[HandlerTable] = Alive()


def add_table(table: HandlerTable) -> None:
    _tables.add(table)


def tables() -> list[HandlerTable]:
    """Every live table."""
    return _tables.alive()


def live_registrations() -> Iterator[Registration]:
    """The registrations of every live dispatcher."""
    for table in tables():
        yield from table.registrations


#: Told of each batch of registrations about to be added to a table (model events turn
#: change tracking on when a handler of ``updating``/``updated`` events appears).
_listeners: list[Callable[[HandlerTable, Sequence[Registration]], None]] = []


def on_added(listener: Callable[[HandlerTable, Sequence[Registration]], None]) -> None:
    _listeners.append(listener)


def added(table: HandlerTable, registrations: Sequence[Registration]) -> None:
    for listener in _listeners:
        listener(table, registrations)
