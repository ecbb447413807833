"""Property tests: the router of ``EventDispatcher`` agrees with a naive model.

The model is a list of ``(pattern, handler)`` registrations in registration order (the
same pair registered again is kept once, at its first position); a name reaches, in that
order, the handlers of every registration whose ``re.fullmatch(pattern, name)`` matches.
Event classes are targets too: an instance reaches the handlers registered for its class
and those whose pattern matches its name. Hypothesis drives random registrations,
unregistrations, ``off`` calls and dispatches of names and instances against a
dispatcher with a tiny route cache, so cached routes (by name and by class) are reused,
invalidated by every change and dropped when the cache overflows; after each step the
handlers called, ``resolve()``, ``registrations`` and the return values of ``unregister``
and ``off`` must equal the model's. The machine runs in sync mode, and in gevent mode,
where handlers are resolved again when the queue is drained.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from django_events import Event, EventDispatcher
from django_events.conf import Mode

#: Small enough that a handful of distinct names overflows the route cache.
CACHE_SIZE = 3

PATTERNS = [
    "a",
    "b",
    "c",
    "ab",
    "a::b",
    "b::a",
    "a|b",
    ".*",
    "a.*",
    "(a|b)::.*",
    "[ab]+",
    "a::\\w+",
    "[ab:]*b",
]

NAMES = ["a", "b", "c", "ab", "a::b", "a::c", "b::a", ""]


class Opened(Event):
    event_name = "a::e"  # matched by some PATTERNS (".*", "a.*", "(a|b)::.*", "a::\\w+")


class Closed(Event):
    event_name = "b::e"


#: Names never dispatched as plain names: typed handlers listen to them.
EVENTS: list[type[Event]] = [Opened, Closed]


class Handler:
    """A distinct handler that appends its id (and the call it got) to a shared log."""

    def __init__(self, ident: int, log: list[tuple[int, Any, tuple[Any, ...], dict[str, Any]]]) -> None:
        self.ident = ident
        self.log = log

    def __call__(self, subject: Any, *args: Any, **kwargs: Any) -> None:  # a name, or an event
        self.log.append((self.ident, subject, args, kwargs))


patterns = st.sampled_from(PATTERNS)
targets: st.SearchStrategy[str | type[Event]] = patterns | st.sampled_from(EVENTS)
names = st.sampled_from(NAMES) | st.text(alphabet="ab:", max_size=5)
handler_ids = st.integers(min_value=0, max_value=3)


Model = list[tuple[Any, int]]


def model_add(model: Model, target: str | type[Event], ident: int) -> None:
    if (target, ident) not in model:
        model.append((target, ident))


def model_handlers(model: Model, name: str) -> list[int]:
    return [ident for target, ident in model if isinstance(target, str) and re.fullmatch(target, name)]


def model_calls(model: Model, event: Event) -> list[tuple[int, Any, tuple[Any, ...], dict[str, Any]]]:
    """An instance: ``handler(event)`` for its class, ``handler(name, event)`` for a pattern."""
    name = type(event).event_name
    return [
        (ident, event, (), {}) if target is type(event) else (ident, name, (event,), {})
        for target, ident in model
        if target is type(event) or (isinstance(target, str) and re.fullmatch(target, name))
    ]


class RouterMachine(RuleBasedStateMachine):
    mode: Mode = "sync"

    def __init__(self) -> None:
        super().__init__()
        self.dispatcher = EventDispatcher(mode=self.mode, cache_size=CACHE_SIZE)
        self.log: list[tuple[int, Any, tuple[Any, ...], dict[str, Any]]] = []
        self.handlers = [Handler(i, self.log) for i in range(4)]
        self.model: Model = []

    def teardown(self) -> None:
        self.dispatcher.clear_queue()

    @rule(subject=targets, ident=handler_ids)
    def register(self, subject: str | type[Event], ident: int) -> None:
        self.dispatcher.register(subject, self.handlers[ident])
        model_add(self.model, subject, ident)

    @rule(pattern_list=st.lists(patterns, max_size=4), ident=handler_ids)
    def register_many(self, pattern_list: list[str], ident: int) -> None:
        self.dispatcher.register_many(tuple(pattern_list), self.handlers[ident])
        for pattern in pattern_list:
            model_add(self.model, pattern, ident)

    @rule(subject=targets, ident=handler_ids)
    def unregister(self, subject: str | type[Event], ident: int) -> None:
        expected = (subject, ident) in self.model
        self.model = [entry for entry in self.model if entry != (subject, ident)]
        assert self.dispatcher.unregister(subject, self.handlers[ident]) is expected

    @rule(ident=handler_ids)
    def off(self, ident: int) -> None:
        kept = [entry for entry in self.model if entry[1] != ident]
        expected = len(self.model) - len(kept)
        self.model = kept
        assert self.dispatcher.off(self.handlers[ident]) == expected

    # Several names per step, between two changes of the registry: repeated names are
    # served from the cache, and more than CACHE_SIZE distinct ones overflow it.
    @rule(burst=st.lists(names, min_size=1, max_size=8))
    def dispatch(self, burst: list[str]) -> None:
        for name in burst:
            self.log.clear()
            self.dispatcher.dispatch(name, 1, key="value")
            self.dispatcher.clear_queue()  # gevent mode: the handlers are resolved now
            expected = [(ident, name, (1,), {"key": "value"}) for ident in model_handlers(self.model, name)]
            assert self.log == expected

    @rule(burst=st.lists(st.sampled_from(EVENTS), min_size=1, max_size=6))
    def dispatch_events(self, burst: list[type[Event]]) -> None:
        for cls in burst:
            self.log.clear()
            event = cls()
            self.dispatcher.dispatch(event)
            self.dispatcher.clear_queue()
            assert self.log == model_calls(self.model, event)

    @rule(burst=st.lists(names, min_size=1, max_size=8))
    def resolve(self, burst: list[str]) -> None:
        for name in burst:
            resolved = self.dispatcher.resolve(name)
            expected = [self.handlers[i] for i in model_handlers(self.model, name)]
            assert [r.handler for r in resolved] == expected
            assert [r.target for r in resolved] == [
                p for p, _ in self.model if isinstance(p, str) and re.fullmatch(p, name)
            ]

    @invariant()
    def registrations_follow_the_model(self) -> None:
        registered = [(r.target, r.handler) for r in self.dispatcher.registrations]
        assert registered == [(p, self.handlers[i]) for p, i in self.model]

    @invariant()
    def cache_stays_bounded(self) -> None:
        assert self.dispatcher._table.cached_names() <= CACHE_SIZE


class GeventRouterMachine(RouterMachine):
    mode: Mode = "gevent"


TestRouter = RouterMachine.TestCase
TestRouter.settings = settings(database=None, deadline=None, max_examples=150, stateful_step_count=50)
TestGeventRouter = GeventRouterMachine.TestCase
TestGeventRouter.settings = settings(database=None, deadline=None, max_examples=100, stateful_step_count=50)


@settings(database=None, deadline=None, max_examples=150)
@given(
    registrations=st.lists(st.tuples(patterns, handler_ids), max_size=12),
    lookups=st.lists(names, max_size=12),
)
def test_resolve_matches_the_model_for_any_registry(
    registrations: list[tuple[str, int]], lookups: list[str]
) -> None:
    log: list[tuple[int, Any, tuple[Any, ...], dict[str, Any]]] = []
    handlers = [Handler(i, log) for i in range(4)]
    dispatcher = EventDispatcher(mode="sync", cache_size=1)
    model: list[tuple[str, int]] = []
    for pattern, ident in registrations:
        dispatcher.register(pattern, handlers[ident])
        model_add(model, pattern, ident)
    # Each name twice: once resolved fresh, once (when the cache kept it) from the cache.
    for name in lookups + lookups:
        expected = model_handlers(model, name)
        assert [r.handler for r in dispatcher.resolve(name)] == [handlers[i] for i in expected]
        log.clear()
        dispatcher.dispatch(name)
        assert [entry[0] for entry in log] == expected
