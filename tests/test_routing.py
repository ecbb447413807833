from __future__ import annotations

import functools
import re
import sys
import threading

import pytest
from django.core.exceptions import ImproperlyConfigured

from django_events import Event, EventDispatcher, InvalidPattern
from django_events._options import Options
from django_events._routing import MAX_CACHED_BYTES, HandlerTable, Registration, check_target, handler_label
from django_events.exceptions import describe
from tests.conftest import Recorder

QUEUED = Options.parse({"queue": True})


class Ping(Event):
    pass


def noop(*args: object) -> None:
    pass


def other(*args: object) -> None:
    pass


def test_patterns_match_the_whole_name(sync: EventDispatcher, recorder: Recorder) -> None:
    sync.register("event::name", recorder)
    sync.dispatch("event::name::longer")
    sync.dispatch("prefix::event::name")
    sync.dispatch("event::name")
    assert recorder.calls == [("event::name",)]


def test_regex_patterns(sync: EventDispatcher, recorder: Recorder) -> None:
    sync.register("events::db::.*::created", recorder)
    sync.dispatch("events::db::shop::models::Order::created", "order")
    sync.dispatch("events::db::shop::models::Order::updated", "order")
    assert recorder.calls == [("events::db::shop::models::Order::created", "order")]


def test_invalid_regex_quotes_the_pattern() -> None:
    with pytest.raises(InvalidPattern, match=re.escape("invalid event pattern 'event::(': ")) as info:
        check_target("event::(")
    assert info.value.pattern == "event::("
    assert isinstance(info.value, ValueError)


def test_empty_pattern_is_invalid() -> None:
    with pytest.raises(InvalidPattern, match="empty pattern"):
        check_target("")


@pytest.mark.parametrize("bad", [42, None, int, Event, b"bytes"])
def test_bad_targets_name_the_value(bad: object) -> None:
    with pytest.raises(TypeError, match=re.escape(f"got {describe(bad)}")):
        check_target(bad)


def test_non_callable_handler_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"handler must be callable, got 'nope' \(str\)"):
        Registration.create("x", "nope")


def test_labels_are_dotted_paths() -> None:
    assert handler_label(noop) == "tests.test_routing.noop"
    assert handler_label(Recorder()) == "tests.conftest.Recorder"
    assert handler_label(Recorder().__call__) == "tests.conftest.Recorder.__call__"
    assert handler_label(functools.partial(functools.partial(noop, 1), 2)) == "tests.test_routing.noop"


def test_resolve_returns_handlers_in_registration_order() -> None:
    table = HandlerTable()
    first, second, third = Recorder("1"), Recorder("2"), Recorder("3")
    table.add(Registration.create("a.*", first))
    table.add(Registration.create(Ping, second))
    table.add(Registration.create(".*", third))
    assert [r.handler for r in table.resolve("abc")] == [first, third]
    assert [r.handler for r in table.resolve(Ping.event_name)] == [second, third]
    assert table.resolve(Ping.event_name)[0].takes_event


def test_same_handler_and_target_registers_once() -> None:
    table = HandlerTable()
    table.add(Registration.create("x", noop))
    table.add(Registration.create("x", noop), Registration.create("y", noop))
    table.add(Registration.create("x", other))
    assert [(r.target, r.handler) for r in table.registrations] == [
        ("x", noop),
        ("y", noop),
        ("x", other),
    ]


def test_cache_is_used_and_invalidated() -> None:
    table = HandlerTable()
    table.add(Registration.create("a", noop))
    assert [r.handler for r in table.resolve("a")] == [noop]
    assert table.resolve("a") is table.resolve("a")  # cached
    assert table.cached_names() == 1
    table.add(Registration.create("a", other))
    assert table.cached_names() == 0
    assert [r.handler for r in table.resolve("a")] == [noop, other]
    assert table.remove(lambda r: r.handler is not noop) == 1
    assert [r.handler for r in table.resolve("a")] == [other]


def test_cache_is_bounded() -> None:
    table = HandlerTable(cache_size=10)
    table.add(Registration.create("name-.*", noop))
    for i in range(1000):
        assert len(table.resolve(f"name-{i}")) == 1
        assert table.cached_names() <= 10


class Pong(Event):
    pass


def test_event_classes_are_cached_by_class_and_invalidated_with_names(
    sync: EventDispatcher, recorder: Recorder
) -> None:
    sync.register(Ping, recorder)
    sync.dispatch(Ping())
    table = sync._table
    assert table.class_route(Ping) is table.class_route(Ping)  # cached
    other = Recorder()
    sync.register(Ping, other)  # invalidates: the next instance reaches both handlers
    sync.dispatch(Ping())
    assert (len(recorder.calls), len(other.calls)) == (2, 1)
    sync.off(recorder)
    sync.dispatch(Ping())
    assert (len(recorder.calls), len(other.calls)) == (2, 2)


def test_a_class_route_has_a_plan_only_for_instances_of_its_own_class() -> None:
    table = HandlerTable()
    table.add(Registration.create(Ping, noop), Registration.create("tests::.*", other))
    name, _route, plan = table.class_route(Ping)
    assert (name, [step[0] for step in plan or ()]) == (Ping.event_name, [noop, other])

    class Impostor(Event):
        event_name = Ping.event_name  # same name, another class: its handlers are checked

    assert table.class_route(Impostor)[2] is None


