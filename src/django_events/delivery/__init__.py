"""Delivery strategies: each way of running a registration's handlers, behind one interface.

A dispatch is routed to its registrations, grouped by the strategy that delivers them;
each group goes to its strategy's ``send`` (or ``prepare``, whose hand-over comes last):

- ``inline``: sync mode, the handlers run before ``dispatch`` returns;
- ``gevent``: gevent mode, the event waits in the thread's queue for its living worker;
- ``commit``: ``after_commit=True``, handed to the mode when the transaction commits;
- ``tasks``: ``queue=...``, one task per handler on Django's task framework;
- ``recording``: what the testing helpers install, seeing every dispatch first.

The first two are the dispatcher's modes (the handlers registered without options); the
next two come with a handler's options. Every in-process handler is finally run by
``django_events._running.run`` (or, under ``await adispatch()``, by ``_running.arun``, which
awaits async handlers and hands sync ones to ``run``); an async handler that ``run`` meets
is run to completion by ``_running.blocking``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeAlias

if TYPE_CHECKING:
    from .._routing import Registration, Route
    from .._running import Context, Step

__all__ = [
    "MODE_RANK",
    "Delivery",
    "Item",
    "ModeDelivery",
    "PreparedDelivery",
    "SendingDelivery",
    "Sink",
    "Waiting",
]

#: Where the dispatcher's own mode runs among a route's groups: after the task strategy
#: prepares (its payload check refuses an event before any handler ran), before after-commit.
MODE_RANK: Final = 1


class Waiting(Protocol):
    """Handlers of an event that a strategy delivers later, in the dispatcher's mode (the
    after-commit ones waiting on one database's commit): picked from the event's route when
    it is delivered, so that a handler removed meanwhile does not run."""

    def select(self, route: Route, context: Context | None) -> tuple[Step, ...]:
        """Those of ``route``'s handlers this delivery reaches."""


class Sink(Protocol):
    """What a strategy asks of the dispatcher that routed an event."""

    #: The dispatcher's cache of resolved routes by name (read at delivery: one lookup).
    routes: dict[str, Route]

    @property
    def registrations(self) -> tuple[Registration, ...]:
        """Every registration, in registration order."""

    def raises(self) -> bool:
        """Whether a handler's error goes to the caller (``RAISE_HANDLER_ERRORS``)."""

    def steps_at_delivery(
        self,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        waiting: Waiting | None,
        context: Context | None,
    ) -> Sequence[Step]:
        """The handlers an event reaches now (they are resolved when it is delivered): the
        immediate ones, or those ``waiting`` selects."""

    def later(
        self,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        waiting: Waiting,
        context: Context | None,
    ) -> None:
        """Deliver the handlers ``waiting`` selects, in the dispatcher's mode."""


#: One event waiting for delivery: the dispatcher, name, args, kwargs, None (its immediate
#: handlers) or the Waiting that selects its handlers (after a commit), and the Context.
Item: TypeAlias = "tuple[Sink, str, tuple[Any, ...], dict[str, Any], Waiting | None, Context | None]"


class Delivery(Protocol):
    """One way of delivering a group of handlers of one event: it ``send``s the event
    (``SendingDelivery``), or ``prepare``s it (``PreparedDelivery``)."""

    @property
    def rank(self) -> int:
        """Groups are sent (or prepared) in rank order (the dispatcher's mode has ``MODE_RANK``)."""

    def check_handler(self, handler: Callable[..., object], label: str) -> None:
        """Refuse, at registration, a handler this strategy cannot deliver to."""


class SendingDelivery(Delivery, Protocol):
    """A strategy that delivers its group when the dispatch reaches its rank."""

    def send(
        self,
        sink: Sink,
        steps: Sequence[Step] | None,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        context: Context | None,
    ) -> Exception | None:
        """Deliver (or arrange to deliver) the event to ``steps``; return a handler error for
        the caller to raise once every group was sent. Raising refuses the dispatch.
        ``steps`` None (the dispatcher's mode only): the handlers are resolved when delivered."""


class PreparedDelivery(Delivery, Protocol):
    """A strategy that checks the event when the dispatch reaches its rank, so that a bad
    one is refused before any handler ran, and hands it over once every other group was
    sent (queued handlers: a task backend may run a task as it is enqueued)."""

    def prepare(
        self,
        sink: Sink,
        steps: Sequence[Step],
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        context: Context | None,
    ) -> Callable[[], None]:
        """Check the event for ``steps`` (raising refuses the dispatch); return the call that
        hands it over."""


class ModeDelivery(SendingDelivery, Protocol):
    """A dispatcher's mode (inline, gevent): it also delivers after-commit handlers later."""

    def send(
        self,
        sink: Sink,
        steps: Sequence[Step] | None,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        context: Context | None,
        waiting: Waiting | None = None,
    ) -> Exception | None:
        """As ``Delivery.send``; with ``waiting``, the handlers it selects (after a commit)."""
