"""Test helpers: capture and fake events, assert on them, and the legacy MocksDispatch.

``capture_events()`` records every dispatch while handlers still run; ``fake_events()``
records and keeps the matched events from their handlers. Both switch the dispatcher to
sync mode while they are active (no ``clear_queue`` needed) and restore it afterwards.
The ``events`` and ``fake_events`` pytest fixtures and ``EventsTestCaseMixin`` wrap them.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from asgiref.sync import iscoroutinefunction

from ._dispatcher import EventDispatcher, get_dispatcher
from ._events import Event
from ._routing import Target, check_target, handler_label
from .exceptions import describe, is_whole

__all__ = [
    "Capture",
    "DispatchedEvent",
    "EventsTestCaseMixin",
    "assert_dispatched",
    "assert_listening",
    "assert_not_dispatched",
    "assert_nothing_dispatched",
    "capture_events",
    "expect",
    "expect_name",
    "fake_events",
    "mocks_dispatch",
]

_E = TypeVar("_E", bound=Event)
_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True)
class DispatchedEvent:
    """One recorded dispatch."""

    name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    #: The Event instance, when one was dispatched.
    event: Event | None

    def __str__(self) -> str:
        if self.event is not None:
            return f"{self.name} {self.event!r}"
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.name}({', '.join(parts)})"


class _Matcher:
    """An Event class (instances of it) or a regex (full match on the name)."""

    def __init__(self, target: object) -> None:
        self.target = check_target(target)
        self._pattern = re.compile(self.target) if isinstance(self.target, str) else None

    def matches(self, record: DispatchedEvent) -> bool:
        if self._pattern is not None:
            return self._pattern.fullmatch(record.name) is not None
        target: Any = self.target
        if target._handler_adapter is not None:  # Created[Order]: what a save dispatched
            return record.name == target.event_name and bool(
                target._dispatch_fits(record.args, record.kwargs)
            )
        return isinstance(record.event, target)

    def subject(self, record: DispatchedEvent) -> Any:
        """What ``where=`` gets: the event instance for a class (a typed model event built
        from the dispatch), the record for a pattern."""
        if self._pattern is not None:
            return record
        target: Any = self.target
        if target._handler_adapter is not None:
            return target._from_dispatch(*record.args, **record.kwargs)
        return record.event

    def __str__(self) -> str:
        return repr(self.target) if isinstance(self.target, str) else self.target.__qualname__


class Capture:
    """The events recorded by ``capture_events()`` / ``fake_events()``, with assertions."""

    def __init__(self, dispatcher: EventDispatcher, faked: Callable[[DispatchedEvent], bool]) -> None:
        self.dispatcher = dispatcher
        self.events: list[DispatchedEvent] = []
        self._faked = faked

    def __call__(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        event = args[0] if len(args) == 1 and not kwargs and isinstance(args[0], Event) else None
        record = DispatchedEvent(name, args, dict(kwargs), event)
        self.events.append(record)
        return self._faked(record)

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[DispatchedEvent]:
        return iter(self.events)

    @property
    def names(self) -> list[str]:
        """The names of the recorded events, in dispatch order."""
        return [record.name for record in self.events]

    @overload
    def matching(
        self, target: type[_E], where: Callable[[_E], object] | None = None
    ) -> list[DispatchedEvent]: ...
    @overload
    def matching(
        self, target: str, where: Callable[[DispatchedEvent], object] | None = None
    ) -> list[DispatchedEvent]: ...
    def matching(self, target: Target, where: Callable[[Any], object] | None = None) -> list[DispatchedEvent]:
        """The recorded events that match ``target`` (and ``where``, if given)."""
        if where is not None and not callable(where):
            raise TypeError(f"where must be a callable (event) -> bool, got {describe(where)}")
        matcher = _Matcher(target)
        return [
            record
            for record in self.events
            if matcher.matches(record) and (where is None or where(matcher.subject(record)))
        ]

    @overload
    def assert_dispatched(
        self, target: type[_E], where: Callable[[_E], object] | None = None, times: int | None = None
    ) -> None: ...
    @overload
    def assert_dispatched(
        self, target: str, where: Callable[[DispatchedEvent], object] | None = None, times: int | None = None
    ) -> None: ...
    def assert_dispatched(
        self, target: Target, where: Callable[[Any], object] | None = None, times: int | None = None
    ) -> None:
        """Fail unless ``target`` was dispatched (``times`` times exactly, if given)."""
        if times is not None and (not is_whole(times) or times < 0):
            raise ValueError(f"times must be a whole number >= 0, got {describe(times)}")
        found = len(self.matching(target, where))
        if (times is None and found == 0) or (times is not None and found != times):
            wanted = "at least once" if times is None else f"{times} time(s)"
            raise AssertionError(
                f"expected {_described(target, where)} to be dispatched {wanted}, "
                f"it was dispatched {found} time(s). {self._dispatched()}"
            )

    @overload
    def assert_not_dispatched(
        self, target: type[_E], where: Callable[[_E], object] | None = None
    ) -> None: ...
    @overload
    def assert_not_dispatched(
        self, target: str, where: Callable[[DispatchedEvent], object] | None = None
    ) -> None: ...
    def assert_not_dispatched(self, target: Target, where: Callable[[Any], object] | None = None) -> None:
        """Fail if ``target`` was dispatched."""
        found = len(self.matching(target, where))
        if found:
            raise AssertionError(
                f"expected {_described(target, where)} not to be dispatched, "
                f"it was dispatched {found} time(s). {self._dispatched()}"
            )

    def assert_nothing_dispatched(self) -> None:
        """Fail if any event was dispatched."""
        if self.events:
            raise AssertionError(f"expected no event to be dispatched. {self._dispatched()}")

    def assert_listening(self, target: Target, handler: Callable[..., object]) -> None:
        """Fail unless ``handler`` is registered for ``target`` on this capture's dispatcher."""
        assert_listening(target, handler, dispatcher=self.dispatcher)

    def _dispatched(self) -> str:
        return _dispatched_text(self.events)


