"""Patterns, compiled matching and the cached ``name -> handlers`` table."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.util import find_spec
from typing import Any, Final

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS
from gevent.monkey import get_original

from ._events import Event
from .exceptions import InvalidPattern

__all__ = ["HandlerTable", "Registration", "Route", "Target", "check_target", "describe"]

#: What a handler subscribes to: a regular expression (full match) or an Event class.
Target = str | type[Event]

#: Distinct names whose resolution is remembered; the cache is emptied when it overflows.
DEFAULT_CACHE_SIZE: Final = 4096

# A real lock even when gevent has monkey-patched threading: it guards a few dict and
# tuple swaps, never a switch, and must work across OS threads.
_allocate_lock = get_original("_thread", "allocate_lock")


def describe(value: object) -> str:
    """``'x' (str)``: a value and its type, for error messages."""
    return f"{value!r} ({type(value).__name__})"


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


def check_commit_options(after_commit: object, using: object) -> tuple[bool, str | None]:
    """Validate ``after_commit`` and ``using``; return them typed."""
    if not isinstance(after_commit, bool):
        raise TypeError(f"after_commit must be True or False, got {describe(after_commit)}")
    if using is None:
        return after_commit, None
    if not isinstance(using, str) or not using:
        raise TypeError(f"using must be a database alias (str), got {describe(using)}")
    if not after_commit:
        raise TypeError(f"using={using!r} only applies with after_commit=True")
    return after_commit, using


#: The queue a handler's tasks go to with ``queue=True``.
DEFAULT_QUEUE: Final = "default"
#: The most retries a queued handler may ask for.
MAX_RETRIES: Final = 20
#: Task priorities, as Django's task framework bounds them.
MIN_PRIORITY: Final = -100
MAX_PRIORITY: Final = 100


@dataclass(frozen=True, slots=True)
class QueueOptions:
    """Where a queued handler's tasks go (Django's task framework), and how often to retry."""

    queue_name: str = DEFAULT_QUEUE
    priority: int | None = None
    retries: int = 0


def check_queue_options(queue: object, priority: object, retries: object) -> QueueOptions | None:
    """Validate ``queue``, ``priority`` and ``retries``; None when the handler runs in-process."""
    if queue is False or queue is None:
        if priority is not None:
            raise TypeError(f"priority={priority!r} only applies with queue=True or queue='name'")
        if retries != 0:
            raise TypeError(f"retries={retries!r} only applies with queue=True or queue='name'")
        return None
    if queue is True:
        queue = DEFAULT_QUEUE
    if not isinstance(queue, str) or not queue:
        raise TypeError(f"queue must be True, False or a queue name (str), got {describe(queue)}")
    if priority is not None and not (
        isinstance(priority, int)
        and not isinstance(priority, bool)
        and MIN_PRIORITY <= priority <= MAX_PRIORITY
    ):
        raise TypeError(
            f"priority must be None or a whole number from {MIN_PRIORITY} to {MAX_PRIORITY}, "
            f"got {describe(priority)}"
        )
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= MAX_RETRIES:
        raise TypeError(f"retries must be a whole number from 0 to {MAX_RETRIES}, got {describe(retries)}")
    return QueueOptions(queue, priority, retries)


def check_queueable(handler: Callable[..., object], label: str) -> None:
    """A worker finds a queued handler by its dotted path: it must be a function with a
    stable one, and Django's task framework must be there."""
    if not (find_spec("django.tasks") or find_spec("django_tasks")):
        raise ImproperlyConfigured(
            f"handler {label} cannot be queued: queued handlers run on Django's task framework, "
            "built into Django 6.0+; before that, pip install 'django-events[tasks]'"
        )
    if not inspect.isfunction(handler):  # a partial, a bound method, a callable object
        raise TypeError(
            f"handler {describe(handler)} cannot be queued: a worker finds queued handlers by "
            "dotted path, which only a plain function defined at module level has"
        )
    if "<" in label:  # <lambda>, <locals>
        raise TypeError(
            f"handler {label} cannot be queued: a worker finds queued handlers by dotted path, "
            "and a lambda or a function defined inside another function has none; define it "
            "at module level"
        )
    if label.startswith("__main__."):
        raise TypeError(
            f"handler {label} cannot be queued: it is defined in the script being run (__main__), "
            "which a worker does not import; define it in a module"
        )


@dataclass(frozen=True, slots=True, eq=False)
class Registration:
    """One handler subscribed to one target."""

    target: Target
    handler: Callable[..., object]
    #: ``handler(event)`` for an Event class target, else ``handler(name, *args, **kwargs)``.
    takes_event: bool
    label: str
    _match: Callable[[str], object]
    #: Deliver only when the transaction around the dispatch commits.
    after_commit: bool = False
    #: The database alias of that transaction; None: the event's own database (a model
    #: event's ``using``), else ``"default"``.
    using: str | None = None
    #: Run in a task worker (Django's task framework) instead of in this process.
    queue: QueueOptions | None = None

    def commit_alias(self, event_alias: str | None) -> str:
        """The alias whose commit this after-commit handler waits for, for one event."""
        return self.using or event_alias or DEFAULT_DB_ALIAS

    @classmethod
    def create(
        cls,
        target: object,
        handler: object,
        *,
        after_commit: object = False,
        using: object = None,
        queue: object = False,
        priority: object = None,
        retries: object = 0,
    ) -> Registration:
        checked = check_target(target)
        function = check_handler(handler)
        after_commit, using = check_commit_options(after_commit, using)
        options = check_queue_options(queue, priority, retries)
        label = handler_label(function)
        if options is not None:
            check_queueable(function, label)
        if isinstance(checked, str):
            match: Callable[[str], object] = re.compile(checked).fullmatch
            takes_event = False
        else:
            match = checked.event_name.__eq__
            takes_event = True
        return cls(checked, function, takes_event, label, match, after_commit, using, options)

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


