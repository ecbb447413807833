from __future__ import annotations

import asyncio
import re
from decimal import Decimal
from typing import Any

import pytest
from django.test import TestCase

from django_events import Dispatcher, Event, EventDispatcher, dispatcher, on
from django_events.testing import (
    Capture,
    DispatchedEvent,
    EventsTestCaseMixin,
    assert_dispatched,
    assert_listening,
    assert_not_dispatched,
    assert_nothing_dispatched,
    capture_events,
    expect,
    fake_events,
    mocks_dispatch,
)
from tests.conftest import Recorder


class OrderPaid(Event):
    order_id: int
    amount: Decimal


class Refunded(Event):
    order_id: int


# -- the seed README's "Testing" section, unchanged but for the import ----------------------------


class TestExample(TestCase):
    @Dispatcher.MocksDispatch
    def test_SignalToEvent(self) -> None:
        Dispatcher.Expect("some::event::to::be::fired")
        Dispatcher.Dispatch("some::event::to::be::fired")


class TestMixin(EventsTestCaseMixin, TestCase):
    def test_assertions(self) -> None:
        handler = Recorder()
        on(OrderPaid)(handler)
        OrderPaid(1, Decimal(5)).dispatch()
        self.assertEventDispatched(OrderPaid, where=lambda e: e.amount == 5, times=1)
        self.assertEventNotDispatched(Refunded)
        self.assertListening(OrderPaid, handler)
        assert handler.calls == [(OrderPaid(1, Decimal(5)),)]  # sync mode, handlers ran

    def test_nothing(self) -> None:
        self.assertNoEventsDispatched()
        Dispatcher.Dispatch("x")
        with pytest.raises(AssertionError, match="expected no event"):
            self.assertNoEventsDispatched()


def test_mixin_restores_the_registry() -> None:
    before = dispatcher.registrations
    result = TestMixin("test_assertions").run()
    assert result is not None
    assert result.wasSuccessful(), result.failures
    assert dispatcher.registrations == before


# -- MocksDispatch and Expect ----------------------------------------------------------------------


def test_a_missing_expected_event_fails_naming_it_and_what_was_dispatched() -> None:
    @Dispatcher.MocksDispatch
    def test_body() -> None:
        Dispatcher.Expect("never::fired")
        Dispatcher.Expect(Refunded)
        Dispatcher.Dispatch("something::else", 1)

    with pytest.raises(AssertionError) as info:
        test_body()
    assert str(info.value) == (
        "expected event(s) not dispatched: 'never::fired', 'tests::test_testing::Refunded'. "
        "Dispatched (1):\n  1. something::else(1)"
    )


def test_expected_events_do_not_reach_handlers_others_flow(recorder: Recorder) -> None:
    Dispatcher.RegisterHandler(".*", recorder)

    @Dispatcher.MocksDispatch
    def test_body() -> None:
        Dispatcher.Expect(OrderPaid)
        OrderPaid(1, Decimal(1)).dispatch()
        Dispatcher.Dispatch("not::expected")
        assert recorder.calls == [("not::expected",)]  # sync inside: already ran

    test_body()
    assert recorder.calls == [("not::expected",)]


def test_registry_and_mode_are_restored_even_when_the_test_raises(recorder: Recorder) -> None:
    Dispatcher.RegisterHandler("before", recorder)
    before = Dispatcher.registrations

    @Dispatcher.MocksDispatch
    def test_body() -> None:
        assert Dispatcher.mode == "sync"
        Dispatcher.RegisterHandler("inside", recorder)
        Dispatcher.Expect("never")  # the test's own error wins over this one
        raise KeyError("the test failed")

    with pytest.raises(KeyError, match="the test failed"):
        test_body()
    assert Dispatcher.registrations == before
    assert Dispatcher.mode == "gevent"
    Dispatcher.Dispatch("before")
    Dispatcher.ClearQueue()
    assert recorder.calls == [("before",)]  # handlers registered before still run after


def test_mocks_dispatch_on_coroutines() -> None:
    @mocks_dispatch
    async def test_body() -> str:
        expect("async::event")
        Dispatcher.Dispatch("async::event")
        return "ok"

    assert asyncio.run(test_body()) == "ok"

    @mocks_dispatch
    async def failing() -> None:
        expect("async::missing")

    with pytest.raises(AssertionError, match="'async::missing'"):
        asyncio.run(failing())


