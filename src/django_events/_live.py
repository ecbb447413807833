"""Every live handler table, remembered weakly: the system checks and the task worker read
the registrations of all of them, and a dropped dispatcher is freed with its table."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._routing import HandlerTable, Registration

__all__ = ["add_table", "live_registrations"]

_tables: weakref.WeakSet[HandlerTable] = weakref.WeakSet()


def add_table(table: HandlerTable) -> None:
    _tables.add(table)


def live_registrations() -> Iterator[Registration]:
    """The registrations of every live dispatcher."""
    for table in list(_tables):
        yield from table.registrations
