from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest
from django.dispatch import Signal

from django_events import Event, EventDispatcher, SignalToEvent, on, signal_to_event
from tests.conftest import Recorder


class Shipped(Event):
    sender: object
    order_id: int
    carrier: str = "post"


class LegacyShipped(Event):
    def __init__(self, order_id: int, sender: object = None) -> None:
        self.order_id = order_id
        self.sender = sender


class Flexible(Event):
    def __init__(self, **kwargs: object) -> None:
        self.kwargs = kwargs


class NeedsMore(Event):
    order_id: int
    missing: str


class Sender:
    pass


@pytest.fixture
def signal() -> Signal:
    return Signal()


# -- the seed README's "Mapping Signals to Events" ---------------------------------------------


def test_signal_to_a_named_event(sync: EventDispatcher, signal: Signal, recorder: Recorder) -> None:
    signal_to_event(signal, event="event::from::signal", dispatcher=sync)
    sync.register("event::from::signal", recorder)
    signal.send(sender=Sender, order_id=1)
    assert recorder.calls == [("event::from::signal", {"sender": Sender, "order_id": 1})]


def test_signal_to_an_event_class(sync: EventDispatcher, signal: Signal) -> None:
    received: list[Shipped] = []
    signal_to_event(signal, event=Shipped, dispatcher=sync)
    on(Shipped, dispatcher=sync)(received.append)
    signal.send(sender=Sender, order_id=7, unrelated="ignored")
    assert received == [Shipped(sender=Sender, order_id=7)]


def test_signal_to_a_legacy_event_class(sync: EventDispatcher, signal: Signal) -> None:
    received: list[LegacyShipped] = []
    signal_to_event(signal, event=LegacyShipped, dispatcher=sync)
    on(LegacyShipped, dispatcher=sync)(received.append)
    signal.send(sender=Sender, order_id=3)
    assert [(e.order_id, e.sender) for e in received] == [(3, Sender)]


def test_a_legacy_event_taking_any_keyword_gets_every_argument(sync: EventDispatcher, signal: Signal) -> None:
    received: list[Flexible] = []
    signal_to_event(signal, event=Flexible, dispatcher=sync)
    on(Flexible, dispatcher=sync)(received.append)
    signal.send(sender=Sender, order_id=3)
    assert [e.kwargs for e in received] == [{"sender": Sender, "order_id": 3}]


def test_seed_readme_hook_verbatim(recorder: Recorder) -> None:
    from django_events import Dispatcher

    signal = Signal()

    def hook(*args, **kwargs):  # type: ignore[no-untyped-def]
        if args[0] == 1:
            return "event::when::1"
        if args[1] == 2:
            return "event::when::2"
        return "event::when::none"

    SignalToEvent(signal, hook=hook)
    Dispatcher.RegisterHandler("event::when::.*", recorder)
    signal.send(sender=1)  # the hook gets (sender, **signal_kwargs): args is (sender,)
    Dispatcher.ClearQueue()
    assert [c[0] for c in recorder.calls] == ["event::when::1"]
    # Its other branches read a second positional argument, which no Django signal sends.
    assert (hook(None, 2), hook(None, 3)) == ("event::when::2", "event::when::none")  # type: ignore[no-untyped-call]


def test_only_from_one_sender(sync: EventDispatcher, signal: Signal, recorder: Recorder) -> None:
    signal_to_event(signal, event="from::sender", sender=Sender, dispatcher=sync)
    sync.register("from::sender", recorder)
    signal.send(sender=object)
    signal.send(sender=Sender)
    assert recorder.calls == [("from::sender", {"sender": Sender})]


def test_a_hook_chooses_the_event(sync: EventDispatcher, signal: Signal, recorder: Recorder) -> None:
    def hook(*args: Any, **kwargs: Any) -> Any:
        if args[0] == 1:
            return "event::when::1"
        if kwargs.get("value") == 2:
            return Shipped(sender=None, order_id=2)
        if kwargs.get("value") == 3:
            return Shipped
        return "event::when::none"

    signal_to_event(signal, hook=hook, dispatcher=sync)
    sync.register("event::.*", recorder)
    typed: list[Shipped] = []
    on(Shipped, dispatcher=sync)(typed.append)
    signal.send(sender=1)
    signal.send(sender=None, value=2)
    signal.send(sender="s", value=3, order_id=9)
    signal.send(sender=None)
    assert [c[0] for c in recorder.calls] == ["event::when::1", "event::when::none"]
    assert typed == [Shipped(sender=None, order_id=2), Shipped(sender="s", order_id=9)]


