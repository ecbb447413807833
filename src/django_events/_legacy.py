"""Every name of django-event-system 1.0.1, as thin adapters over the modern API.

A legacy name keeps the original's argument shapes, return values and timing (its source
is the reference), except for the defects fixed on purpose (README, "What changes in
behaviour, on purpose"). The PascalCase methods of ``Dispatcher`` and ``Event`` are
written here, in ``LegacyDispatcherMethods`` and ``LegacyEventMethods``, and added to
``EventDispatcher`` and ``Event`` when this module is imported (the package imports it);
type checkers see them as bases of those classes. The legacy classes and functions follow.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, ClassVar, TypeVar, overload

from django.db.models import Model
from django.dispatch import Signal
from typing_extensions import ParamSpec, Self, Unpack

from ._dispatcher import EventDispatcher, dispatcher, get_dispatcher
from ._events import Event, path_from_class
from ._models import ACTIONS, model_event_name, observe_model, register_observer
from ._options import IMMEDIATE, HandlerOptions, Options
from ._routing import Target, check_target, is_async
from ._running import afinish, finish
from ._signals import Relay, check_arguments, connect
from .exceptions import describe
from .testing import expect_name, mocks_dispatch

__all__ = [
    "Dispatcher",
    "EventListener",
    "GetPathFromClass",
    "LegacyDispatcherMethods",
    "LegacyEventMethods",
    "Observer",
    "RegisterSignalsFor",
    "SignalToEvent",
    "dispatch",
]

_P = ParamSpec("_P")
_E = TypeVar("_E", bound=Event)
_F = TypeVar("_F", bound=Callable[..., Any])


class LegacyDispatcherMethods:
    """The original ``Dispatcher``'s class methods, on every ``EventDispatcher``."""

    @overload
    def RegisterHandler(
        self,
        eventName: type[_E],  # noqa: N803
        handler: Callable[[_E], object],
        **options: Unpack[HandlerOptions],
    ) -> None: ...
    @overload
    def RegisterHandler(
        self,
        eventName: str | re.Pattern[str],  # noqa: N803
        handler: Callable[..., object],
        **options: Unpack[HandlerOptions],
    ) -> None: ...
    def RegisterHandler(
        self,
        eventName: str | re.Pattern[str] | type[Event],  # noqa: N803  (the original's name)
        handler: Callable[..., object],
        **options: Unpack[HandlerOptions],
    ) -> None:
        """``register``, as the original's: a compiled pattern too, its flags kept (the
        original called ``re.compile(eventName)``)."""
        target = get_dispatcher(self)
        if isinstance(eventName, type):
            target.register(eventName, handler, **options)
        else:
            target.register(_pattern_text(eventName), handler, **options)

    ClearQueue = EventDispatcher.clear_queue
    EnsureQueueIsCleared = EventDispatcher.ensure_queue_is_cleared

    def Dispatch(self, event: str | type[Event] | Event, *args: Any, **kwargs: Any) -> None:
        """Dispatch ``event`` with ``args``: a name, an Event class (its name, as the
        original's ``str(event)``), or an Event instance (whose handlers get it; with more
        arguments, string handlers get ``(name, event, *args)``)."""
        target = get_dispatcher(self)
        if isinstance(event, type) and issubclass(event, Event):
            target.dispatch(event.event_name, *args, **kwargs)
        elif isinstance(event, Event) and (args or kwargs):
            target.dispatch(event.event_name, event, *args, **kwargs)
        else:
            target.dispatch(event, *args, **kwargs)

    def Reset(self) -> None:
        """Run what is pending, then remove every handler, as the original's ``Reset`` did
        (tests should prefer ``isolate()``, which puts them back)."""
        target = get_dispatcher(self)
        target.clear_queue()
        target._table.restore(())

    def MocksDispatch(self, func: _F) -> _F:
        """See ``django_events.testing.mocks_dispatch``."""
        return mocks_dispatch(func, dispatcher=get_dispatcher(self))

    def Expect(self, event: str | type[Event]) -> None:
        """Inside ``MocksDispatch``: the test must dispatch the event named ``str(event)`` (a
        name, or an Event class's name: matched exactly, as the original did)."""
        expect_name(str(event), dispatcher=get_dispatcher(self))


class LegacyEventMethods:
    """The original ``Event``'s class methods, on every ``Event`` subclass."""

    @classmethod
    def GetEventName(cls) -> str:
        """The event's name (``E.event_name``)."""
        return cls.event_name  # type: ignore[attr-defined, no-any-return]

    @classmethod
    def DispatchAsync(cls: Callable[_P, _E], *args: _P.args, **kwargs: _P.kwargs) -> _E:
        """Build ``cls(*args, **kwargs)``, dispatch it and return it, without yielding."""
        event = cls(*args, **kwargs)
        dispatcher.dispatch(event)
        return event

    @classmethod
    def Dispatch(cls: Callable[_P, _E], *args: _P.args, **kwargs: _P.kwargs) -> _E:
        """Build ``cls(*args, **kwargs)``, dispatch it, and give its handlers a turn, as the
        original yielded to the hub (gevent mode): the worker runs them then, unless a
        drain of this thread's queue is under way (then they run after it, in order); a
        handler that yields finishes later. In sync mode they have run."""
        event = cls(*args, **kwargs)
        dispatcher.dispatch(event)
        dispatcher.let_handlers_run()
        return event

    @classmethod
    def AddListener(cls, handler: Callable[[str, Self], object]) -> None:
        """Register ``handler(name, event)`` for this event's name on the default dispatcher
        (``Dispatcher.RegisterHandler(E.GetEventName(), handler)``, as the original)."""
        dispatcher.add((check_target(cls.event_name),), handler, IMMEDIATE)  # type: ignore[attr-defined]


