"""``on`` and ``off``: subscribe and unsubscribe plain functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Generic, TypeVar, overload

from typing_extensions import ParamSpec, Unpack

from ._dispatcher import EventDispatcher, get_dispatcher, live_dispatchers
from ._events import Event
from ._options import HandlerOptions, Options
from ._routing import Target, check_target

__all__ = ["off", "on"]

_P = ParamSpec("_P")
_R = TypeVar("_R")
_E = TypeVar("_E", bound=Event)
_E1 = TypeVar("_E1", bound=Event)
_E2 = TypeVar("_E2", bound=Event)
_E3 = TypeVar("_E3", bound=Event)


class _Subscribe:
    def __init__(self, targets: tuple[Target, ...], dispatcher: EventDispatcher, options: Options) -> None:
        self._targets = targets
        self._dispatcher = dispatcher
        self._options = options

    def _register(self, handler: Callable[..., object]) -> None:
        self._dispatcher.add(self._targets, handler, self._options)


class OnEvent(_Subscribe, Generic[_E]):
    """What ``on(EventClass)`` returns: registers ``handler(event)``."""

    def __call__(self, handler: Callable[[_E], _R], /) -> Callable[[_E], _R]:
        self._register(handler)
        return handler


class OnPattern(_Subscribe):
    """What ``on("regex")`` returns: registers ``handler(name, *args, **kwargs)``."""

    def __call__(self, handler: Callable[Concatenate[str, _P], _R], /) -> Callable[Concatenate[str, _P], _R]:
        self._register(handler)
        return handler


@overload
def on(
    event: type[_E1], /, *, dispatcher: EventDispatcher | None = None, **options: Unpack[HandlerOptions]
) -> OnEvent[_E1]: ...
@overload
def on(
    event: type[_E1],
    event2: type[_E2],
    /,
    *,
    dispatcher: EventDispatcher | None = None,
    **options: Unpack[HandlerOptions],
) -> OnEvent[_E1 | _E2]: ...
@overload
def on(
    event: type[_E1],
    event2: type[_E2],
    event3: type[_E3],
    /,
    *,
    dispatcher: EventDispatcher | None = None,
    **options: Unpack[HandlerOptions],
) -> OnEvent[_E1 | _E2 | _E3]: ...
@overload
def on(
    event: type[Event],
    /,
    *more: type[Event],
    dispatcher: EventDispatcher | None = None,
    **options: Unpack[HandlerOptions],
) -> OnEvent[Event]: ...
@overload
def on(
    pattern: str, /, *more: str, dispatcher: EventDispatcher | None = None, **options: Unpack[HandlerOptions]
) -> OnPattern: ...
def on(
    target: Target,
    /,
    *more: Target,
    dispatcher: EventDispatcher | None = None,
    **options: Unpack[HandlerOptions],
) -> OnEvent[Any] | OnPattern:
    """Decorator: call the function for events matching the targets; returns it unchanged.

    ``@on(OrderPaid)`` calls ``handler(event)``; ``@on("events::db::.*::created")`` calls
    ``handler(name, *args, **kwargs)`` for every name the regex fully matches. Patterns and
    options are checked here, so a bad one fails at import of the module that declares it.
    ``after_commit=True`` delivers only when the surrounding transaction commits (on the
    database alias ``using``, default ``"default"``), and never when it rolls back.
    ``queue=True`` (or a queue name) runs the handler in a task worker, one task per event,
    with ``priority`` and up to ``retries`` retries: see README, "Queued handlers".
    """
    targets = tuple(check_target(t) for t in (target, *more))
    kinds = {isinstance(t, str) for t in targets}
    if len(kinds) > 1:
        raise TypeError(
            f"on() takes either Event classes or regex strings, not both: {targets!r}; "
            "their handlers are called differently (event) vs (name, *args, **kwargs)"
        )
    chosen = get_dispatcher(dispatcher)
    parsed = Options.parse(options)
    if isinstance(targets[0], str):
        return OnPattern(targets, chosen, parsed)
    return OnEvent(targets, chosen, parsed)


def off(handler: Callable[..., object], *, dispatcher: EventDispatcher | None = None) -> int:
    """Remove ``handler`` (or an ``EventListener`` class) wherever it is registered.

    Without ``dispatcher=`` that is every live EventDispatcher. Returns how many
    registrations were removed.
    """
    from ._legacy import EventListener

    if isinstance(handler, type) and issubclass(handler, EventListener):
        return handler.unregister()
    targets = [get_dispatcher(dispatcher)] if dispatcher is not None else live_dispatchers()
    return sum(d.off(handler) for d in targets)