def test_a_hook_returning_something_else_names_the_hook(sync: EventDispatcher, signal: Signal) -> None:
    def bad_hook(sender: object, **kwargs: Any) -> Any:
        return 42

    signal_to_event(signal, hook=bad_hook, dispatcher=sync)
    with pytest.raises(
        TypeError, match=r"hook tests\.test_signals\..*bad_hook must return an event name, .*got 42"
    ):
        signal.send(sender=None)


def test_an_event_class_missing_fields_is_a_clear_error(sync: EventDispatcher, signal: Signal) -> None:
    signal_to_event(signal, event=NeedsMore, dispatcher=sync)
    with pytest.raises(
        TypeError, match=r"cannot build NeedsMore from the signal's arguments \['order_id', 'sender'\]"
    ):
        signal.send(sender=None, order_id=1)


def test_connections_are_strong_and_not_duplicated(
    sync: EventDispatcher, signal: Signal, recorder: Recorder
) -> None:
    signal_to_event(signal, hook=lambda sender, **kw: "strong", dispatcher=sync)
    signal_to_event(signal, event="twice", dispatcher=sync)
    signal_to_event(signal, event="twice", dispatcher=sync)
    gc.collect()
    sync.register(".*", recorder)
    signal.send(sender=None)
    assert sorted(c[0] for c in recorder.calls) == ["strong", "twice"]


def test_default_dispatcher(signal: Signal, recorder: Recorder) -> None:
    from django_events import dispatcher

    signal_to_event(signal, "to::default")
    dispatcher.register("to::default", recorder)
    signal.send(sender=None)
    dispatcher.clear_queue()
    assert recorder.calls == [("to::default", {"sender": None})]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, r"needs exactly one of event=\.\.\. .* or hook=\.\.\."),
        ({"event": "x", "hook": print}, r"needs exactly one of"),
        ({"event": 3}, r"event must be an event name or an Event class, got 3 \(int\)"),
        ({"event": ""}, r"event must be an event name or an Event class, got ''"),
        ({"event": Event}, r"event must be an event name or an Event class"),
        ({"hook": "nope"}, r"hook must be callable, got 'nope' \(str\)"),
    ],
)
def test_bad_arguments(signal: Signal, kwargs: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        signal_to_event(signal, **kwargs)


def test_not_a_signal() -> None:
    with pytest.raises(TypeError, match=r"expects a django\.dispatch\.Signal, got 'post_save' \(str\)"):
        signal_to_event("post_save", event="x")  # type: ignore[arg-type]


def test_a_dropped_dispatcher_gets_nothing_from_its_signals(signal: Signal, recorder: Recorder) -> None:
    other = EventDispatcher(mode="sync")
    other.register("relayed", recorder)
    signal_to_event(signal, event="relayed", dispatcher=other)
    signal.send(sender=None)
    ref = weakref.ref(other)
    del other
    gc.collect()
    assert ref() is None  # the signal's receiver does not keep it alive
    signal.send(sender=None)  # ...and sends go on without it
    assert recorder.calls == [("relayed", {"sender": None})]


def test_each_new_dispatcher_gets_its_own_connection(signal: Signal) -> None:
    seen: list[int] = []
    receivers_before = len(signal.receivers)
    for i in range(50):  # a new dispatcher may take a dropped one's id()
        d = EventDispatcher(mode="sync")
        d.register("ping", lambda name, i=i, **kwargs: seen.append(i))
        signal_to_event(signal, event="ping", dispatcher=d)
        signal.send(sender=None)
        del d
        gc.collect()
    assert seen == list(range(50))
    assert len(signal.receivers) == receivers_before  # dropped dispatchers' relays are gone


def test_a_relay_whose_dispatcher_is_gone_does_nothing(recorder: Recorder) -> None:
    from django_events._signals import Relay

    other = EventDispatcher(mode="sync")
    other.register("relayed", recorder)
    relay = Relay("relayed", None, other)
    relay(sender=None)
    del other
    relay(sender=None)  # (a send racing the dispatcher's end)
    assert recorder.calls == [("relayed", {"sender": None})]
