"""Code written for django-event-system 1.0.1 runs unchanged but for the import rename: each
test pins one behaviour of the original's source (argument shapes, return values, when
handlers have run), by the legacy names, in the default gevent mode unless it says."""

from __future__ import annotations

from typing import Any

import pytest
from django.dispatch import Signal
from django.test import override_settings

from django_events import Event, EventDispatcher, EventListener, dispatcher
from tests.conftest import Recorder
from tests.testapp.models import Customer


class Paid(Event):
    amount: int


class OwnInit(Event):
    """A legacy payload: its own __init__, which a signal's arguments do not fit."""

    def __init__(self, order: object) -> None:
        raise AssertionError("the legacy SignalToEvent dispatches its name, never builds it")


def test_the_original_import_paths() -> None:
    namespace: dict[str, Any] = {}
    exec("from django_events.events import Dispatcher, Event, EventListener, Observer", namespace)
    exec("from django_events.events.utils import *", namespace)
    assert namespace["Dispatcher"] is dispatcher
    assert namespace["Event"] is Event
    assert {"GetPathFromClass", "SignalToEvent", "RegisterSignalsFor", "dispatch"} <= namespace.keys()
    assert namespace["events"] == ["creating", "created", "updating", "updated", "deleting", "deleted"]


def test_add_listener_registers_the_name_so_handlers_get_name_and_event(recorder: Recorder) -> None:
    Paid.AddListener(recorder)
    event = Paid.Dispatch(1)
    assert recorder.calls == [(Paid.event_name, event)]


def test_get_event_name_and_dispatch_async(recorder: Recorder) -> None:
    assert Paid.GetEventName() == Paid.event_name == "tests::test_legacy_conformance::Paid"
    dispatcher.register(Paid, recorder)
    event = Paid.DispatchAsync(2)
    assert isinstance(event, Paid)
    assert recorder.calls == []  # queued: DispatchAsync does not yield
    dispatcher.clear_queue()
    assert recorder.calls == [(event,)]


def test_the_dispatch_function_sends_the_name_with_the_arguments(recorder: Recorder) -> None:
    from django_events import dispatch

    dispatcher.register(".*::Paid|plain", recorder)
    dispatch(Paid, 1, key="k")  # a class: its name
    dispatch(Paid(5), 2)  # an instance: its name only, not the instance
    dispatch("plain")
    dispatcher.clear_queue()
    assert recorder.calls == [(Paid.event_name, 1, {"key": "k"}), (Paid.event_name, 2), ("plain",)]


def test_a_listener_of_a_pattern_gets_the_event_alone_when_an_event_is_dispatched() -> None:
    handled: list[tuple[Any, ...]] = []

    class Everything(EventListener):
        listensFor = [".*::Paid", "plain::name"]

        def handle(self, *args: Any, **kwargs: Any) -> None:
            handled.append(args)

    event = Paid.Dispatch(3)  # the original's __call__ dropped the name before an Event
    dispatcher.dispatch("plain::name", 1)
    dispatcher.clear_queue()
    assert handled == [(event,), ("plain::name", 1)]


def test_a_hook_gets_the_signal_too(recorder: Recorder) -> None:
    from django_events import SignalToEvent

    signal = Signal()
    seen: list[dict[str, Any]] = []

    def hook(sender: object, **kwargs: Any) -> str:
        seen.append(kwargs)
        return "hooked"

    SignalToEvent(signal, hook=hook)
    dispatcher.register("hooked", recorder)
    signal.send(sender="s", test=True)
    assert seen == [{"signal": signal, "test": True}]
    assert recorder.calls == [("hooked", "s", {"signal": signal, "test": True})]  # run by send()'s end


def test_a_hook_returning_an_event_dispatches_its_name(recorder: Recorder) -> None:
    from django_events import SignalToEvent

    signal = Signal()
    SignalToEvent(signal, hook=lambda sender, **kwargs: Paid(9))
    dispatcher.register(".*::Paid", recorder)
    signal.send(sender="s")
    assert recorder.calls == [(Paid.event_name, "s", {"signal": signal})]


def test_signal_to_an_event_class_dispatches_its_name_and_handlers_have_run(recorder: Recorder) -> None:
    from django_events import SignalToEvent

    signal = Signal()
    SignalToEvent(signal, event=OwnInit)  # never built: the signal's arguments do not fit it
    dispatcher.register(".*::OwnInit", recorder)
    signal.send(sender="s", unrelated=1)
    assert recorder.calls == [(OwnInit.event_name, None, "s", {"signal": signal, "unrelated": 1})]