def _described(target: Target, where: Callable[..., object] | None) -> str:
    text = str(_Matcher(target))
    return text if where is None else f"{text} where {handler_label(where)}"


def _dispatched_text(records: Sequence[DispatchedEvent]) -> str:
    if not records:
        return "Dispatched: nothing."
    lines = "\n".join(f"  {n}. {record}" for n, record in enumerate(records, 1))
    return f"Dispatched ({len(records)}):\n{lines}"


_active: dict[int, list[Capture]] = {}


@contextlib.contextmanager
def _installed(capture: Capture) -> Iterator[Capture]:
    stack = _active.setdefault(id(capture.dispatcher), [])
    stack.append(capture)
    try:
        with capture.dispatcher.recording(capture, mode="sync"):
            yield capture
    finally:
        stack.remove(capture)


def capture_events(dispatcher: EventDispatcher | None = None) -> contextlib.AbstractContextManager[Capture]:
    """Context manager: record every dispatched event; handlers still run (in sync mode)."""
    return _installed(Capture(get_dispatcher(dispatcher), lambda record: False))


def fake_events(
    only: Iterable[Target] | Target | None = None,
    except_: Iterable[Target] | Target | None = None,
    dispatcher: EventDispatcher | None = None,
) -> contextlib.AbstractContextManager[Capture]:
    """Context manager: record events and keep the faked ones from their handlers.

    With neither argument every event is faked. ``only=[OrderPaid, "shop::.*"]`` fakes
    just those; ``except_=[...]`` fakes all but those, which still reach their handlers. A
    single target needs no list: ``only=OrderPaid``.
    """
    if only is not None and except_ is not None:
        raise TypeError(
            f"fake_events() takes only= or except_=, not both: got only={only!r}, except_={except_!r}"
        )
    chosen = only if only is not None else except_ or []
    if isinstance(chosen, (str, type)):  # one target
        chosen = [chosen]
    selected = [_Matcher(t) for t in chosen]

    def faked(record: DispatchedEvent) -> bool:
        hit = any(m.matches(record) for m in selected)
        if only is not None:
            return hit
        return not hit

    return _installed(Capture(get_dispatcher(dispatcher), faked))


