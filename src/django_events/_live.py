"""Every live handler table, remembered weakly: the system checks and the task worker read
the registrations of all of them, and a dropped dispatcher is freed with its table."""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from gevent.monkey import get_original

if TYPE_CHECKING:
    from ._routing import HandlerTable, Registration

__all__ = ["RegistryListener", "add_table", "added", "live_registrations", "on_change", "removed", "tables"]

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


#: Told of every change of any table: ``added(registrations)`` with each batch of new
#: registrations, ``removed()`` when some went (model events track changes only while a
#: handler of ``updating``/``updated`` events exists).
_listeners: list[RegistryListener] = []


class RegistryListener(Protocol):
    def added(self, registrations: Sequence[Registration]) -> None: ...
    def removed(self) -> None: ...


def on_change(listener: RegistryListener) -> None:
    _listeners.append(listener)


def added(registrations: Sequence[Registration]) -> None:
    for listener in _listeners:
        listener.added(registrations)


def removed() -> None:
    for listener in _listeners:
        listener.removed()
