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

__all__ = ["signal_to_event"]

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


class _Relay:
    """The receiver SignalToEvent connects: turns one signal send into one dispatch."""

    def __init__(
        self,
        event: str | type[Event] | None,
        hook: Callable[..., HookResult] | None,
        dispatcher: EventDispatcher,
    ) -> None:
        self.event = event
        self.hook = hook
        # Weakly: a signal's receivers live as long as the signal, a dropped dispatcher must not.
        self._dispatcher = weakref.ref(dispatcher)

    def __call__(self, sender: object, **kwargs: Any) -> None:
        dispatcher = self._dispatcher()
        if dispatcher is None:  # dropped: nothing listens any more
            return
        kwargs.pop("signal", None)
        result: object = self.event if self.hook is None else self.hook(sender, **kwargs)
        if isinstance(result, str):
            dispatcher.dispatch(result, sender=sender, **kwargs)
        elif isinstance(result, Event):
            dispatcher.dispatch(result)
        elif _is_event_class(result):
            dispatcher.dispatch(build_event(result, sender, kwargs))  # type: ignore[arg-type]
        else:
            assert self.hook is not None  # event= was checked at connection
            raise TypeError(
                f"SignalToEvent hook {handler_label(self.hook)} must return an event name, an Event "
                f"class or an Event instance, got {describe(result)}"
            )


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
    if not isinstance(signal, Signal):
        raise TypeError(f"SignalToEvent() expects a django.dispatch.Signal, got {describe(signal)}")
    if (event is None) == (hook is None):
        raise TypeError(
            "SignalToEvent() needs exactly one of event=... (a name or Event class) or hook=..., "
            f"got event={event!r} and hook={hook!r}"
        )
    if event is not None and not ((isinstance(event, str) and event) or _is_event_class(event)):
        raise TypeError(
            f"SignalToEvent() event must be an event name or an Event class, got {describe(event)}"
        )
    if hook is not None and not callable(hook):
        raise TypeError(f"SignalToEvent() hook must be callable, got {describe(hook)}")
    target = get_dispatcher(dispatcher)
    # The dispatcher's weak reference names the connection (an id() could be reused by a
    # later dispatcher); when the dispatcher is dropped, the connection goes with it.
    uid = ("django_events.SignalToEvent", event if hook is None else hook, weakref.ref(target))
    signal.connect(_Relay(event, hook, target), sender=sender, weak=False, dispatch_uid=uid)
    weakref.finalize(target, signal.disconnect, sender=sender, dispatch_uid=uid)