def _current(dispatcher: EventDispatcher | None, what: str) -> Capture:
    stack = _active.get(id(get_dispatcher(dispatcher)))
    if not stack:
        raise RuntimeError(
            f"{what}() needs an active capture_events() or fake_events() "
            "(or the pytest fixture events / fake_events, or EventsTestCaseMixin)"
        )
    return stack[-1]


@overload
def assert_dispatched(
    target: type[_E],
    where: Callable[[_E], object] | None = None,
    times: int | None = None,
    *,
    dispatcher: EventDispatcher | None = None,
) -> None: ...
@overload
def assert_dispatched(
    target: str,
    where: Callable[[DispatchedEvent], object] | None = None,
    times: int | None = None,
    *,
    dispatcher: EventDispatcher | None = None,
) -> None: ...
def assert_dispatched(
    target: Target,
    where: Callable[[Any], object] | None = None,
    times: int | None = None,
    *,
    dispatcher: EventDispatcher | None = None,
) -> None:
    """Fail unless the innermost active capture saw ``target`` (``where``, ``times``)."""
    _current(dispatcher, "assert_dispatched").assert_dispatched(target, where, times)


@overload
def assert_not_dispatched(
    target: type[_E],
    where: Callable[[_E], object] | None = None,
    *,
    dispatcher: EventDispatcher | None = None,
) -> None: ...
@overload
def assert_not_dispatched(
    target: str,
    where: Callable[[DispatchedEvent], object] | None = None,
    *,
    dispatcher: EventDispatcher | None = None,
) -> None: ...
def assert_not_dispatched(
    target: Target, where: Callable[[Any], object] | None = None, *, dispatcher: EventDispatcher | None = None
) -> None:
    """Fail if the innermost active capture saw ``target``."""
    _current(dispatcher, "assert_not_dispatched").assert_not_dispatched(target, where)


def assert_nothing_dispatched(*, dispatcher: EventDispatcher | None = None) -> None:
    """Fail if the innermost active capture saw any event."""
    _current(dispatcher, "assert_nothing_dispatched").assert_nothing_dispatched()


def assert_listening(
    target: Target, handler: Callable[..., object], *, dispatcher: EventDispatcher | None = None
) -> None:
    """Fail unless ``handler`` is registered for ``target`` (a regex or Event class)."""
    checked = check_target(target)
    registry = (get_dispatcher(dispatcher)).registrations
    if not any(r.target == checked and r.handler == handler for r in registry):
        listening = [r.label for r in registry if r.target == checked]
        raise AssertionError(
            f"expected {handler_label(handler)} to listen to {_Matcher(checked)}; "
            f"listening: {', '.join(listening) if listening else 'nobody'}"
        )


# -- legacy: Dispatcher.MocksDispatch and Dispatcher.Expect ----------------------------------


class _Name:
    """An exact event name, as the legacy ``Dispatcher.Expect`` matched."""

    def __init__(self, name: str) -> None:
        self.name = name

    def matches(self, record: DispatchedEvent) -> bool:
        return record.name == self.name

    def __str__(self) -> str:
        return repr(self.name)


class _Mock:
    """The state of one MocksDispatch: expected targets are faked; the rest flows."""

    def __init__(self, dispatcher: EventDispatcher) -> None:
        self.expected: list[_Matcher | _Name] = []
        self.capture = Capture(dispatcher, lambda record: any(m.matches(record) for m in self.expected))

    def missing(self) -> list[_Matcher | _Name]:
        return [m for m in self.expected if not any(m.matches(r) for r in self.capture.events)]


_mocks: dict[int, list[_Mock]] = {}