def test_mocks_dispatch_on_another_dispatcher() -> None:
    other = EventDispatcher(mode="gevent")

    @other.MocksDispatch
    def test_body() -> None:
        other.Expect("x")
        other.dispatch("x")

    test_body()
    assert other.mode == "gevent"


def test_expect_outside_mocks_dispatch() -> None:
    with pytest.raises(
        RuntimeError, match=r"Expect\(\) works inside a test decorated with Dispatcher.MocksDispatch"
    ):
        Dispatcher.Expect("x")


# -- capture_events and fake_events --------------------------------------------------------------


def test_capture_records_while_handlers_run(recorder: Recorder) -> None:
    on(".*")(recorder)
    modes = [dispatcher.mode]
    with capture_events() as capture:
        modes.append(dispatcher.mode)
        Dispatcher.Dispatch("a::b", 1, k=2)
        paid = OrderPaid(1, Decimal(2))
        paid.dispatch()
        Dispatcher.Dispatch("nobody::listens::but::recorded")
    modes.append(dispatcher.mode)
    assert modes == ["gevent", "sync", "gevent"]
    assert capture.events == [
        DispatchedEvent("a::b", (1,), {"k": 2}, None),
        DispatchedEvent(OrderPaid.event_name, (paid,), {}, paid),
        DispatchedEvent("nobody::listens::but::recorded", (), {}, None),
    ]
    assert len(recorder.calls) == 3
    assert len(capture) == 3
    assert list(capture) == capture.events
    assert capture.names == ["a::b", OrderPaid.event_name, "nobody::listens::but::recorded"]
    assert capture.matching("a::.*") == capture.events[:1]
    assert capture.matching(OrderPaid, where=lambda e: e.order_id == 1) == capture.events[1:2]


def test_capture_on_an_isolated_dispatcher(sync: EventDispatcher) -> None:
    with capture_events(sync) as capture:
        sync.dispatch("x")
        Dispatcher.Dispatch("elsewhere")
    assert capture.names == ["x"]
    assert capture.dispatcher is sync


def test_nested_captures_both_record() -> None:
    with capture_events() as outer, capture_events() as inner:
        Dispatcher.Dispatch("x")
    assert outer.names == inner.names == ["x"]


def test_fake_everything(recorder: Recorder) -> None:
    on(".*")(recorder)
    with fake_events() as fake:
        Dispatcher.Dispatch("a")
        OrderPaid(1, Decimal(1)).dispatch()
    assert fake.names == ["a", OrderPaid.event_name]
    assert recorder.calls == []


def test_fake_only_some(recorder: Recorder) -> None:
    on(".*")(recorder)
    with fake_events(only=[OrderPaid, "mail::.*"]) as fake:
        OrderPaid(1, Decimal(1)).dispatch()
        Dispatcher.Dispatch("mail::send")
        Dispatcher.Dispatch("audit")
    assert fake.names == [OrderPaid.event_name, "mail::send", "audit"]
    assert recorder.calls == [("audit",)]


def test_fake_all_except_some(recorder: Recorder) -> None:
    on(".*")(recorder)
    with fake_events(except_=["audit"]):
        Dispatcher.Dispatch("mail::send")
        Dispatcher.Dispatch("audit")
    assert recorder.calls == [("audit",)]


@pytest.mark.parametrize("option", ["only", "except_"])
def test_fake_takes_one_target_without_a_list(option: str, recorder: Recorder) -> None:
    on(".*")(recorder)
    options: dict[str, Any] = {option: "mail::.*"}
    with fake_events(**options):  # one pattern, not the characters of a string
        Dispatcher.Dispatch("mail::send")
        Dispatcher.Dispatch("m")
    assert recorder.calls == ([("m",)] if option == "only" else [("mail::send",)])


# -- assertions ------------------------------------------------------------------------------


@pytest.fixture
def capture() -> Capture:
    with capture_events() as capture:
        OrderPaid(1, Decimal("9.99")).dispatch()
        OrderPaid(2, Decimal("0")).dispatch()
        Dispatcher.Dispatch("events::db::shop::models::Order::created", "order")
    return capture


def test_assert_dispatched(capture: Capture) -> None:
    capture.assert_dispatched(OrderPaid)
    capture.assert_dispatched(OrderPaid, times=2)
    capture.assert_dispatched(OrderPaid, where=lambda e: e.amount > 0, times=1)
    capture.assert_dispatched("events::db::.*::created", where=lambda r: r.args == ("order",))
    capture.assert_dispatched(Refunded, times=0)


