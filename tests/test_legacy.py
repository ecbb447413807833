"""The seed README's examples, unchanged but for ``from events`` -> ``from django_events``."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest

from django_events import Dispatcher, Event, EventDispatcher, EventListener, GetPathFromClass
from tests.conftest import Recorder

# -- "Registering Event Handlers" and "Dispatching events" --------------------------------


def test_register_handler_and_dispatch(recorder: Recorder) -> None:
    Dispatcher.RegisterHandler("event::name", recorder)
    Dispatcher.Dispatch("event::name")
    Dispatcher.ClearQueue()
    assert recorder.calls == [("event::name",)]


def test_a_handler_for_many_events(recorder: Recorder) -> None:
    Dispatcher.RegisterHandler("event::name(.*)", recorder)
    Dispatcher.Dispatch("event::name::some_event")
    Dispatcher.Dispatch("event::name:some::other::event")
    Dispatcher.Dispatch("other::event")
    Dispatcher.ClearQueue()
    assert recorder.calls == [("event::name::some_event",), ("event::name:some::other::event",)]


def test_dispatch_with_arguments(recorder: Recorder) -> None:
    Dispatcher.RegisterHandler("event::name", recorder)
    Dispatcher.Dispatch("event::name", 1, 2, key="value")
    Dispatcher.ClearQueue()
    assert recorder.calls == [("event::name", 1, 2, {"key": "value"})]


def test_ensure_queue_is_cleared(recorder: Recorder) -> None:
    Dispatcher.RegisterHandler("event::name", recorder)

    @Dispatcher.EnsureQueueIsCleared
    def work() -> None:
        Dispatcher.Dispatch("event::name")

    work()
    assert recorder.calls == [("event::name",)]


def test_get_path_from_class() -> None:
    assert GetPathFromClass(EventDispatcher) == "django_events::_dispatcher::EventDispatcher"


# -- "The Event class" ---------------------------------------------------------------------


class ExampleEvent(Event):
    pass


class NamedExampleEvent(Event):
    Name = "ExampleEvent"


class PayloadExampleEvent(Event):
    def __init__(self, name: str, value: str, something: str) -> None:
        self.name = name
        self.value = value
        self.something = something


def test_event_class_name_is_module_and_class(recorder: Recorder) -> None:
    Dispatcher.RegisterHandler("tests::test_legacy::ExampleEvent", recorder)
    event = ExampleEvent.Dispatch()
    assert recorder.calls == [("tests::test_legacy::ExampleEvent", event)]


def test_event_class_with_a_name(recorder: Recorder) -> None:
    Dispatcher.RegisterHandler("ExampleEvent", recorder)
    NamedExampleEvent.Dispatch()
    assert [call[0] for call in recorder.calls] == ["ExampleEvent"]


def test_event_class_with_a_payload() -> None:
    received: list[tuple[str, PayloadExampleEvent]] = []
    PayloadExampleEvent.AddListener(lambda name, event: received.append((name, event)))
    PayloadExampleEvent.Dispatch("name", "value", "something")
    [(name, event)] = received  # AddListener registered the name: handler(name, event)
    assert name == "tests::test_legacy::PayloadExampleEvent"
    assert (event.name, event.value, event.something) == ("name", "value", "something")


# -- "The EventListener class" ---------------------------------------------------------------


def test_event_listener_for_event_classes() -> None:
    handled: list[Any] = []

    class ExampleEventListener(EventListener):
        listensFor = [
            ExampleEvent,
        ]

        def handle(self, event: Any, *args: Any, **kwargs: Any) -> None:
            # handle the event here
            handled.append(event)

    event = ExampleEvent.Dispatch()
    assert handled == [event]
    assert ExampleEventListener.unregister() == 1


def test_event_listener_for_everything() -> None:
    handled: list[tuple[Any, ...]] = []

    class ExampleEventListener(EventListener):
        listensFor = [
            ".*",
        ]

        def handle(self, event: Any, *args: Any, **kwargs: Any) -> None:
            handled.append((event, args, kwargs))

    Dispatcher.Dispatch("any::thing", 1, k=2)
    Dispatcher.ClearQueue()
    assert handled == [("any::thing", (1,), {"k": 2})]


def test_handle_is_looked_up_at_each_dispatch() -> None:
    class Listener(EventListener):
        listensFor = [ExampleEvent]

        def handle(self, event: Any, *args: Any, **kwargs: Any) -> None:
            raise AssertionError("replaced, must not run")

    with mock.patch.object(Listener, "handle") as handle:
        event = ExampleEvent.Dispatch()
    handle.assert_called_once_with(event)


def test_listener_errors_are_logged_with_the_listener_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class FailingListener(EventListener):
        listensFor = ["fail"]

        def handle(self, event: Any, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("nope")

    Dispatcher.Dispatch("fail")
    Dispatcher.ClearQueue()
    assert (
        "test_listener_errors_are_logged_with_the_listener_name.<locals>.FailingListener.handle"
        in caplog.text
    )


@pytest.mark.parametrize("entries", [[], None, "a-string", ExampleEvent])
def test_listens_for_must_be_a_non_empty_list(entries: Any) -> None:
    with pytest.raises(TypeError, match=r"Bad.listensFor must be a non-empty list"):

        class Bad(EventListener):
            listensFor = entries

            def handle(self, event: Any, *args: Any, **kwargs: Any) -> None:
                pass


def test_missing_listens_for() -> None:
    with pytest.raises(TypeError, match=r"Bad.listensFor must be a non-empty list .*, got None"):

        class Bad(EventListener):
            def handle(self, event: Any, *args: Any, **kwargs: Any) -> None:
                pass


def test_missing_handle() -> None:
    with pytest.raises(TypeError, match=r"Bad must define handle"):

        class Bad(EventListener):
            listensFor = ["x"]


def test_bad_entry_fails_before_anything_is_registered() -> None:
    before = Dispatcher.registrations
    with pytest.raises(TypeError, match=r"got 3 \(int\)"):

        class Bad(EventListener):
            listensFor = ["ok", 3]  # type: ignore[list-item]

            def handle(self, event: Any, *args: Any, **kwargs: Any) -> None:
                pass

    assert Dispatcher.registrations == before


def test_base_handle_is_abstract() -> None:
    with pytest.raises(NotImplementedError):
        EventListener().handle("x")
