from __future__ import annotations

import pytest

from django_events import Event, EventDispatcher, EventListener, InvalidPattern, dispatcher, off, on
from tests.conftest import Recorder


class Shipped(Event):
    order_id: int


class Cancelled(Event):
    order_id: int


def test_on_event_class_gets_the_event(sync: EventDispatcher) -> None:
    seen: list[Shipped] = []

    @on(Shipped, dispatcher=sync)
    def handler(event: Shipped) -> None:
        seen.append(event)

    sync.dispatch(Shipped(1))
    assert seen == [Shipped(1)]
    handler(Shipped(2))  # still a plain function
    assert seen == [Shipped(1), Shipped(2)]


def test_on_returns_the_function_unchanged(sync: EventDispatcher) -> None:
    def handler(*args: object) -> None:
        pass

    assert on(Shipped, dispatcher=sync)(handler) is handler
    assert on("x", dispatcher=sync)(handler) is handler


def test_on_several_event_classes(sync: EventDispatcher, recorder: Recorder) -> None:
    on(Shipped, Cancelled, dispatcher=sync)(recorder)
    sync.dispatch(Shipped(1))
    sync.dispatch(Cancelled(2))
    assert recorder.calls == [(Shipped(1),), (Cancelled(2),)]


def test_on_patterns_gets_name_and_arguments(sync: EventDispatcher, recorder: Recorder) -> None:
    on("a::.*", "b", dispatcher=sync)(recorder)
    sync.dispatch("a::x", 1, k=2)
    sync.dispatch("b")
    sync.dispatch("c")
    assert recorder.calls == [("a::x", 1, {"k": 2}), ("b",)]


def test_on_uses_the_default_dispatcher(recorder: Recorder) -> None:
    on(Shipped)(recorder)
    assert [r.handler for r in dispatcher.resolve(Shipped.event_name)] == [recorder]


def test_bad_pattern_fails_at_on_not_later() -> None:
    before = dispatcher.registrations
    with pytest.raises(InvalidPattern, match=r"invalid event pattern 'a\(': "):
        on("ok", "a(")
    assert dispatcher.registrations == before


def test_mixing_classes_and_patterns_is_rejected() -> None:
    with pytest.raises(TypeError, match="either Event classes or regex strings, not both"):
        on(Shipped, "x")  # type: ignore[call-overload]


def test_bad_dispatcher_argument() -> None:
    with pytest.raises(TypeError, match=r"dispatcher must be an EventDispatcher or None, got 'x' \(str\)"):
        on("x", dispatcher="x")  # type: ignore[call-overload]


def test_non_callable_fails_at_decoration(sync: EventDispatcher) -> None:
    with pytest.raises(TypeError, match=r"handler must be callable, got 3 \(int\)"):
        on("x", dispatcher=sync)(3)  # type: ignore[arg-type]


def test_off_removes_everywhere(sync: EventDispatcher, recorder: Recorder) -> None:
    on("a", "b", dispatcher=sync)(recorder)
    assert off(recorder, dispatcher=sync) == 2
    assert off(recorder, dispatcher=sync) == 0
    sync.dispatch("a")
    assert recorder.calls == []


def test_off_default_dispatcher(recorder: Recorder) -> None:
    before = dispatcher.registrations
    on("a")(recorder)
    assert off(recorder) == 1
    assert dispatcher.registrations == before


def test_off_without_a_dispatcher_removes_it_from_every_dispatcher(
    sync: EventDispatcher, recorder: Recorder
) -> None:
    on("a")(recorder)
    on("b", dispatcher=sync)(recorder)
    assert off(recorder) == 2
    sync.dispatch("b")
    assert recorder.calls == []


def test_off_an_event_listener_class(sync: EventDispatcher) -> None:
    class Listener(EventListener, dispatcher=sync):
        listensFor = [Shipped, "x::.*"]

        def handle(self, event: object, *args: object, **kwargs: object) -> None:
            pass

    assert len(sync.registrations) == 2
    assert off(Listener) == 2
    assert len(sync.registrations) == 0
