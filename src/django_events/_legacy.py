"""The original package's classes and names, as thin layers over the modern API."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from ._dispatcher import EventDispatcher, dispatcher, get_dispatcher
from ._events import Event, path_from_class
from ._models import Observer, observe_model
from ._routing import Target, check_queue_options, check_target, describe
from ._signals import signal_to_event

__all__ = [
    "Dispatcher",
    "EventListener",
    "GetPathFromClass",
    "Observer",
    "RegisterSignalsFor",
    "SignalToEvent",
]

#: Legacy name of the default dispatcher.
Dispatcher = dispatcher

#: Legacy name of ``path_from_class``.
GetPathFromClass = path_from_class

#: Legacy name of ``observe_model``.
RegisterSignalsFor = observe_model

#: Legacy name of ``signal_to_event``.
SignalToEvent = signal_to_event


class EventListener:
    """Legacy listener: subclasses declare ``listensFor`` and ``handle``; no other set-up.

    The class is instantiated once and registered when it is defined. For an Event class
    entry ``handle(event)`` is called; for a regex entry ``handle(name, *args, **kwargs)``.
    ``handle`` is looked up at each dispatch, so replacing it later takes effect.
    ``class L(EventListener, dispatcher=d)`` registers on another dispatcher.
    """

    listensFor: ClassVar[Sequence[Target]]
    _dispatcher: ClassVar[EventDispatcher]
    _handlers: ClassVar[tuple[Callable[..., None], ...]]

    def __init_subclass__(
        cls,
        *,
        dispatcher: EventDispatcher | None = None,
        queue: bool | str = False,
        priority: int | None = None,
        retries: int = 0,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise TypeError(
                f"{cls.__qualname__}: unknown class keyword(s) {', '.join(sorted(kwargs))}; "
                "EventListener subclasses take dispatcher=, queue=, priority= and retries="
            )
        super().__init_subclass__()
        target = get_dispatcher(dispatcher)
        entries = getattr(cls, "listensFor", None)
        if not entries or not isinstance(entries, (list, tuple)):
            raise TypeError(
                f"{cls.__qualname__}.listensFor must be a non-empty list of Event classes "
                f"and/or regex strings, got {entries!r}"
            )
        if cls.handle is EventListener.handle or not callable(cls.handle):
            raise TypeError(
                f"{cls.__qualname__} must define handle(self, event, *args, **kwargs), "
                f"got {describe(cls.__dict__.get('handle', cls.handle))}"
            )
        targets = [check_target(entry) for entry in entries]
        listener = cls()

        def on_event(event: Event) -> None:
            listener.handle(event)

        def on_name(name: str, *args: Any, **kwargs: Any) -> None:
            listener.handle(name, *args, **kwargs)

        for function in (on_event, on_name):
            function.__module__ = cls.__module__
            function.__qualname__ = f"{cls.__qualname__}.handle"
        cls._dispatcher = target
        cls._handlers = (on_event, on_name)
        typed = tuple(t for t in targets if not isinstance(t, str))
        patterns = tuple(t for t in targets if isinstance(t, str))
        options: dict[str, Any] = {"queue": queue, "priority": priority, "retries": retries}
        check_queue_options(queue, priority, retries)
        cls._dispatcher.register_many(typed, on_event, **options)
        cls._dispatcher.register_many(patterns, on_name, **options)

    def handle(self, event: Any, *args: Any, **kwargs: Any) -> None:
        """Called for each matching event; subclasses must override it."""
        raise NotImplementedError

    @classmethod
    def unregister(cls) -> int:
        """Remove this listener from its dispatcher; return how many registrations went."""
        return sum(cls._dispatcher.off(handler) for handler in cls._handlers)