def test_the_class_cache_is_bounded() -> None:
    table = HandlerTable(cache_size=1)
    table.add(Registration.create(".*", noop))
    table.class_route(Ping)
    table.class_route(Pong)
    assert list(table.class_cache) == [Pong]


def test_cache_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="cache_size must be at least 1, got 0"):
        HandlerTable(cache_size=0)


@pytest.mark.parametrize("by_class", [False, True], ids=["by name", "by Event class"])
def test_resolution_racing_a_registration_is_not_cached(by_class: bool) -> None:
    table = HandlerTable()
    started, release = threading.Event(), threading.Event()

    def slow_match(name: str) -> bool:
        started.set()
        release.wait(5)
        return True

    def resolve() -> tuple[Registration, ...]:
        return table.class_route(Ping)[1].registrations if by_class else table.resolve(Ping.event_name)

    slow = Registration("slow", noop, False, "slow", slow_match, noop)
    table.add(slow)
    result: list[tuple[Registration, ...]] = []
    thread = threading.Thread(target=lambda: result.append(resolve()))
    thread.start()
    assert started.wait(5)
    table.add(Registration.create(Ping, other))  # changes the table mid-resolution
    release.set()
    thread.join(5)
    assert [r.handler for r in result[0]] == [noop]  # what that resolution saw
    assert (table.cached_names(), len(table.class_cache)) == (0, 0)  # ...not cached as the answer
    assert [r.handler for r in resolve()] == [noop, other]


def test_queued_handlers_need_the_task_framework(monkeypatch: pytest.MonkeyPatch) -> None:
    # As on Django < 6.0 without the django-tasks backport: neither module can be found.
    monkeypatch.setattr("django_events.delivery.tasks.find_spec", lambda name: None)
    with pytest.raises(
        ImproperlyConfigured,
        match=r"handler tests.test_routing.noop cannot be queued: .*"
        r"built into Django 6.0\+; before that, pip install 'django-typed-events\[tasks\]'",
    ):
        Registration.create("shop.*", noop, QUEUED)
    Registration.create("shop.*", noop)  # in-process handlers do not need it


def test_queued_handlers_must_be_module_level_functions() -> None:
    with pytest.raises(TypeError, match=r"handler functools.partial\(.*\) \(partial\) cannot be queued: a"):
        Registration.create("shop.*", functools.partial(noop, 1), QUEUED)
    with pytest.raises(TypeError, match=r"handler <bound method Recorder.__call__ .*\(method\) cannot be"):
        Registration.create("shop.*", Recorder().__call__, QUEUED)
    with pytest.raises(
        TypeError, match=r"handler <tests.conftest.Recorder object at .*> \(Recorder\) cannot"
    ):
        Registration.create("shop.*", Recorder(), QUEUED)

    def script_handler(name: str) -> None: ...

    script_handler.__module__, script_handler.__qualname__ = "__main__", "script_handler"
    with pytest.raises(
        TypeError, match=r"handler __main__.script_handler cannot be queued: it is defined in"
    ):
        Registration.create("shop.*", script_handler, QUEUED)


@pytest.mark.parametrize(
    "letter", ["x", "\u00e9", "\u20ac", "\U0001f600"], ids=["ascii", "latin-1", "bmp", "astral"]
)
def test_the_cache_is_bounded_in_bytes_of_names(letter: str) -> None:
    """A character outside Latin-1 takes 2 or 4 bytes: the bound counts what names weigh."""
    table = HandlerTable()
    table.add(Registration.create("big::.*", noop))
    name = "big::" + letter * (64 * 1024)
    for i in range(100):  # 6.4 M characters of distinct names, from users say
        assert len(table.resolve(f"{name}{i}")) == 1
        assert table.cached_bytes() <= MAX_CACHED_BYTES
    cached = list(table.cache)
    assert cached
    assert sum(map(sys.getsizeof, cached)) == table.cached_bytes()
    assert len(cached) <= MAX_CACHED_BYTES // sys.getsizeof(name)


def test_a_name_larger_than_the_cache_is_resolved_but_not_cached() -> None:
    table = HandlerTable()
    table.add(Registration.create("huge::.*", noop))
    huge = "huge::" + "\U0001f600" * (MAX_CACHED_BYTES // 4)  # a quarter of the characters, every byte
    assert [r.handler for r in table.resolve(huge)] == [noop]
    assert (table.cached_names(), table.cached_bytes()) == (0, 0)


def test_resolve_lists_handlers_in_the_order_they_run(sync: EventDispatcher) -> None:
    def immediate(name: str) -> None: ...
    def after_commit(name: str) -> None: ...

    sync.register("shop::paid", after_commit, after_commit=True)  # registered first...
    sync.register("shop::paid", noop, queue=True)
    sync.register("shop::.*", immediate)
    assert [r.handler for r in sync.resolve("shop::paid")] == [immediate, after_commit, noop]
    assert [r.handler for r in sync.registrations] == [after_commit, noop, immediate]
