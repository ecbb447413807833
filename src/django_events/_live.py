"""Every live handler table, remembered weakly: the system checks and the task worker read
the registrations of all of them, and a dropped dispatcher is freed with its table."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from gevent.monkey import get_original

if TYPE_CHECKING:
    from ._routing import HandlerTable, Registration

__all__ = ["add_table", "added", "live_registrations", "on_added", "tables"]

_tables: weakref.WeakSet[HandlerTable] = weakref.WeakSet()
# A real lock: a WeakSet cannot be copied while another thread adds to it.
_lock = get_original("_thread", "allocate_lock")()


def add_table(table: HandlerTable) -> None:
    with _lock:
        _tables.add(table)


def tables() -> list[HandlerTable]:
    """Every live table."""
    with _lock:
        return list(_tables)


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