@contextlib.contextmanager
def _mocking(dispatcher: EventDispatcher) -> Iterator[_Mock]:
    mock = _Mock(dispatcher)
    stack = _mocks.setdefault(id(dispatcher), [])
    stack.append(mock)
    try:
        with dispatcher.isolate(), _installed(mock.capture):
            yield mock
    finally:
        stack.remove(mock)
    missing = mock.missing()
    if missing:
        raise AssertionError(
            f"expected event(s) not dispatched: {', '.join(str(m) for m in missing)}. "
            f"{_dispatched_text(mock.capture.events)}"
        )


def mocks_dispatch(func: _F, *, dispatcher: EventDispatcher | None = None) -> _F:
    """Decorator (legacy ``Dispatcher.MocksDispatch``) for test functions and methods.

    Inside, ``expect(target)`` (``Dispatcher.Expect``) declares an event the test must
    dispatch: it is recorded and its handlers do not run; other events flow as usual, in
    sync mode. At the end a missing expected event fails the test, listing what was
    dispatched. Handlers registered and the dispatcher's mode are restored, even when
    the test raised.
    """
    if not callable(func):
        raise TypeError(f"MocksDispatch decorates a test function or method, got {describe(func)}")
    target = get_dispatcher(dispatcher)
    if iscoroutinefunction(func):  # (asgiref's: it sees markcoroutinefunction before 3.12)

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            with _mocking(target):
                return await func(*args, **kwargs)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _mocking(target):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def expect(target: Target, *, dispatcher: EventDispatcher | None = None) -> None:
    """Inside ``mocks_dispatch``: the test must dispatch ``target`` (an Event class or a regex)."""
    _expected(dispatcher).append(_Matcher(target))


def expect_name(name: str, *, dispatcher: EventDispatcher | None = None) -> None:
    """Inside ``mocks_dispatch``: the test must dispatch an event called exactly ``name`` (the
    legacy ``Dispatcher.Expect``, which compared names)."""
    _expected(dispatcher).append(_Name(name))


def _expected(dispatcher: EventDispatcher | None) -> list[_Matcher | _Name]:
    stack = _mocks.get(id(get_dispatcher(dispatcher)))
    if not stack:
        raise RuntimeError("Expect() works inside a test decorated with Dispatcher.MocksDispatch")
    return stack[-1].expected


# -- Django TestCase ----------------------------------------------------------------------


class EventsTestCaseMixin:
    """For ``django.test.TestCase``: every test records events; assertion methods.

    The default dispatcher runs in sync mode during each test, and handlers the test
    registers are removed after it.
    """

    events_dispatcher: EventDispatcher | None = None
    dispatched_events: Capture

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        stack = contextlib.ExitStack()
        target = get_dispatcher(self.events_dispatcher)
        stack.enter_context(target.isolate())
        self.dispatched_events = stack.enter_context(capture_events(target))
        self.addCleanup(stack.close)  # type: ignore[attr-defined]

    @overload
    def assertEventDispatched(
        self, target: type[_E], where: Callable[[_E], object] | None = None, times: int | None = None
    ) -> None: ...
    @overload
    def assertEventDispatched(
        self, target: str, where: Callable[[DispatchedEvent], object] | None = None, times: int | None = None
    ) -> None: ...
    def assertEventDispatched(
        self, target: Target, where: Callable[[Any], object] | None = None, times: int | None = None
    ) -> None:
        """Fail unless ``target`` was dispatched (``times`` times exactly, if given)."""
        self.dispatched_events.assert_dispatched(target, where, times)

    @overload
    def assertEventNotDispatched(
        self, target: type[_E], where: Callable[[_E], object] | None = None
    ) -> None: ...
    @overload
    def assertEventNotDispatched(
        self, target: str, where: Callable[[DispatchedEvent], object] | None = None
    ) -> None: ...
    def assertEventNotDispatched(self, target: Target, where: Callable[[Any], object] | None = None) -> None:
        """Fail if ``target`` was dispatched."""
        self.dispatched_events.assert_not_dispatched(target, where)

    def assertNoEventsDispatched(self) -> None:
        self.dispatched_events.assert_nothing_dispatched()

    def assertListening(self, target: Target, handler: Callable[..., object]) -> None:
        self.dispatched_events.assert_listening(target, handler)
