"""``EventDispatcher``: registration, dispatch, modes and the handler error policy."""

from __future__ import annotations

import atexit
import contextlib
import functools
import inspect
import logging
import weakref
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any, TypeVar, overload

from django.core.signals import request_finished
from django.db import transaction
from greenlet import getcurrent
from typing_extensions import ParamSpec

from . import conf
from ._delivery import Context, Pending, QueueSet, SyncRunner, _allocate_lock, current_context
from ._events import Event
from ._payload import encode
from ._routing import (
    HandlerTable,
    Registration,
    Route,
    Step,
    Target,
    check_commit_options,
    check_handler,
    check_queue_options,
    check_target,
    describe,
)

__all__ = ["EventDispatcher", "dispatcher"]

logger = logging.getLogger("django_events")

_P = ParamSpec("_P")
_R = TypeVar("_R")
_E = TypeVar("_E", bound=Event)
_F = TypeVar("_F", bound=Callable[..., Any])

_live: weakref.WeakSet[EventDispatcher] = weakref.WeakSet()

#: Sees every dispatch (name, args, kwargs) before it is routed; returns True to keep the
#: event from its handlers. django_events.testing installs these (capture, fake, mocks).
Recorder = Callable[[str, tuple[Any, ...], dict[str, Any]], bool]

# How a dispatch with a plain route goes (EventDispatcher._path): worked out on first use
# and again after the mode, the setting or the recorders change.
_UNKNOWN, _INLINE, _QUEUE, _RECORDED = 0, 1, 2, 3


def _whole(value: object) -> bool:
    """An int, and not a bool (``True`` is an int to Python, never a count to a user)."""
    return isinstance(value, int) and not isinstance(value, bool)


