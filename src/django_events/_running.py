"""The one function that runs handlers, under the error policy; and what they can read.

Every way of delivering in this process (inline, the gevent queue, after the commit) ends
here: ``run`` calls each handler in order, logs a failure with the event and the handler,
and keeps the first failure for its caller to raise when the dispatcher's policy says so.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from ._routing import Registration
    from .delivery import Item, Sink

__all__ = ["Context", "Step", "current_context", "run"]

logger = logging.getLogger("django_events")


class Context:
    """What an event's producer attaches to one dispatch (a model event: its save).

    Handlers of that event read it through ``current_context`` while they run. Producers
    subclass it with their own data (one is made per model event, so it stays small).
    """

    __slots__ = ("database",)

    def __init__(self, database: str | None) -> None:
        #: The database the event belongs to (a model event's ``using``), or None.
        self.database = database


current_context: ContextVar[Context | None] = ContextVar("django_events_context", default=None)

#: One handler as ``run`` calls it: the handler, whether it takes the event instance (else
#: ``(name, *args, **kwargs)``), and its registration (named in the log when it fails).
Step: TypeAlias = "tuple[Callable[..., object], bool, Registration]"


def run(
    sink: Sink,
    steps: Sequence[Step] | None,
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    context: Context | None,
    alias: str | None = None,
    may_raise: bool = True,
    error: Exception | None = None,
    more: deque[Item] | None = None,
) -> Exception | None:
    """Call every handler of one event, in order; a failure never stops the others.

    ``steps`` None resolves the handlers now (a queued event, or with ``alias`` the
    after-commit handlers waiting on that database). ``more`` holds further events to run
    the same way (a gevent queue being drained), until it is empty. These are plain calls:
    an event a handler dispatches in sync mode runs inside that handler, as with Django's
    signals.

    Returns the error its caller raises once everything ran: ``error`` when one was passed
    in, else the first failure when ``may_raise`` and the dispatcher's policy raises. Every
    other failure is logged. KeyboardInterrupt and SystemExit are never caught.
    """
    while True:
        token = None if context is None else current_context.set(context)
        try:
            if steps is None:  # resolved now: handlers removed since the dispatch do not run
                route = sink.routes.get(name) if alias is None else None
                steps = route.untyped if route is not None else None
                if steps is None:
                    steps = sink.steps_at_delivery(name, args, kwargs, alias, context)
            for handler, takes_event, registration in steps:
                try:
                    if takes_event:
                        handler(args[0])
                    elif kwargs:
                        handler(name, *args, **kwargs)
                    elif args:  # plain calls are cheaper than unpacking an empty dict
                        handler(name, *args)
                    else:
                        handler(name)
                except Exception as exc:
                    if error is None and may_raise and sink.raises():
                        error = exc
                    else:
                        log_failure(name, registration, exc)
        finally:
            if token is not None:
                current_context.reset(token)
        if not more:
            return error
        sink, name, args, kwargs, alias, context = more.popleft()
        steps = None


def log_failure(name: str, registration: Registration, exc: BaseException) -> None:
    """The error line of a failed handler, with the event name and the handler's path."""
    logger.error(
        "handler %s failed for event %r",
        registration.label,
        name,
        exc_info=exc,
        extra={"event_name": name, "handler": registration.label},
    )
