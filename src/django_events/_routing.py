"""Patterns, registrations, and the bounded cache of what each name resolves to."""

from __future__ import annotations

import functools
import logging
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from asgiref.sync import iscoroutinefunction
from django.db import DEFAULT_DB_ALIAS
from gevent.monkey import get_original

from ._events import Event, on_rename
from ._live import add_table, added, tables
from ._options import IMMEDIATE, Options, QueueOptions
from ._running import Step, blocking
from .delivery import MODE_RANK
from .exceptions import InvalidPattern, describe

if TYPE_CHECKING:
    from .delivery import Delivery

__all__ = [
    "HandlerTable",
    "Registration",
    "Route",
    "Target",
    "check_target",
    "handler_label",
    "is_async",
]

logger = logging.getLogger("django_events")

#: What a handler subscribes to: a regular expression (full match) or an Event class.
Target = str | type[Event]

#: Distinct names whose resolution is remembered; the cache is emptied when it overflows.
DEFAULT_CACHE_SIZE: Final = 4096
#: The most bytes of names the cache holds, as ``sys.getsizeof`` counts them (names come
#: from users: 5,000 names of 64 KiB must not cost 320 MB, and a character outside Latin-1
#: takes 2 or 4 bytes); a name larger than this is resolved but never cached.
MAX_CACHED_BYTES: Final = 1 << 20

# A real lock even when gevent has monkey-patched threading: it guards a few dict and
# tuple swaps, never a switch, and must work across OS threads.
_allocate_lock = get_original("_thread", "allocate_lock")


def check_target(target: object) -> Target:
    """Validate what a handler subscribes to; compile a pattern to fail early."""
    if isinstance(target, str):
        if not target:
            raise InvalidPattern(target, "an empty pattern matches no event name")
        try:
            re.compile(target)
        except re.error as exc:
            raise InvalidPattern(target, str(exc)) from None
        return target
    if isinstance(target, type) and issubclass(target, Event) and target is not Event:
        return target
    raise TypeError(f"an event target must be a regex string or an Event subclass, got {describe(target)}")


def handler_label(handler: Callable[..., object]) -> str:
    """The handler's dotted path, as logs and ``manage.py events`` show it."""
    while isinstance(handler, functools.partial):
        handler = handler.func
    module = getattr(handler, "__module__", None) or type(handler).__module__
    qualname = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    return f"{module}.{qualname}"


def check_handler(handler: object) -> Callable[..., object]:
    """A handler must be callable: a TypeError naming it at registration, not at dispatch."""
    if not callable(handler):
        raise TypeError(f"an event handler must be callable, got {describe(handler)}")
    return handler


def is_async(function: object) -> bool:
    """Whether calling ``function`` makes a coroutine (``async def``, or an object whose
    ``__call__`` is one): such a handler is awaited by ``adispatch`` and run to completion
    by ``dispatch``."""
    return iscoroutinefunction(function) or iscoroutinefunction(type(function).__call__)


