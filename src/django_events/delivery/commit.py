"""After-commit handlers: an event reaches them only when the transaction around its
dispatch commits, never when it rolls back.

The decision is made at dispatch time, in the dispatching thread, through Django's
``transaction.on_commit`` (outside a transaction it runs at once); on commit the event
goes back to its dispatcher, which delivers in its mode the handlers that ``Committed``
selects from the event's route then: those waiting on that database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from django.db import transaction

from .._running import Context, Step
from . import Sink

if TYPE_CHECKING:
    from .._routing import Route

__all__ = ["DELIVERY", "CommitDelivery", "Committed", "when_committed"]

django_logger = logging.getLogger("django.db.backends.base")


class CommitDelivery:
    rank: Final = 2  # after the immediate handlers, so that without a transaction they run first

    def send(
        self,
        sink: Sink,
        steps: Sequence[Step] | None,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        context: Context | None,
    ) -> None:
        event_alias = context.database if context is not None else None
        aliases = dict.fromkeys(step[2].commit_alias(event_alias) for step in steps or ())
        if aliases and context is not None:
            args, context = context.after_commit(args)
        for alias in aliases:
            when_committed(alias, _on_commit(sink, name, args, kwargs, alias, context))

    def check_handler(self, handler: Callable[..., object], label: str) -> None:
        """Any callable can wait for a commit."""


def when_committed(alias: str, callback: Callable[[], None]) -> None:
    """``transaction.on_commit(callback, using=alias, robust=True)``: a failing callback
    cannot stop Django's other ones. Outside an ``atomic()`` block in autocommit mode (or
    with no connection open on ``alias``) there is no transaction, so it runs now, as
    Django's would, but without connecting (a test without database access can dispatch
    to after-commit handlers, whatever an earlier test left open)."""
    connection = transaction.get_connection(alias)
    manual = connection.connection is not None and not connection.autocommit
    if connection.in_atomic_block or manual:  # (Django refuses on_commit() in manual mode)
        transaction.on_commit(callback, using=alias, robust=True)
        return
    try:
        callback()
    except Exception as exc:  # as Django's robust on_commit does, on its logger
        django_logger.error(f"Error calling {callback.__qualname__} in on_commit() (%s).", exc, exc_info=True)


class Committed:
    """The after-commit handlers of one event that wait on the database ``alias`` (a
    handler's ``using``, else the event's own database, else "default")."""

    __slots__ = ("alias",)

    def __init__(self, alias: str) -> None:
        self.alias = alias

    def select(self, route: Route, context: Context | None) -> tuple[Step, ...]:
        event_alias = context.database if context is not None else None
        return tuple(
            step
            for delivery, steps in route.parts
            if delivery is DELIVERY
            for step in steps
            if step[2].commit_alias(event_alias) == self.alias
        )


def _on_commit(
    sink: Sink, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], alias: str, context: Context | None
) -> Callable[[], None]:
    def deliver_after_commit() -> None:  # Django logs a failure under this name
        sink.later(name, args, kwargs, Committed(alias), context)

    deliver_after_commit.__qualname__ = f"after-commit delivery of {name!r}"
    return deliver_after_commit


DELIVERY: Final = CommitDelivery()
