"""Property tests: the router of ``EventDispatcher`` agrees with a naive model.

The model is a list of ``(pattern, handler)`` registrations in registration order (the
same pair registered again is kept once, at its first position); a name reaches, in that
order, the handlers of every registration whose ``re.fullmatch(pattern, name)`` matches.
Hypothesis drives random registrations, unregistrations, ``off`` calls and dispatches
against a sync dispatcher with a tiny route cache, so cached routes are reused,
invalidated by every change and dropped when the cache overflows; after each step the
handlers called, ``resolve()``, ``registrations`` and the return values of ``unregister``
and ``off`` must equal the model's.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from django_events import EventDispatcher

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


class Handler:
    """A distinct handler that appends its id (and the call it got) to a shared log."""

    def __init__(self, ident: int, log: list[tuple[int, str, tuple[Any, ...], dict[str, Any]]]) -> None:
        self.ident = ident
        self.log = log

    def __call__(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.log.append((self.ident, name, args, kwargs))


patterns = st.sampled_from(PATTERNS)
names = st.sampled_from(NAMES) | st.text(alphabet="ab:", max_size=5)
handler_ids = st.integers(min_value=0, max_value=3)


def model_add(model: list[tuple[str, int]], pattern: str, ident: int) -> None:
    if (pattern, ident) not in model:
        model.append((pattern, ident))


def model_handlers(model: list[tuple[str, int]], name: str) -> list[int]:
    return [ident for pattern, ident in model if re.fullmatch(pattern, name)]


class RouterMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dispatcher = EventDispatcher(mode="sync", cache_size=CACHE_SIZE)
        self.log: list[tuple[int, str, tuple[Any, ...], dict[str, Any]]] = []
        self.handlers = [Handler(i, self.log) for i in range(4)]
        self.model: list[tuple[str, int]] = []

    @rule(pattern=patterns, ident=handler_ids)
    def register(self, pattern: str, ident: int) -> None:
        self.dispatcher.register(pattern, self.handlers[ident])
        model_add(self.model, pattern, ident)

    @rule(pattern_list=st.lists(patterns, max_size=4), ident=handler_ids)
    def register_many(self, pattern_list: list[str], ident: int) -> None:
        self.dispatcher.register_many(tuple(pattern_list), self.handlers[ident])
        for pattern in pattern_list:
            model_add(self.model, pattern, ident)

    @rule(pattern=patterns, ident=handler_ids)
    def unregister(self, pattern: str, ident: int) -> None:
        expected = (pattern, ident) in self.model
        self.model = [entry for entry in self.model if entry != (pattern, ident)]
        assert self.dispatcher.unregister(pattern, self.handlers[ident]) is expected

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
            expected = [(ident, name, (1,), {"key": "value"}) for ident in model_handlers(self.model, name)]
            assert self.log == expected

    @rule(burst=st.lists(names, min_size=1, max_size=8))
    def resolve(self, burst: list[str]) -> None:
        for name in burst:
            resolved = self.dispatcher.resolve(name)
            expected = [self.handlers[i] for i in model_handlers(self.model, name)]
            assert [r.handler for r in resolved] == expected
            assert [r.target for r in resolved] == [p for p, _ in self.model if re.fullmatch(p, name)]

    @invariant()
    def registrations_follow_the_model(self) -> None:
        registered = [(r.target, r.handler) for r in self.dispatcher.registrations]
        assert registered == [(p, self.handlers[i]) for p, i in self.model]

    @invariant()
    def cache_stays_bounded(self) -> None:
        assert self.dispatcher._table.cached_names() <= CACHE_SIZE


TestRouter = RouterMachine.TestCase
TestRouter.settings = settings(database=None, deadline=None, max_examples=150, stateful_step_count=50)


@settings(database=None, deadline=None, max_examples=150)
@given(
    registrations=st.lists(st.tuples(patterns, handler_ids), max_size=12),
    lookups=st.lists(names, max_size=12),
)
def test_resolve_matches_the_model_for_any_registry(
    registrations: list[tuple[str, int]], lookups: list[str]
) -> None:
    log: list[tuple[int, str, tuple[Any, ...], dict[str, Any]]] = []
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