def test_signal_to_an_event_in_sync_mode(recorder: Recorder) -> None:
    from django_events import SignalToEvent

    signal = Signal()
    with override_settings(DJANGO_EVENTS={"MODE": "sync"}):
        SignalToEvent(signal, "named", "s")  # the original's positional order: event, sender
        dispatcher.register("named", recorder)
        signal.send(sender="s")
        signal.send(sender="other")
    assert recorder.calls == [("named", None, "s", {"signal": signal})]


@pytest.mark.django_db
def test_register_signals_for_returns_the_event_names() -> None:
    from django_events import RegisterSignalsFor

    names = RegisterSignalsFor(Customer)
    prefix = "events::db::tests::testapp::models::Customer"
    assert names == {
        action: f"{prefix}::{action}"
        for action in ("creating", "created", "updating", "updated", "deleting", "deleted")
    }
    assert list(names) == ["creating", "created", "updating", "updated", "deleting", "deleted"]


def test_str_of_an_event_is_its_name() -> None:
    assert str(Paid(1)) == str(Paid) == Paid.event_name
    assert repr(Paid(1)) == "Paid(amount=1)"  # repr() keeps the fields


def test_expect_compares_names_as_the_original() -> None:
    from django_events import Dispatcher

    @Dispatcher.MocksDispatch
    def exact() -> None:
        Dispatcher.Expect("shop.paid")  # a name, not a regex: "shopXpaid" does not count
        Dispatcher.Dispatch("shopXpaid")

    with pytest.raises(AssertionError, match=r"expected event\(s\) not dispatched: 'shop.paid'"):
        exact()

    @Dispatcher.MocksDispatch
    def by_class() -> None:
        Dispatcher.Expect(Paid)
        Dispatcher.Dispatch(Paid.event_name, Paid(1))  # the name, with or without an instance

    by_class()


def test_signal_to_event_is_connected_once_per_event_and_dispatcher(recorder: Recorder) -> None:
    from django_events import SignalToEvent

    signal = Signal()
    own = EventDispatcher(mode="sync")
    for _ in range(2):  # the original connected again at each call (each event twice)
        SignalToEvent(signal, event="once", dispatcher=own)
    own.register("once", recorder)
    signal.send(sender=None)
    assert len(recorder.calls) == 1


def test_dispatch_of_a_class_or_an_instance_with_arguments(recorder: Recorder) -> None:
    from django_events import Dispatcher

    dispatcher.register(".*::Paid", recorder)
    Dispatcher.Dispatch(Paid, 1)  # str(Paid): its name
    event = Paid(2)
    Dispatcher.Dispatch(event, "more")
    dispatcher.clear_queue()
    assert recorder.calls == [(Paid.event_name, 1), (Paid.event_name, event, "more")]


def test_a_legacy_name_is_inherited_as_in_the_original() -> None:
    class Parent(Event):
        Name = "shop::paid"

    class Child(Parent):
        pass

    class Modern(Event):
        event_name = "shop::modern"

    class ModernChild(Modern):
        pass

    assert Child.event_name == Child.GetEventName() == "shop::paid"
    assert ModernChild.event_name.endswith("::ModernChild")  # event_name is each class's own


def test_a_listener_of_a_class_hears_its_name_dispatched_any_way(recorder: Recorder) -> None:
    from django_events import Dispatcher, SignalToEvent, dispatch

    heard: list[tuple[Any, ...]] = []

    class Listener(EventListener):
        listensFor = [Paid]

        def handle(self, *args: Any, **kwargs: Any) -> None:
            heard.append(args)

    signal = Signal()
    SignalToEvent(signal, event=Paid)
    signal.send(sender="s")  # the class's name, with (None, sender): no TypeError
    dispatch(Paid, 1)
    Dispatcher.Dispatch(Paid)
    event = Paid.Dispatch(4)
    dispatcher.clear_queue()
    assert heard == [(Paid.event_name, None, "s"), (Paid.event_name, 1), (Paid.event_name,), (event,)]