def _class_name(entry: object) -> str:
    """An Event class entry's name (the entry is checked first: a TypeError names a bad one)."""
    checked = check_target(entry)
    assert not isinstance(checked, str)
    return checked.event_name


def _install(names: type, into: type) -> None:
    for key, value in vars(names).items():
        if not key.startswith("__"):
            setattr(into, key, value)


_install(LegacyDispatcherMethods, EventDispatcher)
_install(LegacyEventMethods, Event)

#: The default dispatcher.
Dispatcher = dispatcher

#: ``path_from_class``.
GetPathFromClass = path_from_class


def RegisterSignalsFor(model: type[Model]) -> dict[str, str]:
    """Make a model's saves and deletes dispatch events (``observe_model``); return the
    event name of each action, ``{"creating": "events::db::...::creating", ...}``."""
    observe_model(model)
    return {action: model_event_name(model, action) for action in ACTIONS}


class _LegacyRelay(Relay):
    """The original's shapes: handlers get ``(name, None, sender, signal=..., **kwargs)``,
    or ``(name, sender, signal=..., **kwargs)`` with a hook (which gets ``signal=`` too),
    and have had their turn when ``send()`` returns."""

    def relay(self, dispatcher: EventDispatcher, sender: object, kwargs: dict[str, Any]) -> None:
        if self.hook is None:
            dispatcher.dispatch(str(self.event), None, sender, **kwargs)
        else:  # whatever it returns: its str() is the name
            dispatcher.dispatch(str(self.hook(sender, **kwargs)), sender, **kwargs)
        dispatcher.let_handlers_run()


def SignalToEvent(
    signal: Signal,
    event: str | type[Event] | None = None,
    sender: object = None,
    hook: Callable[..., object] | None = None,
    *,
    dispatcher: EventDispatcher | None = None,
) -> None:
    """Dispatch the event named ``str(event)``, or ``str(hook(sender, signal=..., **kwargs))``,
    whenever ``signal`` is sent (by ``sender``, if given). Connected once per event or hook;
    ``signal_to_event`` is the modern twin (typed events built from the signal)."""
    check_arguments(signal, event, hook, what="SignalToEvent()", one_of=False)
    connect(
        signal, _LegacyRelay(event, hook, get_dispatcher(dispatcher)), sender, "django_events.SignalToEvent"
    )


def dispatch(event: str | type[Event] | Event, *args: Any, **kwargs: Any) -> None:
    """Dispatch ``event`` (a name, or an Event class's or instance's name) with ``args`` on the
    default dispatcher: handlers get ``(name, *args, **kwargs)``."""
    name = event if isinstance(event, str) else event.GetEventName()
    dispatcher.dispatch(name, *args, **kwargs)


_FLAGS = {re.ASCII: "a", re.IGNORECASE: "i", re.MULTILINE: "m", re.DOTALL: "s", re.VERBOSE: "x"}


#: Global inline flags at the start of a pattern, ``(?i)``: ``flags`` has them already.
_GLOBAL_FLAGS = re.compile(r"(?:\(\?[aiLmsux]+\))+")


def _pattern_text(pattern: str | re.Pattern[str]) -> str:
    """A pattern's text, with a compiled one's flags (those given to ``re.compile`` and its
    own leading ``(?i)``) as a scoped inline group; its text on a line of its own, so that a
    verbose pattern's last comment ends before the group does."""
    if not isinstance(pattern, re.Pattern):
        return pattern
    if not isinstance(pattern.pattern, str):
        raise TypeError(f"RegisterHandler() takes a str pattern, got {pattern!r}")
    leading = _GLOBAL_FLAGS.match(pattern.pattern)
    text = pattern.pattern[leading.end() :] if leading else pattern.pattern
    letters = "".join(letter for flag, letter in _FLAGS.items() if pattern.flags & flag)
    if not letters:
        return text
    return f"(?{letters}:{text}\n)" if pattern.flags & re.VERBOSE else f"(?{letters}:{text})"