def test_assert_dispatched_failure_shows_what_was_dispatched(capture: Capture) -> None:
    with pytest.raises(AssertionError) as info:
        capture.assert_dispatched(Refunded)
    assert str(info.value) == (
        "expected Refunded to be dispatched at least once, it was dispatched 0 time(s). Dispatched (3):\n"
        f"  1. {OrderPaid.event_name} OrderPaid(order_id=1, amount=Decimal('9.99'))\n"
        f"  2. {OrderPaid.event_name} OrderPaid(order_id=2, amount=Decimal('0'))\n"
        "  3. events::db::shop::models::Order::created('order')"
    )


def test_assert_dispatched_times_and_where_in_the_message(capture: Capture) -> None:
    def big(event: OrderPaid) -> bool:
        return event.amount > 100

    with pytest.raises(
        AssertionError,
        match=r"^expected OrderPaid where .*\.big to be dispatched 3 time\(s\), it was dispatched 0",
    ):
        capture.assert_dispatched(OrderPaid, where=big, times=3)
    with pytest.raises(
        AssertionError, match=r"expected OrderPaid to be dispatched 1 time\(s\), it was dispatched 2"
    ):
        capture.assert_dispatched(OrderPaid, times=1)
    with pytest.raises(ValueError, match=r"times must be a whole number >= 0, got -1 \(int\)"):
        capture.assert_dispatched(OrderPaid, times=-1)


def test_assert_not_dispatched(capture: Capture) -> None:
    capture.assert_not_dispatched(Refunded)
    capture.assert_not_dispatched(OrderPaid, where=lambda e: e.order_id == 3)
    with pytest.raises(
        AssertionError, match=r"expected 'events::db::.\*' not to be dispatched, it was dispatched 1"
    ):
        capture.assert_not_dispatched("events::db::.*")


def test_assert_nothing_dispatched() -> None:
    with capture_events() as capture:
        capture.assert_nothing_dispatched()
        Dispatcher.Dispatch("x")
        with pytest.raises(
            AssertionError, match=re.escape("expected no event to be dispatched. Dispatched (1):\n  1. x()")
        ):
            capture.assert_nothing_dispatched()


def test_module_level_assertions_use_the_innermost_capture() -> None:
    with capture_events():
        Dispatcher.Dispatch("outer")
        with capture_events():
            assert_nothing_dispatched()
            Dispatcher.Dispatch("inner")
            assert_dispatched("inner")
            assert_not_dispatched("outer")
        assert_dispatched("outer")
        assert_dispatched("inner")


def test_module_level_assertions_need_a_capture() -> None:
    with pytest.raises(RuntimeError, match=r"assert_dispatched\(\) needs an active capture_events\(\)"):
        assert_dispatched("x")
    with pytest.raises(RuntimeError, match=r"assert_not_dispatched\(\) needs"):
        assert_not_dispatched("x")
    with pytest.raises(RuntimeError, match=r"assert_nothing_dispatched\(\) needs"):
        assert_nothing_dispatched()


def test_assert_listening(recorder: Recorder, sync: EventDispatcher) -> None:
    on(OrderPaid)(recorder)
    assert_listening(OrderPaid, recorder)
    with pytest.raises(
        AssertionError,
        match=r"expected builtins.print to listen to OrderPaid; listening: tests.conftest.Recorder",
    ):
        assert_listening(OrderPaid, print)
    with pytest.raises(AssertionError, match=r"to listen to 'x'; listening: nobody"):
        assert_listening("x", recorder)
    on("x", dispatcher=sync)(recorder)
    assert_listening("x", recorder, dispatcher=sync)
    with capture_events(sync) as capture:
        capture.assert_listening("x", recorder)


def test_captures_of_several_greenlets_may_end_in_any_order() -> None:
    import gevent
    import gevent.event

    shared = EventDispatcher(mode="gevent")
    first_in, second_in, first_may_end = gevent.event.Event(), gevent.event.Event(), gevent.event.Event()

    def first() -> None:
        with capture_events(shared):
            first_in.set()
            first_may_end.wait()  # ends while the second capture is still on

    def second() -> None:
        first_in.wait()
        with capture_events(shared):
            second_in.set()
            gevent.sleep(0.01)

    greenlets = [gevent.spawn(first), gevent.spawn(second)]
    second_in.wait()
    during = shared.mode
    first_may_end.set()
    for greenlet in greenlets:
        greenlet.get(timeout=5)
    assert (during, shared.mode) == ("sync", "gevent")  # not left in a capture's sync mode