@dataclass(frozen=True, slots=True, eq=False)
class Registration:
    """One handler subscribed to one target, with how its events are delivered."""

    target: Target
    handler: Callable[..., object]
    #: ``handler(event)`` for an Event class target, else ``handler(name, *args, **kwargs)``.
    takes_event: bool
    label: str
    _match: Callable[[str], object]
    #: How a sync caller (``run``, a worker) calls it: the handler, or for an async one a
    #: function that runs it to completion.
    call: Callable[..., object]
    options: Options = IMMEDIATE
    #: ``async def``: awaited by ``adispatch``; ``call`` runs it to completion elsewhere.
    is_async: bool = False
    #: What ``adispatch`` awaits for an async handler (the handler, or its model-event adapter).
    acall: Callable[..., object] | None = None

    @classmethod
    def create(cls, target: object, handler: object, options: Options = IMMEDIATE) -> Registration:
        checked = check_target(target)
        function = check_handler(handler)
        label = handler_label(function)
        if options.delivery is not None:
            options.delivery.check_handler(function, label)
        if options.queue is not None and not isinstance(checked, str) and checked._not_queueable:
            raise TypeError(
                f"handler {label} cannot be queued for {checked.__qualname__}: {checked._not_queueable}"
            )
        # Called as its function: a staticmethod object (``@on`` over ``@staticmethod``) is
        # callable, but neither it nor ``async_to_sync`` sees an ``async def`` inside.
        called = function.__func__ if isinstance(function, staticmethod) else function
        if isinstance(checked, str):
            match: Callable[[str], object] = re.compile(checked).fullmatch
            shaped, takes_event = called, False
        else:
            match = functools.partial(_named, checked)
            adapter = checked._handler_adapter  # (model events: built from the save's dispatch)
            shaped, takes_event = (called, True) if adapter is None else (adapter(called), False)
        awaited = is_async(shaped)
        call = blocking(shaped, label) if awaited else shaped  # type: ignore[arg-type]
        return cls(checked, function, takes_event, label, match, call, options, awaited, shaped)

    @property
    def after_commit(self) -> bool:
        """Delivered only when the transaction around the dispatch commits."""
        return self.options.after_commit

    @property
    def using(self) -> str | None:
        """The alias of that transaction; None: the event's own database, else "default"."""
        return self.options.using

    @property
    def queue(self) -> QueueOptions | None:
        """Where a queued handler's tasks go; None for a handler that runs in this process."""
        return self.options.queue

    def commit_alias(self, event_alias: str | None) -> str:
        """The alias whose commit this after-commit handler waits for, for one event."""
        return self.options.using or event_alias or DEFAULT_DB_ALIAS

    @property
    def target_key(self) -> str:
        """The target as a task names it: ``re:<pattern>`` or ``event:<module>:<qualname>``."""
        target = self.target
        if isinstance(target, str):
            return f"re:{target}"
        return f"event:{target.__module__}:{target.__qualname__}"

    def matches(self, name: str) -> bool:
        return bool(self._match(name))

    def same(self, other: Registration) -> bool:
        return self.target == other.target and self.handler == other.handler

    def fits(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """Whether a dispatch with these arguments can reach this handler (a typed one needs
        exactly one instance of its Event class; a model event what a save dispatches)."""
        target = self.target
        if isinstance(target, str):
            return True
        if target._handler_adapter is not None:  # model and bulk events: what their producer sends
            return bool(target._dispatch_fits(args, kwargs))  # type: ignore[attr-defined]
        return len(args) == 1 and not kwargs and isinstance(args[0], target)


def _named(cls: type[Event], name: str) -> bool:
    return name == cls.event_name  # read each time: a class may be renamed (legacy Name)


def _step(registration: Registration) -> Step:
    return (registration.call, registration.takes_event, registration)


class Route:
    """What one name resolves to: its registrations, grouped by the strategy that delivers
    them (None: the dispatcher's own mode), in the order the groups run.

    ``name_steps`` is set when every registration is delivered by the mode and none is
    typed: a dispatch by name then runs (or queues) them as they stand, after one lookup.
    """

    __slots__ = ("event_type", "immediate", "name_steps", "parts", "registrations", "typed", "untyped")

    def __init__(self, registrations: tuple[Registration, ...]) -> None:
        groups: dict[Delivery | None, list[Registration]] = {}
        for registration in registrations:
            groups.setdefault(registration.options.delivery, []).append(registration)
        ranked = sorted(groups.items(), key=lambda item: MODE_RANK if item[0] is None else item[0].rank)
        #: (strategy or None for the mode, its handlers), in the order they are sent.
        self.parts: tuple[tuple[Delivery | None, tuple[Step, ...]], ...] = tuple(
            (delivery, tuple(map(_step, members))) for delivery, members in ranked
        )
        #: Every registration, in the order they run: immediate, after the commit, queued.
        self.registrations = tuple(sorted(registrations, key=_run_order))
        self.immediate: tuple[Step, ...] = tuple(map(_step, groups.get(None, ())))
        #: The Event classes of the typed registrations: a name dispatch must carry an instance
        #: (not of model events, whose name a save dispatches with the model instance).
        self.typed = tuple(
            dict.fromkeys(
                r.target
                for r in registrations
                if isinstance(r.target, type) and r.target._handler_adapter is None
            )
        )
        #: The one Event class the typed immediate handlers take, if there is exactly one.
        self.event_type: type[Event] | None = self.typed[0] if len(self.typed) == 1 else None
        #: The immediate handlers when none is typed: what any delivery of the name runs.
        self.untyped: tuple[Step, ...] | None = None if self.typed else self.immediate
        plain = bool(registrations) and not self.typed and len(self.parts) == 1 and self.parts[0][0] is None
        self.name_steps: tuple[Step, ...] | None = self.immediate if plain else None

    def steps(
        self, part: tuple[Step, ...], name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Step, ...]:
        """A part's handlers that an event with these arguments reaches; a typed one it does not
        fit (the registry changed after a dispatch, or a class sharing another's name) is
        skipped with a warning."""
        if not self.typed or (len(args) == 1 and not kwargs and type(args[0]) is self.event_type):
            return part
        fitting = []
        for step in part:
            registration = step[2]
            if registration.fits(args, kwargs):
                fitting.append(step)
            else:
                logger.warning(
                    "handler %s skipped for event %r: it takes %r, the event carries %r",
                    registration.label,
                    name,
                    registration.target,
                    args,
                )
        return tuple(fitting)


def _run_order(registration: Registration) -> int:
    """Immediate handlers run first, then after-commit ones; queued ones run in a worker."""
    options = registration.options
    return 2 if options.queue is not None else 1 if options.after_commit else 0


#: The route of a name nothing listens to.
NO_ROUTE: Final = Route(())

#: What ``HandlerTable.class_route`` returns: the class's event name, its route, and the
#: immediate steps when an instance of exactly that class can run them as they stand.
ClassRoute = tuple[str, Route, "tuple[Step, ...] | None"]


class HandlerTable:
    """Registrations in order, and a cache of what each name resolves to, bounded in names
    and in characters.

    Reads take no lock: registrations are an immutable tuple replaced on change, and the
    cache is only written under the lock when nothing changed during the resolution.
    """

    def __init__(self, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        if cache_size < 1:
            raise ValueError(f"cache_size must be at least 1, got {cache_size!r}")
        self._lock = _allocate_lock()
        self._registrations: tuple[Registration, ...] = ()
        #: The resolved routes by name; the same dict for the table's lifetime (only emptied).
        self.cache: dict[str, Route] = {}
        #: ``class_route`` results by Event class; the same dict for the table's lifetime.
        self.class_cache: dict[type, ClassRoute] = {}
        self._cache_size = cache_size
        #: The most bytes of names cached (``MAX_CACHED_BYTES``).
        self.max_bytes = MAX_CACHED_BYTES
        self._cached_bytes = 0
        self._generation = 0
        add_table(self)

    @property
    def registrations(self) -> tuple[Registration, ...]:
        return self._registrations

    def resolve(self, name: str) -> tuple[Registration, ...]:
        """The registrations that match ``name``, in the order they run."""
        return self.route(name).registrations

    def route(self, name: str) -> Route:
        """What ``name`` resolves to; cached."""
        found = self.cache.get(name)
        if found is not None:
            return found
        generation = self._generation
        matching = tuple(r for r in self._registrations if r.matches(name))
        found = Route(matching) if matching else NO_ROUTE
        self._remember(name, found, generation)
        return found

    def class_route(self, cls: type[Event]) -> ClassRoute:
        """An Event class's name, its route, and the route's immediate steps when an instance
        of exactly ``cls`` runs them as they stand (else None); cached."""
        found = self.class_cache.get(cls)
        if found is not None:
            return found
        generation = self._generation
        name = cls.event_name
        route = self.route(name)
        only_mode = len(route.parts) == 1 and route.parts[0][0] is None
        fits = not route.typed or route.typed == (cls,)
        found = (name, route, route.immediate if only_mode and fits else None)
        with self._lock:
            if generation == self._generation:
                if len(self.class_cache) >= self._cache_size:
                    self.class_cache.clear()
                self.class_cache[cls] = found
        return found

    def _remember(self, name: str, route: Route, generation: int) -> None:
        """Cache ``route`` unless the registry changed since ``generation`` (it was resolved
        against an older one); a full cache is emptied first."""
        size = sys.getsizeof(name)
        if size > self.max_bytes:
            return
        with self._lock:
            if generation == self._generation:
                if len(self.cache) >= self._cache_size or self._cached_bytes + size > self.max_bytes:
                    self.cache.clear()
                    self._cached_bytes = 0
                self.cache[name] = route
                self._cached_bytes += size

    def add(self, *registrations: Registration) -> None:
        """Add registrations; one that is already there (same target and handler) is kept once."""
        added(self, registrations)  # before they are live: a save meanwhile finds it ready
        with self._lock:
            current = list(self._registrations)
            for new in registrations:
                if not any(new.same(old) for old in current):
                    current.append(new)
            self._replace(tuple(current))

    def restore(self, registrations: tuple[Registration, ...]) -> None:
        """Put back a registry saved from ``registrations``."""
        with self._lock:
            self._replace(registrations)

    def remove(self, keep: Callable[[Registration], bool]) -> int:
        """Drop every registration for which ``keep`` is false; return how many went."""
        with self._lock:
            before = self._registrations
            self._replace(tuple(r for r in before if keep(r)))
            return len(before) - len(self._registrations)

    def forget(self) -> None:
        """Empty the caches (an Event class was renamed)."""
        with self._lock:
            self._replace(self._registrations)

    def _replace(self, registrations: tuple[Registration, ...]) -> None:
        self._registrations = registrations
        self._generation += 1
        self.cache.clear()
        self.class_cache.clear()
        self._cached_bytes = 0

    def cached_names(self) -> int:
        return len(self.cache)

    def cached_bytes(self) -> int:
        return self._cached_bytes


def _forget_everywhere() -> None:
    for table in tables():
        table.forget()


on_rename(_forget_everywhere)