#: One immediate handler as the dispatch loop calls it: the handler, whether it takes the
#: event instance (else ``(name, *args, **kwargs)``), and its registration (for errors).
Step = tuple[Callable[..., object], bool, Registration]


class Route:
    """What one name resolves to: its registrations, split by when they are delivered.

    ``plan`` is set when every registration is immediate and the typed ones (if any) all
    take one Event class, ``event_type``: then a dispatch of an instance of exactly that
    class (or of a name, with ``name_plan``, when nothing is typed) runs the plan as it
    stands, without looking at the registrations again.
    """

    __slots__ = ("deferred", "event_type", "immediate", "name_plan", "plan", "queued", "registrations")

    def __init__(self, registrations: tuple[Registration, ...]) -> None:
        self.registrations = registrations
        #: In-process handlers: at once, or after the commit.
        self.immediate = tuple(r for r in registrations if not r.after_commit and r.queue is None)
        self.deferred = tuple(r for r in registrations if r.after_commit and r.queue is None)
        #: Handlers that run in a task worker (enqueued at once, or after the commit).
        self.queued = tuple(r for r in registrations if r.queue is not None)
        types = {r.target for r in registrations if not isinstance(r.target, str)}
        self.event_type: type[Event] | None = next(iter(types)) if len(types) == 1 else None
        self.plan: tuple[Step, ...] | None = None
        if not self.deferred and not self.queued and len(types) <= 1:
            self.plan = tuple((r.handler, r.takes_event, r) for r in registrations)
        #: The plan for a dispatch by name (no typed handler to check the arguments for).
        self.name_plan = self.plan if self.event_type is None else None


#: What ``HandlerTable.class_route`` returns: name, route, plan for an exact instance.
ClassRoute = tuple[str, Route, "tuple[Step, ...] | None"]

#: The route of a name nothing listens to.
NO_ROUTE: Final = Route(())


class HandlerTable:
    """Registrations in order, and a bounded cache of what each name resolves to.

    Reads take no lock: registrations are an immutable tuple replaced on change, and the
    cache is only written under the lock when no change happened during the resolution.
    """

    def __init__(self, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        if cache_size < 1:
            raise ValueError(f"cache_size must be at least 1, got {cache_size!r}")
        self._lock = _allocate_lock()
        self._registrations: tuple[Registration, ...] = ()
        self._cache: dict[str, Route] = {}
        #: An Event class's name, route, and plan for its instances (None: no plain plan).
        self._class_cache: dict[type, ClassRoute] = {}
        self._cache_size = cache_size
        self._generation = 0
        #: Names that Event-class registrations listen to: a dispatch of such a name must
        #: carry an instance of the class.
        self.typed_names: frozenset[str] = frozenset()

    @property
    def registrations(self) -> tuple[Registration, ...]:
        return self._registrations

    @property
    def cache(self) -> dict[str, Route]:
        """The resolved routes by name; the same dict for the table's lifetime (only emptied)."""
        return self._cache

    def resolve(self, name: str) -> tuple[Registration, ...]:
        """The registrations that match ``name``, in registration order."""
        return self.route(name).registrations

    def route(self, name: str) -> Route:
        """``resolve``, split by delivery; cached."""
        found = self._cache.get(name)
        if found is not None:
            return found
        generation = self._generation
        matching = tuple(r for r in self._registrations if r.matches(name))
        found = Route(matching) if matching else NO_ROUTE
        self._remember(self._cache, name, found, generation)
        return found

    @property
    def class_cache(self) -> dict[type, ClassRoute]:
        """``class_route`` results by Event class; the same dict for the table's lifetime."""
        return self._class_cache

    def class_route(self, cls: type[Event]) -> ClassRoute:
        """An Event class's name, its route, and the route's plan when it fits an instance of
        exactly ``cls`` (else None); cached, so that dispatching an instance costs one lookup."""
        found = self._class_cache.get(cls)
        if found is not None:
            return found
        generation = self._generation
        name = cls.event_name
        route = self.route(name)
        fits = route.event_type is None or route.event_type is cls
        found = (name, route, route.plan if fits else None)
        self._remember(self._class_cache, cls, found, generation)
        return found

    def _remember(self, cache: dict[Any, Any], key: object, value: object, generation: int) -> None:
        """Cache ``value`` unless the registry changed since ``generation`` (it was resolved
        against an older one); a full cache is emptied first."""
        with self._lock:
            if generation == self._generation:
                if len(cache) >= self._cache_size:
                    cache.clear()
                cache[key] = value

    def add(self, *registrations: Registration) -> None:
        """Add registrations; one that is already there (same target and handler) is kept once."""
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

    def _replace(self, registrations: tuple[Registration, ...]) -> None:
        self._registrations = registrations
        self.typed_names = frozenset(
            r.target.event_name for r in registrations if not isinstance(r.target, str)
        )
        self._generation += 1
        self._cache.clear()
        self._class_cache.clear()

    def cached_names(self) -> int:
        return len(self._cache)