class EventListener:
    """A listener: subclasses declare ``listensFor`` and ``handle``; no other set-up.

    The class is instantiated once and registered when it is defined. For an Event class
    entry ``handle(event)`` is called; for a regex entry ``handle(name, *args, **kwargs)``.
    ``handle`` is looked up at each dispatch, so replacing it later takes effect.
    ``class L(EventListener, dispatcher=d)`` registers on another dispatcher; the handler
    options (``queue=``, ``priority=``, ``retries=``, ``after_commit=``, ``using=``) apply
    to every entry.
    """

    listensFor: ClassVar[Sequence[Target] | AbstractSet[Target]]
    #: Its dispatcher, remembered weakly: a dropped dispatcher is freed, as with observers.
    _dispatcher: ClassVar[weakref.ref[EventDispatcher]]
    _handlers: ClassVar[tuple[Callable[..., object], ...]]

    def __init_subclass__(
        cls, *, dispatcher: EventDispatcher | None = None, **options: Unpack[HandlerOptions]
    ) -> None:
        unknown = set(options) - set(HandlerOptions.__annotations__)
        if unknown:
            raise TypeError(
                f"{cls.__qualname__}: unknown class keyword(s) {', '.join(sorted(unknown))}; "
                "EventListener subclasses take dispatcher=, after_commit=, using=, queue=, "
                "priority= and retries="
            )
        super().__init_subclass__()
        target = get_dispatcher(dispatcher)
        parsed = Options.parse(options)
        entries = getattr(cls, "listensFor", None)
        if not entries or not isinstance(entries, (list, tuple, set, frozenset)):
            raise TypeError(
                f"{cls.__qualname__}.listensFor must be a non-empty list of Event classes "
                f"and/or regex strings, got {entries!r}"
            )
        if cls.handle is EventListener.handle:  # none defined: nothing to show as "got"
            raise TypeError(f"{cls.__qualname__} must define handle(self, event, *args, **kwargs)")
        if not callable(cls.handle):
            raise TypeError(
                f"{cls.__qualname__} must define handle(self, event, *args, **kwargs), "
                f"got {describe(cls.__dict__.get('handle', cls.handle))}"
            )
        # An Event class entry listens to the class's name, as the original's AddListener did:
        # dispatches of the name with other arguments reach it too.
        targets = [check_target(entry if isinstance(entry, str) else _class_name(entry)) for entry in entries]
        listener = cls()
        label = f"{cls.__qualname__}.handle"

        def call(name: str, *args: Any, **kwargs: Any) -> object:
            if args and isinstance(args[0], Event):  # as the original's __call__: the event alone
                return listener.handle(*args, **kwargs)
            return listener.handle(name, *args, **kwargs)

        if is_async(cls.handle):

            async def on_name(name: str, *args: Any, **kwargs: Any) -> None:
                await afinish(call(name, *args, **kwargs))

        else:

            def on_name(name: str, *args: Any, **kwargs: Any) -> None:  # type: ignore[misc]
                result = call(name, *args, **kwargs)
                if result is not None:  # (a replacement that returns a coroutine: run it)
                    finish(result, label)

        on_name.__module__ = cls.__module__
        on_name.__qualname__ = label
        cls._dispatcher = weakref.ref(target)
        cls._handlers = (on_name,)
        target.add(targets, on_name, parsed)

    def handle(self, event: Any, *args: Any, **kwargs: Any) -> object:
        """Called for each matching event; subclasses must override it."""
        raise NotImplementedError

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        """A listener instance is a handler too, as in the original: ``handle(event)`` when
        the second argument is an Event instance (the name is dropped), else
        ``handle(*args, **kwargs)``; an async ``handle`` runs to completion."""
        if len(args) > 1 and isinstance(args[1], Event):
            args = args[1:]
        result = self.handle(*args, **kwargs)
        if result is not None:
            finish(result, f"{type(self).__qualname__}.handle")

    @classmethod
    def unregister(cls) -> int:
        """Remove this listener from its dispatcher; return how many registrations went
        (none once the dispatcher was dropped)."""
        target = cls._dispatcher()
        return 0 if target is None else sum(target.off(handler) for handler in cls._handlers)


class Observer:
    """A model observer: ``observes = Model`` and methods ``(self, eventName, instance)``.

    Registered when the class is defined, like the original.
    """

    observes: ClassVar[type[Model]]

    # The original's no-op methods, so that an override may call super(); only the methods a
    # subclass defines are registered. (eventName: the original's parameter name.)
    def creating(self, eventName: str, instance: Any) -> None: ...  # noqa: N803
    def created(self, eventName: str, instance: Any) -> None: ...  # noqa: N803
    def updating(self, eventName: str, instance: Any) -> None: ...  # noqa: N803
    def updated(self, eventName: str, instance: Any) -> None: ...  # noqa: N803
    def deleting(self, eventName: str, instance: Any) -> None: ...  # noqa: N803
    def deleted(self, eventName: str, instance: Any) -> None: ...  # noqa: N803

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        model = cls.__dict__.get("observes")  # its own, as the original's: not a base class's
        if model is None:
            raise TypeError(f"{cls.__qualname__} must set observes = SomeModel (in its own body)")
        register_observer(
            cls,
            model,
            legacy=True,
            base=Observer,
            what=f"{cls.__qualname__}.observes",
            options=Options.parse({}),
            dispatcher=None,
        )