def test_a_name_set_on_the_instance_does_not_rename_the_event(recorder: Recorder) -> None:
    class Signup(Event):
        Name = "user::signup"

        def __init__(self, user: str, event_name: str = "welcome") -> None:
            self.user = user
            self.event_name = event_name  # type: ignore[misc]  # untyped legacy code does this

    dispatcher.register("user::signup|welcome", recorder)
    event = Signup.Dispatch("bob")
    assert recorder.calls == [("user::signup", event)]
    assert str(event) == "user::signup"


def test_renaming_a_class_later_renames_its_events(recorder: Recorder) -> None:
    class Renamed(Event):
        Name = "first::name"

    class Heir(Renamed):
        pass

    class Named(Renamed):
        Name = "own::name"

    dispatcher.register("first::name|second::name", recorder)
    Renamed.Dispatch()  # routed, and its route cached, under the first name
    Renamed.Name = "second::name"  # the original read Name at each dispatch
    Renamed.Dispatch()
    Heir.Dispatch()  # it shares its parent's legacy Name
    assert [call[0] for call in recorder.calls] == ["first::name", "second::name", "second::name"]
    assert Renamed.event_name == Renamed.GetEventName() == str(Renamed) == "second::name"
    assert Named.event_name == "own::name"  # a subclass with a name of its own keeps it
    with pytest.raises(TypeError, match=r"Renamed\.Name must be a non-empty str, got 42"):
        Renamed.Name = 42  # type: ignore[assignment]


def test_a_typed_handler_follows_a_renamed_class() -> None:
    from django_events import on

    class Moved(Event):
        event_name = "moved::from"

    class Stays(Moved):  # an event_name of its own: not shared
        pass

    seen: list[Moved] = []
    on(Moved)(seen.append)
    Moved.event_name = "moved::to"
    assert Stays.event_name.endswith("::Stays")
    event = Moved()
    event.dispatch()
    dispatcher.clear_queue()
    assert seen == [event]


def test_a_mixins_constructor_is_kept() -> None:
    class Mixin:
        def __init__(self, a: int, b: int) -> None:
            self.total = a + b

    class Summed(Mixin, Event):
        pass

    assert Summed.Dispatch(1, 2).total == 3  # not replaced by a dataclass __init__


def test_an_observer_override_may_call_the_base_method() -> None:
    from django_events import Observer

    calls: list[str] = []

    class Watch(Observer):
        observes = Customer

        def created(self, eventName: str, instance: Any) -> None:
            super().created(eventName, instance)
            calls.append(eventName)

    Watch().created("x", None)
    assert calls == ["x"]


def test_a_hook_returning_anything_dispatches_its_str(recorder: Recorder) -> None:
    from django_events import SignalToEvent

    signal = Signal()
    SignalToEvent(signal, hook=lambda sender, **kwargs: None)
    dispatcher.register("None", recorder)
    signal.send(sender="s")  # as the original: the name "None", never an error in send()
    assert recorder.calls == [("None", "s", {"signal": signal})]


@pytest.mark.django_db
def test_a_model_event_nobody_listens_to_still_gives_the_hub_a_turn(recorder: Recorder) -> None:
    from django_events import RegisterSignalsFor
    from tests.testapp.models import Place

    RegisterSignalsFor(Place)
    dispatcher.register("other", recorder)
    dispatcher.dispatch("other")
    Place.objects.create(name="p")  # its events have no handler, and still yield
    assert recorder.calls == [("other",)]


def test_reset_runs_what_is_pending_then_removes_every_handler(recorder: Recorder) -> None:
    from django_events import Dispatcher

    Dispatcher.RegisterHandler("before::reset", recorder)
    Dispatcher.Dispatch("before::reset")
    Dispatcher.Reset()
    assert recorder.calls == [("before::reset",)]
    assert Dispatcher.registrations == ()  # (the test's isolation puts them back)


def test_a_bad_pattern_is_a_re_error_as_the_original_raised() -> None:
    import re

    from django_events import Dispatcher

    with pytest.raises(re.error, match=r"invalid event pattern 'event::\('"):
        Dispatcher.RegisterHandler("event::(", print)


def test_listens_for_may_be_a_set() -> None:
    heard: list[tuple[Any, ...]] = []

    class FromASet(EventListener):
        listensFor = {"set::entry"}

        def handle(self, *args: Any, **kwargs: Any) -> None:
            heard.append(args)

    dispatcher.dispatch("set::entry", 1)
    dispatcher.clear_queue()
    assert heard == [("set::entry", 1)]
