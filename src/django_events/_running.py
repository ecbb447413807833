"""The functions that run handlers, under the error policy; and what they can read.

Every way of delivering in this process (inline, the gevent queue, after the commit) ends
here: ``run`` calls each handler in order, logs a failure with the event and the handler,
and keeps the first failure for its caller to raise when the dispatcher's policy says so.
``arun`` is the same for ``await adispatch()``: async handlers are awaited in the caller's
loop, sync ones go to ``run`` through ``sync_to_async``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias, TypeVar, cast

from asgiref.sync import async_to_sync
from django.db import connections
from gevent import get_hub
from gevent.monkey import is_module_patched

if TYPE_CHECKING:
    from ._routing import Registration
    from .delivery import Item, Sink, Waiting

__all__ = [
    "Context",
    "Rest",
    "Step",
    "afinish",
    "arun",
    "beside_the_loop",
    "blocking",
    "current_context",
    "finish",
    "run",
]

logger = logging.getLogger("django_events")
_T = TypeVar("_T")


class Context:
    """What an event's producer attaches to one dispatch (a model event: its save).

    Handlers of that event read it through ``current_context`` while they run. Producers
    subclass it with their own data (one is made per model event, so it stays small).
    """

    __slots__ = ("database",)

    def __init__(self, database: str | None) -> None:
        #: The database the event belongs to (a model event's ``using``), or None.
        self.database = database

    def after_commit(self, args: tuple[Any, ...]) -> tuple[tuple[Any, ...], Context]:
        """The arguments and context after-commit handlers get (a deleted instance's copy
        that keeps its primary key: see ``_models._Deleted``)."""
        return args, self


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
    waiting: Waiting | None = None,
    may_raise: bool = True,
    error: Exception | None = None,
    more: deque[Item] | None = None,
) -> Exception | None:
    """Call every handler of one event, in order; a failure never stops the others.

    ``steps`` None resolves the handlers now (a queued event, or with ``waiting`` the
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
        registration = None
        try:
            if steps is None:  # resolved now: handlers removed since the dispatch do not run
                route = sink.routes.get(name) if waiting is None else None
                steps = route.untyped if route is not None else None
                if steps is None:
                    steps = sink.steps_at_delivery(name, args, kwargs, waiting, context)
            for handler, takes_event, registration in steps:
                try:
                    if not args:  # (a step that takes the event has it in args)
                        handler(name, **kwargs) if kwargs else handler(name)
                    elif takes_event:
                        handler(args[0])
                    elif kwargs:
                        handler(name, *args, **kwargs)
                    else:  # plain calls are cheaper than unpacking an empty dict
                        handler(name, *args)
                except Exception as exc:
                    error = _failed(sink, name, registration, exc, error, may_raise)
        except BaseException as exc:
            # A queue's drain cut short (its greenlet's own Timeout, a kill, exit ending a
            # stuck handler): the rest of this event's handlers go first in the queue again,
            # for the next drain to run; the interrupted handler is named in the log.
            rest = _after(steps, registration) if registration is not None and steps else ()
            if more is not None and registration is not None:
                log_interrupted(name, registration, exc, len(rest))
                if rest:
                    more.appendleft((cast("Sink", Rest(sink, rest)), name, args, kwargs, waiting, context))
            raise
        finally:
            if token is not None:
                current_context.reset(token)
        if not more:
            return error
        sink, name, args, kwargs, waiting, context = more.popleft()
        steps = None


def _after(steps: Sequence[Step], registration: Registration) -> Sequence[Step]:
    """The steps after ``registration``'s."""
    at = next(i for i, step in enumerate(steps) if step[2] is registration)
    return steps[at + 1 :]


class Rest:
    """The handlers of a queued event that its drain did not get to (see ``run``): delivered
    as they are, under their dispatcher's error policy (``pending()`` counts it as its
    dispatcher's; nothing else asks it what a Sink answers)."""

    __slots__ = ("sink", "steps")
    routes: ClassVar[dict[str, Any]] = {}  # (never matches: the steps are these)

    def __init__(self, sink: Sink, steps: Sequence[Step]) -> None:
        self.sink = sink
        self.steps = steps

    def steps_at_delivery(self, *event: object) -> Sequence[Step]:
        """Those still registered: a handler removed since does not get the event."""
        live = set(self.sink.registrations)
        return [step for step in self.steps if step[2] in live]

    def raises(self) -> bool:
        return self.sink.raises()


def _failed(
    sink: Sink,
    name: str,
    registration: Registration,
    exc: Exception,
    error: Exception | None,
    may_raise: bool,
) -> Exception | None:
    """The error policy for one failed handler: the first failure is kept for the caller
    when it may raise and the dispatcher raises; any other is logged."""
    if error is None and may_raise and sink.raises():
        return exc
    log_failure(name, registration, exc)
    return error


async def arun(
    sink: Sink,
    steps: Sequence[Step],
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    in_sync_thread: Callable[..., Awaitable[Exception | None]],
) -> Exception | None:
    """``run`` for ``await adispatch()``: every handler of one event, in order, under the
    same error policy. Async handlers are awaited here, in the caller's loop; each stretch of
    sync handlers goes to ``in_sync_thread`` (``run`` with ``run``'s arguments, through
    ``sync_to_async``: Django's thread for sync code)."""
    error: Exception | None = None
    start = 0
    while start < len(steps):
        end = start
        while end < len(steps) and not steps[end][2].is_async:
            end += 1
        if end > start:
            error = await in_sync_thread(sink, steps[start:end], name, args, kwargs, None, None, True, error)
            start = end
            continue
        registration = steps[start][2]
        try:
            await _awaitable(registration, name, args, kwargs)
        except Exception as exc:
            error = _failed(sink, name, registration, exc, error, True)
        except asyncio.CancelledError as exc:
            if _cancelling():  # the caller's task is being cancelled: so is adispatch
                raise
            error = _failed(sink, name, registration, _cancelled(registration.label, exc), error, True)
        start += 1
    return error


def _cancelling() -> bool:
    """Whether the running task is being cancelled (Python 3.11+ can tell; before, a
    ``CancelledError`` always counts as the caller's)."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)
    return cancelling is None or cancelling() > 0


def _cancelled(label: str, exc: asyncio.CancelledError) -> RuntimeError:
    """A handler's own ``CancelledError`` (a task it awaited was cancelled), as a failure."""
    error = RuntimeError(f"async handler {label} was cancelled: {exc!r}")
    error.__cause__ = exc
    return error


def _awaitable(
    registration: Registration, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Awaitable[object]:
    handler: Callable[..., Awaitable[object]] = registration.acall  # type: ignore[assignment]
    if registration.takes_event:
        return handler(args[0])
    return handler(name, *args, **kwargs)


#: While ``blocking`` runs an async handler: the events it dispatches in gevent mode (from
#: the handler's own loop), queued back in the caller's thread once it returns.
diverted: ContextVar[list[Any] | None] = ContextVar("django_events_diverted", default=None)
#: Puts diverted events back in the calling thread's queue (set by the gevent delivery).
requeue: list[Callable[[list[Any]], None]] = []


def blocking(handler: Callable[..., Awaitable[object]], label: str) -> Callable[..., object]:
    """How ``run`` calls an async handler: to completion, as Django's ``Signal.send`` runs
    async receivers (``async_to_sync``: in a new event loop, or in the loop that called this
    thread through ``sync_to_async``). From a thread whose event loop is running (the sync
    API called in async code), and in a process gevent monkey-patched, it runs in a new loop
    in an OS thread of its own, and the caller waits for it, as it waits for a sync handler
    (a loop in a greenlet would be every greenlet's running loop). In gevent mode, what it
    dispatches waits in the caller's queue, after the current event.

    A ``CancelledError`` out of the handler (a task it awaited was cancelled; nobody
    cancelled the caller, which is sync code) is that handler's failure, a RuntimeError
    the error policy sees, never a cancellation of whatever awaits the caller."""

    def run_to_completion(*args: Any, **kwargs: Any) -> object:
        held: list[Any] = []
        token = diverted.set(held)
        try:
            if asyncio._get_running_loop() is not None or _exiting or is_module_patched("threading"):
                # async_to_sync refuses a thread with a running loop (and at exit, no new thread
                # is counted on: the exiting one runs the loop).
                return _in_new_loop(handler, args, kwargs)
            return async_to_sync(handler)(*args, **kwargs)
        except asyncio.CancelledError as exc:
            raise _cancelled(label, exc) from exc
        finally:
            diverted.reset(token)
            if held:
                for hook in requeue:
                    hook(held)

    run_to_completion.__qualname__ = f"run_to_completion({label})"
    return run_to_completion


def _in_new_loop(
    handler: Callable[..., Awaitable[object]], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> object:
    """Run ``handler`` in a new event loop, in the caller's context: in this thread when no
    loop runs here and it is not a gevent process (exit), else in an OS thread that the
    caller waits for (gevent's thread pool in a monkey-patched process).

    In the thread pool, when the waiting greenlet is ended (exit ending a handler that ran
    too long, a ``gevent.Timeout`` of its drain), the handler's task is cancelled and the
    greenlet waits for its thread to end (the task ends at its next ``await``) before the
    exception goes on: no handler of the queue runs meanwhile, and what it dispatched is
    queued after it. A handler that had not started yet never starts."""
    context = contextvars.copy_context()
    tasks: list[asyncio.Task[Any]] = []
    stopped: list[bool] = []  # (list operations are atomic: shared with the pool's thread)

    async def main() -> object:
        task = asyncio.current_task()
        assert task is not None  # (asyncio.run runs it in a task)
        tasks.append(task)
        if stopped:  # ended before it started: the handler does not run
            return None
        return await handler(*args, **kwargs)

    def in_new_loop() -> object:
        return context.run(asyncio.run, main())

    if not is_module_patched("threading"):
        return beside_the_loop(in_new_loop)
    result = get_hub().threadpool.spawn(in_new_loop)
    try:
        return result.get()
    except BaseException:
        stopped.append(True)
        if tasks:  # (else it has not started, and will not run the handler)
            task = tasks[0]
            with contextlib.suppress(RuntimeError):  # (its loop closed: it just ended)
                task.get_loop().call_soon_threadsafe(task.cancel)
            result.wait()  # (the exception that ended the wait goes on, not the handler's)
        raise


def beside_the_loop(call: Callable[[], _T]) -> _T:
    """``call()`` here; or, when this thread runs an event loop (the sync API called from
    async code, where Django refuses the ORM and ``async_to_sync``), in an OS thread of its
    own that the caller waits for, as it waits for a sync handler (the loop is blocked
    meanwhile). That thread closes the database connections it opened."""
    if asyncio._get_running_loop() is None:
        return call()
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # handed to the caller, which the error policy sees
            outcome.append((False, exc))
        finally:
            connections.close_all()

    thread = threading.Thread(target=target, name="django_events beside the event loop")
    thread.start()
    thread.join()
    succeeded, value = outcome[0]
    if not succeeded:
        raise value
    return value  # type: ignore[no-any-return]


_exiting = False


@contextlib.contextmanager
def exiting() -> Iterator[None]:
    """While the interpreter exits (the exit drain runs), async handlers run in a new event
    loop in the exiting thread, not through ``async_to_sync``, which starts a thread."""
    global _exiting
    _exiting = True
    try:
        yield
    finally:
        _exiting = False


async def _await(awaitable: Awaitable[object]) -> object:
    return await awaitable


def finish(result: object, label: str) -> object:
    """What a sync wrapper does with what the method it looks up at each call returned (an
    observer's, a listener's ``handle``): a coroutine (the method was replaced by an async
    one, an ``AsyncMock`` in a test) is run to completion as ``blocking`` runs a handler."""
    if inspect.isawaitable(result):
        return blocking(_await, label)(result)
    return result


async def afinish(result: object) -> object:
    """The same in an async wrapper: a plain value (a ``Mock`` in a test) is not awaited."""
    if inspect.isawaitable(result):
        return await result
    return result


def log_interrupted(name: str, registration: Registration, exc: BaseException, left: int) -> None:
    """The error line of a queued event's handler that an exception other than ``Exception``
    stopped (its drain's greenlet's Timeout, a kill, exit ending it, its own escaped Timeout),
    with the traceback: where it was."""
    logger.error(
        "handler %s was interrupted by %s for event %r; %d handler(s) of the event left to run later",
        registration.label,
        type(exc).__name__,
        name,
        left,
        exc_info=exc,
        extra={"event_name": name, "handler": registration.label},
    )


def log_failure(name: str, registration: Registration, exc: BaseException) -> None:
    """The error line of a failed handler, with the event name and the handler's path."""
    logger.error(
        "handler %s failed for event %r",
        registration.label,
        name,
        exc_info=exc,
        extra={"event_name": name, "handler": registration.label},
    )
