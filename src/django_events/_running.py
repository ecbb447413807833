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
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from greenlet import getcurrent, greenlet

if TYPE_CHECKING:
    from ._routing import Registration
    from .delivery import Item, Sink

__all__ = ["Context", "Step", "abandon", "current_context", "run"]

logger = logging.getLogger("django_events")


class Context(NamedTuple):
    """What an event's producer attaches to one dispatch (model events: the save's changes).

    Handlers of that event read it through ``current_context`` while they run. (A named
    tuple: one is made per model event, so it must be cheap to build.)
    """

    #: The database the event belongs to (a model event's ``using``), or None.
    database: str | None
    data: object


current_context: ContextVar[Context | None] = ContextVar("django_events_context", default=None)

#: One handler as ``run`` calls it: the handler, whether it takes the event instance (else
#: ``(name, *args, **kwargs)``), and its registration (named in the log when it fails).
Step: TypeAlias = "tuple[Callable[..., object], bool, Registration]"


#: The greenlets running handlers now, each with the events its handlers dispatched inline
#: (None until there is one): such an event runs after the current one's handlers.
_frames: dict[greenlet, deque[Item] | None] = {}


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

    ``steps`` None resolves the handlers now (a queued event). Called while this greenlet
    runs handlers already (a handler dispatched in sync mode), the event waits for the
    current one's handlers, then runs before the outermost call returns: queue order.
    ``more`` holds further events to run the same way (a gevent queue being drained), until
    it is empty.

    Returns the error its caller raises once everything ran: ``error`` when one was passed
    in, else the first failure when ``may_raise`` and the dispatcher's policy raises. Every
    other failure is logged. KeyboardInterrupt and SystemExit are never caught.
    """
    me = getcurrent()
    if me in _frames:
        frame = _frames[me]
        item = (sink, name, args, kwargs, alias, context)
        if frame is None:
            _frames[me] = deque((item,))
        else:
            frame.append(item)
        return error
    _frames[me] = None
    token = None
    try:
        while True:
            if steps is None:  # resolved now: handlers removed since the dispatch do not run
                route = sink.routes.get(name) if alias is None else None
                steps = route.untyped if route is not None else None
                if steps is None:
                    steps = sink.steps_at_delivery(name, args, kwargs, alias, context)
            if context is not None:
                token = current_context.set(context)
            for handler, takes_event, registration in steps:
                try:
                    if takes_event:
                        handler(args[0])
                    elif args or kwargs:
                        handler(name, *args, **kwargs)
                    else:  # a bare name: a plain call is cheaper than unpacking nothing
                        handler(name)
                except Exception as exc:
                    if error is None and may_raise and sink.raises():
                        error = exc
                    else:
                        log_failure(name, registration, exc)
            if token is not None:
                current_context.reset(token)
                token = None
            if more:  # draining a queue: this greenlet stays registered
                frame = _frames[me]
                sink, name, args, kwargs, alias, context = frame.popleft() if frame else more.popleft()
            else:
                frame = _frames.pop(me)
                if not frame:
                    return error
                _frames[me] = frame  # events its handlers dispatched inline: next, in order
                sink, name, args, kwargs, alias, context = frame.popleft()
            steps = None
    except BaseException:
        if token is not None:
            current_context.reset(token)
        _frames.pop(me, None)
        raise


def abandon(drainer: greenlet) -> deque[Item]:
    """Forget a greenlet that can never resume (its thread ended mid-handler), and hand over
    the events its handlers dispatched inline, to be delivered by someone else."""
    return _frames.pop(drainer, None) or deque()


def log_failure(name: str, registration: Registration, exc: BaseException) -> None:
    """The error line of a failed handler, with the event name and the handler's path."""
    logger.error(
        "handler %s failed for event %r",
        registration.label,
        name,
        exc_info=exc,
        extra={"event_name": name, "handler": registration.label},
    )
