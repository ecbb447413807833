"""``SignalToEvent``: turn any Django signal into events."""

from __future__ import annotations

import dataclasses
import inspect
import weakref
from collections.abc import Callable
from typing import Any, cast

from django.dispatch import Signal

from ._dispatcher import EventDispatcher, get_dispatcher
from ._events import Event
from ._routing import handler_label
from .exceptions import describe

__all__ = ["HookResult", "Relay", "check_arguments", "connect", "signal_to_event"]

#: What a hook may return: an event name, an Event class (built from the signal's
#: keyword arguments) or a ready Event instance.
HookResult = str | type[Event] | Event


def _is_event_class(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, Event) and value is not Event


def build_event(cls: type[Event], sender: object, kwargs: dict[str, Any]) -> Event:
    """An instance of ``cls`` from the signal's arguments whose names match its fields."""
    available = {"sender": sender, **kwargs}
    if cls._legacy_init:  # its own __init__: match its parameters
        parameters = inspect.signature(cls).parameters.values()
        if any(p.kind is p.VAR_KEYWORD for p in parameters):
            return cls(**available)
        names = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    else:
        names = [f.name for f in dataclasses.fields(cast("Any", cls)) if f.init]
    try:
        return cls(**{name: available[name] for name in names if name in available})
    except TypeError as exc:
        raise TypeError(
            f"cannot build {cls.__qualname__} from the signal's arguments {sorted(available)}: {exc}"
        ) from exc


class Relay:
    """The receiver a signal gets: turns one send into one dispatch, on a dispatcher held
    weakly (a signal's receivers live as long as the signal; a dropped dispatcher must not)."""

    def __init__(
        self,
        event: str | type[Event] | None,
        hook: Callable[..., object] | None,
        dispatcher: EventDispatcher,
    ) -> None:
        self.event = event
        self.hook = hook
        self._dispatcher = weakref.ref(dispatcher)

    def __call__(self, sender: object, **kwargs: Any) -> None:
        dispatcher = self._dispatcher()
        if dispatcher is None:  # dropped: nothing listens any more
            return
        self.relay(dispatcher, sender, kwargs)

    def chosen(self, sender: object, kwargs: dict[str, Any]) -> HookResult:
        """``event``, or what the hook returns for this send (checked)."""
        if self.hook is None:
            assert self.event is not None  # checked at connection
            return self.event
        result: object = self.hook(sender, **kwargs)
        if isinstance(result, (str, Event)) or _is_event_class(result):
            return result  # type: ignore[return-value]
        raise TypeError(
            f"SignalToEvent hook {handler_label(self.hook)} must return an event name, an Event "
            f"class or an Event instance, got {describe(result)}"
        )

    def relay(self, dispatcher: EventDispatcher, sender: object, kwargs: dict[str, Any]) -> None:
        kwargs.pop("signal", None)
        result = self.chosen(sender, kwargs)
        if isinstance(result, str):
            dispatcher.dispatch(result, sender=sender, **kwargs)
        elif isinstance(result, Event):
            dispatcher.dispatch(result)
        else:
            dispatcher.dispatch(build_event(result, sender, kwargs))


def check_arguments(signal: object, event: object, hook: object, *, what: str, one_of: bool) -> None:
    """A Signal, and ``event`` (a name or an Event class) or ``hook`` (a callable): exactly
    one of them when ``one_of``, else at least one."""
    if not isinstance(signal, Signal):
        raise TypeError(f"{what} expects a django.dispatch.Signal, got {describe(signal)}")
    if (event is None and hook is None) or (one_of and event is not None and hook is not None):
        raise TypeError(
            f"{what} needs {'exactly' if one_of else 'at least'} one of event=... (a name or Event "
            f"class) or hook=..., got event={event!r} and hook={hook!r}"
        )
    if event is not None and not ((isinstance(event, str) and event) or _is_event_class(event)):
        raise TypeError(f"{what} event must be an event name or an Event class, got {describe(event)}")
    if hook is not None and not callable(hook):
        raise TypeError(f"{what} hook must be callable, got {describe(hook)}")


def connect(signal: Signal, relay: Relay, sender: object, kind: str) -> None:
    """Connect ``relay`` to ``signal`` once per (kind, event or hook, dispatcher); the
    connection goes when the dispatcher does."""
    dispatcher = relay._dispatcher()
    assert dispatcher is not None
    # The dispatcher's weak reference names the connection (an id() could be reused by a
    # later dispatcher).
    uid = (kind, relay.event if relay.hook is None else relay.hook, weakref.ref(dispatcher))
    signal.connect(relay, sender=sender, weak=False, dispatch_uid=uid)
    weakref.finalize(dispatcher, signal.disconnect, sender=sender, dispatch_uid=uid)


def signal_to_event(
    signal: Signal,
    event: str | type[Event] | None = None,
    *,
    hook: Callable[..., HookResult] | None = None,
    sender: object = None,
    dispatcher: EventDispatcher | None = None,
) -> None:
    """Dispatch an event whenever ``signal`` is sent (by ``sender``, if given).

    ``event`` is an event name (handlers get ``(name, sender=..., **signal_kwargs)``) or an
    Event class (typed handlers get an instance built from the signal's keyword arguments
    that match its fields). ``hook(sender, **signal_kwargs)`` instead chooses the event per
    send and returns a name, an Event class or an Event instance. The connection is
    strong (a lambda hook stays alive) and made once however often this is called.
    """
    check_arguments(signal, event, hook, what="signal_to_event()", one_of=True)
    connect(signal, Relay(event, hook, get_dispatcher(dispatcher)), sender, "django_events.signal_to_event")