class EventDispatcher:
    """Routes dispatched events to the handlers registered for them.

    ``mode`` is ``"gevent"`` (queue the event; a worker greenlet runs its handlers when
    the hub gets control, and pending events are drained at ``clear_queue()``, at the end
    of each request and at exit) or ``"sync"`` (run them before ``dispatch`` returns).
    ``None`` follows ``DJANGO_EVENTS["MODE"]``. ``raise_handler_errors=None`` follows
    ``DJANGO_EVENTS["RAISE_HANDLER_ERRORS"]``.
    """

    def __init__(
        self,
        *,
        mode: conf.Mode | None = None,
        raise_handler_errors: bool | None = None,
        cache_size: int = 4096,
    ) -> None:
        if mode is not None and mode not in conf.MODES:
            raise ValueError(
                f"mode must be one of {', '.join(map(repr, conf.MODES))} or None, got {describe(mode)}"
            )
        if raise_handler_errors is not None and not isinstance(raise_handler_errors, bool):
            raise TypeError(
                f"raise_handler_errors must be a bool or None, got {describe(raise_handler_errors)}"
            )
        if not _whole(cache_size) or cache_size < 1:
            raise ValueError(f"cache_size must be a whole number >= 1, got {describe(cache_size)}")
        self._mode = mode
        self._raise = raise_handler_errors
        self._table = HandlerTable(cache_size)
        self._routes = self._table.cache
        self._class_routes = self._table.class_cache
        self._path = _UNKNOWN
        #: Bumped whenever the path must be worked out again: a path computed before a bump
        #: (a dispatch racing fake_events() or a settings change) is not remembered.
        self._path_version = 0
        self._path_lock = _allocate_lock()
        self._queues = QueueSet(self._deliver_all)
        self._sync = SyncRunner(self._deliver_all)
        self._frames = self._sync.frames
        self._recorders: list[Recorder] = []
        _live.add(self)

    def __repr__(self) -> str:
        return f"<EventDispatcher mode={self.mode!r} handlers={len(self._table.registrations)}>"

    @property
    def mode(self) -> conf.Mode:
        """The mode in force: this dispatcher's own, else the setting's."""
        return self._mode or conf.current().mode

    # -- registration -----------------------------------------------------------------

    @overload
    def register(
        self,
        target: type[_E],
        handler: Callable[[_E], object],
        *,
        after_commit: bool = False,
        using: str | None = None,
        queue: bool | str = False,
        priority: int | None = None,
        retries: int = 0,
    ) -> None: ...
    @overload
    def register(
        self,
        target: str,
        handler: Callable[..., object],
        *,
        after_commit: bool = False,
        using: str | None = None,
        queue: bool | str = False,
        priority: int | None = None,
        retries: int = 0,
    ) -> None: ...
    def register(
        self,
        target: Target,
        handler: Callable[..., object],
        *,
        after_commit: bool = False,
        using: str | None = None,
        queue: bool | str = False,
        priority: int | None = None,
        retries: int = 0,
    ) -> None:
        """Call ``handler`` for events matching ``target``.

        A regex string (matched against the whole name) gets ``handler(name, *args,
        **kwargs)``; an Event class gets ``handler(event)``. Registering the same handler
        for the same target again does nothing. Raises ``InvalidPattern`` for a bad regex
        and ``TypeError`` for a handler that is not callable.

        ``after_commit=True`` delivers an event dispatched inside a transaction only when
        that transaction (on database alias ``using``, default ``"default"``) commits, and
        never when it rolls back; outside a transaction it delivers at once.

        ``queue=True`` (or a queue name) runs the handler in a worker of Django's task
        framework instead: each event is enqueued as a task, with ``priority``, and
        retried up to ``retries`` times when the handler raises.
        """
        self.register_many(
            (target,),
            handler,
            after_commit=after_commit,
            using=using,
            queue=queue,
            priority=priority,
            retries=retries,
        )

    def register_many(
        self,
        targets: tuple[Target, ...],
        handler: Callable[..., object],
        *,
        after_commit: bool = False,
        using: str | None = None,
        queue: bool | str = False,
        priority: int | None = None,
        retries: int = 0,
    ) -> None:
        """Register ``handler`` for each target, all or none (every target is checked first)."""
        if not isinstance(targets, (tuple, list)):
            raise TypeError(
                f"register_many() takes a tuple or list of targets, got {describe(targets)}; "
                "use register() for one"
            )
        # Checked here too, so that bad input fails even with no targets.
        check_handler(handler)
        check_commit_options(after_commit, using)
        check_queue_options(queue, priority, retries)
        self._table.add(
            *(
                Registration.create(
                    t,
                    handler,
                    after_commit=after_commit,
                    using=using,
                    queue=queue,
                    priority=priority,
                    retries=retries,
                )
                for t in targets
            )
        )

    def unregister(self, target: Target, handler: Callable[..., object]) -> bool:
        """Remove ``handler`` from ``target``; return whether it was registered there."""
        check_target(target)
        if not callable(handler):
            raise TypeError(f"unregister() expects a handler (a callable), got {describe(handler)}")
        return bool(self._table.remove(lambda r: not (r.target == target and r.handler == handler)))

    def off(self, handler: Callable[..., object]) -> int:
        """Remove ``handler`` from every target; return how many registrations went."""
        if not callable(handler):
            raise TypeError(f"off() expects a handler (a callable), got {describe(handler)}")
        return self._table.remove(lambda r: r.handler != handler)

    def resolve(self, name: str) -> tuple[Registration, ...]:
        """The registrations an event called ``name`` reaches, in the order they run."""
        if not isinstance(name, str):
            raise TypeError(f"resolve() expects an event name (str), got {describe(name)}")
        return self._table.resolve(name)

    @property
    def registrations(self) -> tuple[Registration, ...]:
        """Every registration, in registration order."""
        return self._table.registrations

    @contextlib.contextmanager
    def isolate(self) -> Iterator[EventDispatcher]:
        """Context manager: on exit, the registry is exactly as it was on entry.

        Handlers registered inside (``@on``, listener classes defined in a test) are
        dropped, and handlers removed inside come back, even when the block raises.
        """
        saved = self._table.registrations
        try:
            yield self
        finally:
            self._table.restore(saved)

    # -- dispatch ---------------------------------------------------------------------

    @overload
    def dispatch(self, event: Event, /) -> None: ...
    @overload
    def dispatch(self, event: str, /, *args: Any, **kwargs: Any) -> None: ...
    def dispatch(self, event: object, /, *args: Any, **kwargs: Any) -> None:
        """Dispatch an Event instance, or a name with arguments for its handlers."""
        # The hot path: one dict lookup, then the route's plan runs inline or is queued.
        if type(event) is str:
            name = event
            route = self._routes.get(name) or self._table.route(name)
            plan = route.name_plan
        elif (known := self._class_routes.get(type(event))) is not None and not args and not kwargs:
            name, route, plan = known  # an instance of an Event class dispatched before
            args = (event,)
        elif isinstance(event, Event):
            if args or kwargs:
                raise TypeError(
                    f"dispatch() of an Event instance takes no other arguments, got "
                    f"args={args!r} kwargs={kwargs!r}; put them in {type(event).__qualname__}'s fields"
                )
            if type(event) is Event:
                raise TypeError(
                    "dispatch() of an instance of the Event base class: subclass Event, "
                    "as in class OrderPaid(Event): ..."
                )
            args = (event,)
            if type(event)._legacy_init:  # its own __init__ may name each instance: not cached
                name = event.event_name
                route = self._routes.get(name) or self._table.route(name)
                plan = route.plan if route.event_type in (None, type(event)) else None
            else:
                name, route, plan = self._table.class_route(type(event))
        elif isinstance(event, str):
            self.dispatch(str(event), *args, **kwargs)
            return
        else:
            hint = ""
            if isinstance(event, type) and issubclass(event, Event):
                hint = f"; dispatch an instance: {event.__qualname__}(...).dispatch()"
            raise TypeError(
                f"dispatch() expects an event name (str) or an Event instance, got {describe(event)}{hint}"
            )
        if plan is not None:
            path = self._path or self._find_path()
            if path == _INLINE:
                # Sync mode: run the plan now, unless this greenlet is running handlers
                # already; then the event waits for the current event's (queue order).
                frames = self._frames
                me = getcurrent()
                if me in frames:
                    self._sync.run((name, args, kwargs, None, None))
                    return
                frames[me] = None  # no event waiting yet
                try:
                    error = None
                    for handler, takes_event, registration in plan:
                        try:
                            if takes_event:
                                handler(args[0])
                            elif args or kwargs:
                                handler(name, *args, **kwargs)
                            else:  # a bare name: a plain call is cheaper than unpacking nothing
                                handler(name)
                        except Exception as exc:
                            error = self._failed(name, registration, exc, error, True)
                    frame = frames[me]
                    if frame is not None:
                        error = self._sync.finish(frame, error)
                finally:
                    del frames[me]
                if error is not None:
                    raise error
                return
            if path == _QUEUE:
                if plan:
                    # QueueSet.put, inline: this is gevent mode's hot path.
                    queues = self._queues
                    try:
                        queue = queues.local.queue
                    except AttributeError:
                        queue = queues.adopt()
                    queue.items.append((name, args, kwargs, None, None))
                    if queue.worker is None or queue.worker_hub.loop is None:
                        queues.start_worker(queue)
                return
        elif type(event) is str and name in self._table.typed_names:
            _check_typed_targets(name, route.registrations, args, kwargs)
        self._send(name, args, kwargs, route, None)

    def _find_path(self) -> int:
        """How plain routes are dispatched now; remembered until the mode or recorders change."""
        version = self._path_version
        if self._recorders:
            path = _RECORDED
        else:
            path = _INLINE if (self._mode or conf.current().mode) == "sync" else _QUEUE
        if self._mode is not None or conf.settled():
            with self._path_lock:
                if version == self._path_version:
                    self._path = path
        return path

    def _forget_path(self) -> None:
        """The mode, the setting or the recorders changed: work the path out again."""
        with self._path_lock:
            self._path_version += 1
            self._path = _UNKNOWN

    def _send(
        self,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        route: Route,
        context: Context | None,
    ) -> None:
        if self._recorders and self._recorded(name, args, kwargs):
            return
        payload = encode(args, kwargs, where=f"event {name!r}") if route.queued else None
        try:
            if route.immediate:
                self._enqueue((name, args, kwargs, None, context))
        finally:  # a handler that raised (RAISE_HANDLER_ERRORS, sync mode) stops no other delivery
            if route.deferred:
                # At dispatch time, in the dispatching thread: the transaction is this thread's.
                event_alias = context.database if context is not None else None
                for alias in dict.fromkeys(r.commit_alias(event_alias) for r in route.deferred):
                    transaction.on_commit(
                        self._on_commit((name, args, kwargs, alias, context)),
                        using=alias,
                        robust=True,  # a failing handler must not stop other on_commit callbacks
                    )
            if payload is not None:
                self._enqueue_tasks(name, payload, route.queued, context)

    def _enqueue_tasks(
        self, name: str, payload: dict[str, Any], queued: tuple[Registration, ...], context: Context | None
    ) -> None:
        """One task per queued handler: now, or when the transaction commits."""
        from .tasks import enqueue

        event_alias = context.database if context is not None else None
        for registration in queued:
            if registration.after_commit:
                transaction.on_commit(
                    _enqueue_after_commit(registration, name, payload),
                    using=registration.commit_alias(event_alias),
                    robust=True,
                )
            else:
                enqueue(registration, name, payload)

    def _on_commit(self, item: Pending) -> Callable[[], None]:
        def deliver_after_commit() -> None:  # Django logs a failure under this name
            self._enqueue(item)

        deliver_after_commit.__qualname__ = f"after-commit delivery of {item[0]!r}"
        return deliver_after_commit

    def _dispatch_with_context(
        self, name: str, args: tuple[Any, ...], database: str | None, data: Callable[[], object]
    ) -> None:
        """Dispatch ``name`` with a Context its handlers can read (model events).

        Builds the context only when something listens or records. In gevent mode it then
        runs this thread's queue, as the original yielded to the hub after model events.
        """
        route = self._routes.get(name) or self._table.route(name)
        path = self._path or self._find_path()
        if not route.registrations and path != _RECORDED:
            return
        context = Context(database, data())
        plan = route.name_plan  # set when no handler is typed: each takes (name, instance)
        if path == _INLINE and plan is not None:
            # Sync mode, as in dispatch(): the handlers run now with the context set, unless
            # this greenlet is running handlers already (then it waits, in queue order).
            frames = self._frames
            me = getcurrent()
            if me in frames:
                self._sync.run((name, args, {}, None, context))
                return
            frames[me] = None
            try:
                error = None
                token = current_context.set(context)
                try:
                    for handler, _takes_event, registration in plan:
                        try:
                            handler(name, *args)
                        except Exception as exc:
                            error = self._failed(name, registration, exc, error, True)
                finally:
                    current_context.reset(token)
                frame = frames[me]
                if frame is not None:
                    error = self._sync.finish(frame, error)
            finally:
                del frames[me]
            if error is not None:
                raise error
            return
        self._send(name, args, {}, route, context)
        if (self._mode or conf.current().mode) == "gevent":
            self.clear_queue()

    def _recorded(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """Show the dispatch to every recorder; True when one of them keeps it from handlers."""
        kept = False
        for recorder in list(self._recorders):
            kept = recorder(name, args, kwargs) or kept
        return kept

    @contextlib.contextmanager
    def _recording(self, recorder: Recorder, *, mode: conf.Mode) -> Iterator[None]:
        """Install a recorder and a mode until the block ends."""
        saved_mode = self._mode
        self._mode = mode
        self._recorders.append(recorder)
        self._forget_path()
        try:
            yield
        finally:
            self._recorders.remove(recorder)
            self._mode = saved_mode
            self._forget_path()

    def _enqueue(self, item: Pending) -> None:
        if (self._mode or conf.current().mode) == "sync":
            self._sync.run(item)
        else:
            self._queues.put(item)

    def clear_queue(self) -> None:
        """Run this thread's pending events now (and those left by threads that ended).

        Called from inside a handler it returns at once: the drain already under way runs
        the rest in order. With ``RAISE_HANDLER_ERRORS`` every pending event still runs;
        then the first handler error is raised.
        """
        error = self._queues.drain(may_raise=True)
        if error is not None:
            raise error

    def pending(self) -> int:
        """How many dispatched events are still waiting for their handlers, in all threads."""
        return self._queues.pending()

    @overload
    def ensure_queue_is_cleared(
        self, func: Callable[_P, Coroutine[Any, Any, _R]]
    ) -> Callable[_P, Coroutine[Any, Any, _R]]: ...
    @overload
    def ensure_queue_is_cleared(self, func: Callable[_P, _R]) -> Callable[_P, _R]: ...
    def ensure_queue_is_cleared(self, func: Callable[_P, Any]) -> Callable[_P, Any]:
        """Decorator: run ``func``, then ``clear_queue()`` (also when ``func`` raises)."""
        if not callable(func):
            raise TypeError(f"ensure_queue_is_cleared() decorates a function, got {describe(func)}")
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Any:
                try:
                    return await func(*args, **kwargs)
                finally:
                    self.clear_queue()

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Any:
            try:
                return func(*args, **kwargs)
            finally:
                self.clear_queue()

        return wrapper

    def _deliver_all(
        self, pop: Callable[[], Pending], may_raise: bool, error: Exception | None
    ) -> Exception | None:
        """Run the events ``pop`` hands out (a queue, a sync frame) until it is empty, each
        with its handlers resolved now: handlers removed since dispatch do not run.

        Returns the first handler error to raise (with ``may_raise`` and the raise policy),
        or ``error`` when one was passed in; every event runs first, other errors are logged.
        """
        routes, route_of = self._routes, self._table.route
        while True:
            try:
                name, args, kwargs, alias, context = pop()
            except IndexError:  # empty
                return error
            route = routes.get(name) or route_of(name)
            steps: Sequence[Step] | None = route.plan
            if (
                steps is None
                or alias is not None
                or (
                    route.event_type is not None
                    and not (len(args) == 1 and not kwargs and type(args[0]) is route.event_type)
                )
            ):
                steps = self._checked_steps(name, args, kwargs, route, alias, context)
            token = None if context is None else current_context.set(context)
            try:
                # The same loop as in dispatch(), kept inline in both for speed.
                for handler, takes_event, registration in steps:
                    try:
                        if takes_event:
                            handler(args[0])
                        elif args or kwargs:
                            handler(name, *args, **kwargs)
                        else:
                            handler(name)
                    except Exception as exc:
                        error = self._failed(name, registration, exc, error, may_raise)
            finally:
                if token is not None:
                    current_context.reset(token)

    def _checked_steps(
        self,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        route: Route,
        alias: str | None,
        context: Context | None,
    ) -> list[Step]:
        """The handlers to run when the route's plan does not apply as it stands: the
        after-commit ones of one database, or typed ones the event may not fit (the
        registry changed since dispatch: those are skipped with a warning)."""
        if alias is None:
            registrations: Sequence[Registration] = route.immediate
        else:
            event_alias = context.database if context is not None else None
            registrations = [r for r in route.deferred if r.commit_alias(event_alias) == alias]
        steps: list[Step] = []
        for registration in registrations:
            if registration.takes_event and not (
                len(args) == 1 and not kwargs and isinstance(args[0], registration.target)  # type: ignore[arg-type]
            ):
                logger.warning(
                    "handler %s skipped for event %r: it takes %r, the event carries %r",
                    registration.label,
                    name,
                    registration.target,
                    args,
                )
                continue
            steps.append((registration.handler, registration.takes_event, registration))
        return steps

    def _failed(
        self, name: str, registration: Registration, exc: Exception, error: Exception | None, may_raise: bool
    ) -> Exception | None:
        """A handler raised ``exc``: keep it to raise later (the first, with the raise policy)
        or log it. Returns the error to raise."""
        if (
            error is None
            and may_raise
            and (self._raise if self._raise is not None else conf.current().raise_handler_errors)
        ):
            return exc
        logger.error(
            "handler %s failed for event %r",
            registration.label,
            name,
            exc_info=exc,
            extra={"event_name": name, "handler": registration.label},
        )
        return error

    # -- legacy names of the original package -------------------------------------------

    RegisterHandler = register
    Dispatch = dispatch
    ClearQueue = clear_queue
    EnsureQueueIsCleared = ensure_queue_is_cleared

    def MocksDispatch(self, func: _F) -> _F:
        """Legacy: see ``django_events.testing.mocks_dispatch``."""
        from .testing import mocks_dispatch

        return mocks_dispatch(func, dispatcher=self)

    def Expect(self, target: Target) -> None:
        """Legacy: see ``django_events.testing.expect``."""
        from .testing import expect

        expect(target, dispatcher=self)


def _enqueue_after_commit(
    registration: Registration, name: str, payload: dict[str, Any]
) -> Callable[[], None]:
    """The on_commit callback that enqueues one task; a failure is logged (the data committed)."""
    from .tasks import enqueue

    def enqueue_after_commit() -> None:
        try:
            enqueue(registration, name, payload)
        except Exception:
            logger.exception(
                "queued handler %s: the task for event %r could not be enqueued after the commit; it is lost",
                registration.label,
                name,
                extra={"event_name": name, "handler": registration.label},
            )

    enqueue_after_commit.__qualname__ = f"after-commit enqueue of {name!r} for {registration.label}"
    return enqueue_after_commit


def _check_typed_targets(
    name: str,
    registrations: tuple[Registration, ...],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    """A name reaching typed handlers must carry an instance of their Event class."""
    for registration in registrations:
        target = registration.target
        if isinstance(target, type) and not (len(args) == 1 and not kwargs and isinstance(args[0], target)):
            raise TypeError(
                f"event {name!r} has handlers typed for {target!r}; dispatch an instance of it, "
                f"not args={args!r} kwargs={kwargs!r}"
            )


#: The default dispatcher, shared by ``on``, ``Event.dispatch`` and the legacy API.
dispatcher = EventDispatcher()


def get_dispatcher(value: object) -> EventDispatcher:
    """``value`` when it is an EventDispatcher, the default one for None; else TypeError."""
    if value is None:
        return dispatcher
    if isinstance(value, EventDispatcher):
        return value
    raise TypeError(f"dispatcher must be an EventDispatcher or None, got {describe(value)}")


def live_dispatchers() -> list[EventDispatcher]:
    """Every EventDispatcher instance that is still referenced."""
    return list(_live)


def live_registrations() -> Iterator[Registration]:
    """The registrations of every live EventDispatcher (system checks, the task worker)."""
    for live in live_dispatchers():
        yield from live.registrations


def _forget_paths() -> None:
    for live in live_dispatchers():
        live._forget_path()


conf.on_reset(_forget_paths)


def drain_this_thread() -> None:
    """Run the calling thread's pending events in every live dispatcher; errors are logged."""
    for live in live_dispatchers():
        live._queues.drain(may_raise=False)


def _drain_all_at_exit() -> None:
    for live in live_dispatchers():
        live._queues.drain_all()


def _drain_at_request_end(**kwargs: object) -> None:
    """Drain every dispatcher; with RAISE_HANDLER_ERRORS raise the first error after all ran."""
    error: Exception | None = None
    for live in live_dispatchers():
        try:
            live.clear_queue()
        except Exception as exc:
            error = error or exc
    if error is not None:
        raise error


atexit.register(_drain_all_at_exit)
request_finished.connect(_drain_at_request_end, dispatch_uid="django_events.drain_at_request_end")
