"""``EventDispatcher``: registration, routing, the checks of ``dispatch``, and the drain API.

A dispatch reads top-down: the name (or the Event instance's class) is looked up once in
the handler table's cache, and the route's groups go to their delivery strategies (see
``django_events.delivery``); this module knows nothing of tests, tasks or transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from asgiref.sync import iscoroutinefunction, sync_to_async
from gevent.monkey import get_original
from typing_extensions import ParamSpec, Unpack

from . import _events, conf
from ._events import Event
from ._live import Alive
from ._options import HandlerOptions, Options
from ._routing import HandlerTable, Registration, Route, Target, check_handler, check_target
from ._running import Context, Step, arun, run
from .delivery import Delivery, ModeDelivery, SendingDelivery, Waiting, gevent, inline
from .delivery.recording import Recorder, RecordingDelivery, kept
from .exceptions import describe, is_whole

if TYPE_CHECKING:
    from ._legacy import LegacyDispatcherMethods as _LegacyNames
else:
    _LegacyNames = object  # RegisterHandler, Dispatch, ...: _legacy adds them at import

__all__ = ["EventDispatcher", "dispatcher", "get_dispatcher", "live_dispatchers"]

_P = ParamSpec("_P")
_R = TypeVar("_R")
_E = TypeVar("_E", bound=Event)

_allocate_lock = get_original("_thread", "allocate_lock")


_run_in_sync_thread = sync_to_async(functools.partial(gevent.then_settle, run), thread_sensitive=True)
_hand_over_in_sync_thread = sync_to_async(gevent.then_settle, thread_sensitive=True)
#: Every dispatcher made, remembered weakly.
_live: Alive[EventDispatcher] = Alive()


class EventDispatcher(_LegacyNames):
    """Routes dispatched events to the handlers registered for them.

    ``mode`` is ``"gevent"`` (queue the event; the thread's worker greenlet runs its
    handlers when the hub gets control, and pending events are drained at
    ``clear_queue()``, at the end of each request and at exit) or ``"sync"`` (run them
    before ``dispatch`` returns). ``None`` follows ``DJANGO_EVENTS["MODE"]``.
    ``raise_handler_errors=None`` follows ``DJANGO_EVENTS["RAISE_HANDLER_ERRORS"]``.
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
        if not is_whole(cache_size) or cache_size < 1:
            raise ValueError(f"cache_size must be a whole number >= 1, got {describe(cache_size)}")
        self._mode = mode
        self._raise = raise_handler_errors
        self._table = HandlerTable(cache_size)
        #: The resolved routes by name (the table's cache; strategies read it at delivery).
        self.routes = self._table.cache
        self._class_routes = self._table.class_cache
        self._recorders: list[Recorder] = []
        #: Each active recording's recorder and the mode it asked for (the last one wins).
        self._recordings: list[tuple[Recorder, conf.Mode]] = []
        self._lock = _allocate_lock()
        #: How the mode delivers immediate handlers, and its send behind any recorders.
        self._mode_delivery: ModeDelivery = inline.DELIVERY
        self._send: Callable[..., Exception | None] = inline.DELIVERY.send
        #: Whether a model event gives the hub a turn (gevent mode, or it is decided then).
        self._turns = False
        self.settle()
        _live.add(self)

    def __repr__(self) -> str:
        return f"<EventDispatcher mode={self.mode!r} handlers={len(self._table.registrations)}>"

    @property
    def mode(self) -> conf.Mode:
        """The mode in force: a recording's (testing helpers), else this dispatcher's own,
        else the setting's."""
        if self._recordings:
            return self._recordings[-1][1]
        return self._mode or conf.current().mode

    def raises(self) -> bool:
        """Whether a handler's error is raised to the caller (else logged)."""
        return self._raise if self._raise is not None else conf.current().raise_handler_errors

    def settle(self) -> None:
        """Choose the delivery of immediate handlers again (the mode, the setting or the
        recorders changed). Until Django's settings are configured (and valid), a
        dispatcher that follows them decides at each dispatch."""
        with self._lock:
            queued = self._send is gevent.DELIVERY.send
            if self._mode is None and not self._recordings and not conf.valid():
                # Not configured yet, or a bad setting (reported by the checks; at first use
                # dispatch raises ImproperlyConfigured).
                mode: ModeDelivery = _FOLLOWING
            else:
                mode = gevent.DELIVERY if self.mode == "gevent" else inline.DELIVERY
            self._mode_delivery = mode
            self._turns = mode is not inline.DELIVERY
            self._send = RecordingDelivery(self._recorders, mode).send if self._recorders else mode.send
        if queued and self._send is not gevent.DELIVERY.send and asyncio._get_running_loop() is None:
            # Events this thread queued before (a test's, before its capture_events() block
            # or a switch to sync mode) run first: the thread's events keep dispatch order.
            # (Not in an event loop's thread, where sync handlers cannot use the ORM.)
            gevent.drain(may_raise=False)

    # -- registration -----------------------------------------------------------------

    @overload
    def register(
        self, target: type[_E], handler: Callable[[_E], object], **options: Unpack[HandlerOptions]
    ) -> None: ...
    @overload
    def register(
        self, target: str, handler: Callable[..., object], **options: Unpack[HandlerOptions]
    ) -> None: ...
    def register(
        self, target: Target, handler: Callable[..., object], **options: Unpack[HandlerOptions]
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
        self.add((target,), handler, Options.parse(options))

    def register_many(
        self, targets: Sequence[Target], handler: Callable[..., object], **options: Unpack[HandlerOptions]
    ) -> None:
        """Register ``handler`` for each target, all or none (every target is checked first)."""
        if not isinstance(targets, (tuple, list)):
            raise TypeError(
                f"register_many() takes a tuple or list of targets, got {describe(targets)}; "
                "use register() for one"
            )
        self.add(targets, handler, Options.parse(options))

    def add(self, targets: Sequence[Target], handler: Callable[..., object], options: Options) -> None:
        """Register ``handler`` for each target with options already parsed (``Options.parse``)."""
        check_handler(handler)  # even with no targets
        self._table.add(*(Registration.create(target, handler, options) for target in targets))

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
        """The registrations an event called ``name`` reaches, in the order they run:
        immediate, then after-commit, then queued."""
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
        # The hot path: one lookup, then the mode runs or queues the route's handlers.
        if type(event) is str:
            route = self.routes.get(event) or self._table.route(event)
            steps = route.name_steps
            if steps is None:
                self._send_route(event, args, kwargs, route, None, by_name=True)
                return
            error = self._send(self, steps, event, args, kwargs, None)
        else:
            known = self._class_routes.get(type(event))
            if known is None or known[2] is None or args or kwargs:
                self._dispatch_other(event, args, kwargs)
                return
            error = self._send(self, known[2], known[0], (event,), kwargs, None)
        if error is not None:
            raise error

    def _dispatch_other(self, event: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Everything but a plain name or an instance of an Event class dispatched before."""
        name, args, route, by_name = self._routed(event, args, kwargs)
        self._send_route(name, args, kwargs, route, None, by_name=by_name)

    def _routed(
        self, event: object, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[str, tuple[Any, ...], Route, bool]:
        """The name, the handlers' arguments and the route of a dispatch, and whether it is
        by name; a TypeError for anything but a name or an instance of an Event subclass."""
        if isinstance(event, Event):
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
            if type(event)._handler_adapter is not None:
                raise TypeError(
                    f"{type(event).__qualname__} is dispatched by the model's saves and deletes, "
                    "not by code: save the instance, or dispatch an Event class of your own"
                )
            name, route, _steps = self._table.class_route(type(event))
            return name, (event,), route, False
        if isinstance(event, str):
            name = str.__str__(event)  # the text of a str subclass (a (str, Enum) member's value)
            return name, args, self.routes.get(name) or self._table.route(name), True
        hint = ""
        if isinstance(event, type) and issubclass(event, Event):
            hint = f"; dispatch an instance: {event.__qualname__}(...).dispatch()"
        raise TypeError(
            f"dispatch() expects an event name (str) or an Event instance, got {describe(event)}{hint}"
        )

    @overload
    async def adispatch(self, event: Event, /) -> None: ...
    @overload
    async def adispatch(self, event: str, /, *args: Any, **kwargs: Any) -> None: ...
    async def adispatch(self, event: object, /, *args: Any, **kwargs: Any) -> None:
        """Dispatch from async code, as ``dispatch`` does, and wait for the handlers, in every
        mode: async handlers are awaited here, in the caller's loop, sync ones run in Django's
        thread for sync code (``sync_to_async``), in registration order. After-commit and
        queued handlers are handed over as ``dispatch`` does it, from that thread."""
        name, args, route, by_name = self._routed(event, args, kwargs)
        if not self._admitted(name, args, kwargs, route, by_name):
            return
        error = None
        hand_overs: list[Callable[[], None]] = []
        for delivery, part in route.parts:
            steps = route.steps(part, name, args, kwargs)
            if not steps:
                continue
            if delivery is None:
                found = await arun(self, steps, name, args, kwargs, _run_in_sync_thread)
            else:
                sending = _prepared(delivery, self, steps, name, args, kwargs, None, hand_overs)
                if sending is None:
                    continue
                found = await _hand_over_in_sync_thread(sending.send, self, steps, name, args, kwargs, None)
            error = error or found
        try:
            for hand_over in hand_overs:  # (what the queued handlers ran dispatched: its error)
                found = await _hand_over_in_sync_thread(hand_over)
                error = error or found
        except Exception as exc:
            _after(exc, error)
            raise
        if error is not None:
            raise error

    def _send_route(
        self,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        route: Route,
        context: Context | None,
        *,
        by_name: bool,
    ) -> None:
        """Send each group of a route to its strategy, in rank order; raise the first handler
        error (with the raise policy) once every group was sent."""
        if not route.parts and self._in_gevent_mode():
            # Queued all the same: a handler registered before its delivery gets it.
            self._mode_delivery.send(self, None, name, args, kwargs, context)
            return
        if not self._admitted(name, args, kwargs, route, by_name):
            return
        error = None
        hand_overs: list[Callable[[], None]] = []
        for delivery, part in route.parts:
            if delivery is None:  # the mode resolves them again when it delivers
                found = self._mode_delivery.send(self, None, name, args, kwargs, context)
            else:
                steps = route.steps(part, name, args, kwargs)
                sending = _prepared(delivery, self, steps, name, args, kwargs, context, hand_overs)
                found = sending.send(self, steps, name, args, kwargs, context) if sending else None
            error = error or found
        try:
            for hand_over in hand_overs:
                hand_over()
        except Exception as exc:
            _after(exc, error)
            raise
        if error is not None:
            raise error

    def dispatch_in(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], context: Context) -> None:
        """Dispatch ``name`` with a Context its handlers and after-commit delivery read (bulk
        events: the database of the call); a name's plain dispatch otherwise."""
        route = self.routes.get(name) or self._table.route(name)
        self._send_route(name, args, kwargs, route, context, by_name=False)

    @property
    def recorded(self) -> bool:
        """Whether a testing helper records this dispatcher's events."""
        return bool(self._recorders)

    def dispatch_with_context(
        self, name: str, args: tuple[Any, ...], make: Callable[..., Context], make_args: tuple[Any, ...]
    ) -> None:
        """Dispatch ``name`` with a Context its handlers can read (model events).

        ``make(*make_args)`` builds it, only when something listens or records. In gevent
        mode the hub then gets a turn (``let_handlers_run``), as the original yielded to the
        hub after model events.
        """
        route = self.routes.get(name) or self._table.route(name)
        steps = route.name_steps  # set when no handler is typed: each takes (name, instance)
        if steps is not None:  # (then something listens)
            error = self._send(self, steps, name, args, {}, make(*make_args))
            if error is not None:
                raise error
        elif route.registrations or self._recorders:
            self._send_route(name, args, {}, route, make(*make_args), by_name=False)
        if self._turns:  # every model event, listened to or not, as the original
            self.let_handlers_run()

    def _admitted(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], route: Route, by_name: bool
    ) -> bool:
        """Before a route's groups are sent: a name whose handlers are typed is dispatched
        with an instance of their Event class (a TypeError in the caller, before anything
        is sent), and the testing helpers' recorders see the event (False: one keeps it)."""
        if by_name:
            for target in route.typed:
                if not (len(args) == 1 and not kwargs and isinstance(args[0], target)):
                    raise TypeError(
                        f"event {name!r} has handlers typed for {target!r}; dispatch an instance of it, "
                        f"not args={args!r} kwargs={kwargs!r}"
                    )
        return not (self._recorders and kept(self._recorders, name, args, kwargs))

    def _in_gevent_mode(self) -> bool:
        mode = self._mode_delivery
        return mode is gevent.DELIVERY or (mode is _FOLLOWING and self.mode == "gevent")

    # -- what the strategies ask (delivery.Sink) -----------------------------------------

    def steps_at_delivery(
        self,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        waiting: Waiting | None,
        context: Context | None,
    ) -> Sequence[Step]:
        """The handlers an event reaches now: the immediate ones, or those ``waiting``
        selects (a strategy that delivers later, in this dispatcher's mode)."""
        route = self.routes.get(name) or self._table.route(name)
        part = route.immediate if waiting is None else waiting.select(route, context)
        return route.steps(part, name, args, kwargs)

    def later(
        self,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        waiting: Waiting,
        context: Context | None,
    ) -> None:
        """Deliver the handlers ``waiting`` selects, in this dispatcher's mode."""
        error = self._mode_delivery.send(self, None, name, args, kwargs, context, waiting)
        if error is not None:
            raise error

    # -- testing hooks --------------------------------------------------------------------

    @contextlib.contextmanager
    def recording(self, recorder: Recorder, *, mode: conf.Mode) -> Iterator[None]:
        """Show every dispatch to ``recorder`` first, in ``mode``, until the block ends
        (``django_events.testing`` builds on this)."""
        entry = (recorder, mode)
        self._recordings.append(entry)
        self._recorders.append(recorder)
        self.settle()
        try:
            yield
        finally:  # blocks of several greenlets may end in any order: remove this one only
            self._recordings.remove(entry)
            self._recorders.remove(recorder)
            self.settle()

    # -- drains ---------------------------------------------------------------------------

    def clear_queue(self) -> None:
        """Run this thread's pending events now (and those left by threads that ended).

        When a drain of this thread's queue is already under way in another greenlet (a
        handler that yielded, spawned greenlets, or waits for one) it returns at once: that
        drain runs the rest, in order; it never waits for a greenlet that may be waiting for
        it. With ``RAISE_HANDLER_ERRORS`` every pending event it runs still runs; then the
        first handler error is raised.
        """
        error = gevent.drain(may_raise=True)
        if error is not None:
            raise error

    def pending(self) -> int:
        """How many of this dispatcher's events are still queued (gevent mode), in all
        threads: one per dispatch, however many handlers it reaches; an event whose
        handlers are running no longer counts."""
        return gevent.pending(self)

    def let_handlers_run(self) -> None:
        """In gevent mode, let this thread's queued events run now, without waiting for a
        drain under way (the original package yielded to the hub)."""
        if self._in_gevent_mode():
            gevent.yield_to_handlers()

    @overload
    def ensure_queue_is_cleared(
        self, func: Callable[_P, Coroutine[Any, Any, _R]]
    ) -> Callable[_P, Coroutine[Any, Any, _R]]: ...
    @overload
    def ensure_queue_is_cleared(self, func: Callable[_P, _R]) -> Callable[_P, _R]: ...
    def ensure_queue_is_cleared(self, func: Callable[_P, Any]) -> Callable[_P, Any]:
        """Decorator: run ``func``, then ``clear_queue()`` (also when ``func`` raises). For an
        ``async def`` function, ``clear_queue()`` runs in Django's thread for sync code
        (``sync_to_async``), where the ORM works, as a request's end runs its events."""
        if not callable(func):
            raise TypeError(f"ensure_queue_is_cleared() decorates a function, got {describe(func)}")
        if iscoroutinefunction(func):  # (asgiref's: it sees markcoroutinefunction before 3.12)
            clear_queue = sync_to_async(self.clear_queue, thread_sensitive=True)

            @functools.wraps(func)
            async def async_wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Any:
                try:
                    return await func(*args, **kwargs)
                finally:
                    await clear_queue()

            return async_wrapper

        @functools.wraps(func)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Any:
            try:
                return func(*args, **kwargs)
            finally:
                self.clear_queue()

        return wrapper


def _prepared(
    delivery: Delivery,
    sink: EventDispatcher,
    steps: Sequence[Step],
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    context: Context | None,
    hand_overs: list[Callable[[], None]],
) -> SendingDelivery | None:
    """``delivery`` when it sends the group now; None when no handler of the group is reached,
    or when it is a PreparedDelivery: it checked the event, and its hand-over (appended to
    ``hand_overs``) is made once every group was sent."""
    if not steps:
        return None
    prepare: Callable[..., Callable[[], None]] | None = getattr(delivery, "prepare", None)
    if prepare is None:
        return cast("SendingDelivery", delivery)
    hand_overs.append(prepare(sink, steps, name, args, kwargs, context))
    return None


def _after(raised: BaseException, error: Exception | None) -> None:
    """A hand-over that failed after a handler's ``error`` (kept for the caller to raise):
    the hand-over's error is raised, with the handler's error as the context of its chain's
    first exception (the traceback shows both; neither was logged)."""
    if error is None:
        return
    first, seen = raised, {id(raised), id(error)}
    while (earlier := first.__cause__ or first.__context__) is not None and id(earlier) not in seen:
        first = earlier
        seen.add(id(first))
    first.__context__ = error


class _Following:
    """The mode of a dispatcher that follows the setting before Django's settings are
    configured: worked out at each dispatch, never remembered."""

    rank = inline.DELIVERY.rank

    def send(self, sink: Any, *args: Any) -> Exception | None:
        # (Recorders come with a mode of their own: a recording dispatcher is settled.)
        mode: ModeDelivery = gevent.DELIVERY if sink.mode == "gevent" else inline.DELIVERY
        return mode.send(sink, *args)

    def check_handler(self, handler: Callable[..., object], label: str) -> None:
        """Any callable."""


_FOLLOWING = _Following()

#: The default dispatcher, shared by ``on``, ``Event.dispatch`` and the legacy API.
dispatcher = EventDispatcher()
_events.use_default(dispatcher)


def get_dispatcher(value: object) -> EventDispatcher:
    """``value`` when it is an EventDispatcher, the default one for None; else TypeError."""
    if value is None:
        return dispatcher
    if isinstance(value, EventDispatcher):
        return value
    raise TypeError(f"dispatcher must be an EventDispatcher or None, got {describe(value)}")


def live_dispatchers() -> list[EventDispatcher]:
    """Every EventDispatcher instance that is still referenced."""
    return _live.alive()


def settle_all() -> None:
    """Every dispatcher chooses its delivery again (the settings were configured or changed)."""
    for live in live_dispatchers():
        live.settle()


conf.on_reset(settle_all)


def drain_at_request_end(**kwargs: object) -> None:
    """Run this thread's pending events (every dispatcher's) and those of threads that
    ended, until none is left; with RAISE_HANDLER_ERRORS raise the first error after all ran."""
    error = gevent.drain(may_raise=True)
    if error is not None:
        raise error
