"""Typing tests for django_events.testing (checked by mypy, never run)."""

from __future__ import annotations

from decimal import Decimal

from typing_extensions import assert_type

from django_events import Dispatcher, Event
from django_events.testing import (
    Capture,
    DispatchedEvent,
    EventsTestCaseMixin,
    assert_dispatched,
    assert_not_dispatched,
    capture_events,
    fake_events,
)


class OrderPaid(Event):
    order_id: int
    amount: Decimal


assert_dispatched(OrderPaid, where=lambda e: e.amount > 0)


class Refunded(Event):
    order_id: int


def is_big(event: OrderPaid) -> bool:
    return event.amount > 100


def is_refund(event: Refunded) -> bool:
    return True


def is_created(record: DispatchedEvent) -> bool:
    return record.name.endswith("::created")


assert_dispatched(OrderPaid, where=is_big, times=2)
assert_dispatched(OrderPaid, where=is_refund)  # type: ignore[arg-type]
assert_dispatched("events::db::.*", where=is_created)
assert_dispatched("events::db::.*", where=is_big)  # type: ignore[arg-type]
assert_dispatched(OrderPaid, where=lambda e: e.no_such_field)  # type: ignore[attr-defined]
assert_dispatched("events::db::.*", where=lambda r: r.args == ())
assert_not_dispatched(OrderPaid, where=lambda e: e.amount < 0)
assert_dispatched(OrderPaid, times="twice")  # type: ignore[call-overload]

with capture_events() as capture:
    assert_type(capture, Capture)
    capture.assert_dispatched(OrderPaid, where=lambda e: e.amount > 0)
    capture.assert_dispatched(OrderPaid, where=lambda e: e.nope)  # type: ignore[attr-defined]

with fake_events(only=[OrderPaid, "mail::.*"]) as fake:
    assert_type(fake.names, list[str])


class TestLegacy:
    @Dispatcher.MocksDispatch
    def test_something(self) -> None:
        Dispatcher.Expect(OrderPaid)
        Dispatcher.Expect("some::event")


class TestWithTheMixin(EventsTestCaseMixin):
    def test_something(self) -> None:
        self.assertEventDispatched(OrderPaid, where=lambda e: e.amount > 0, times=1)
        self.assertEventDispatched(OrderPaid, where=lambda e: e.nope)  # type: ignore[attr-defined]
        self.assertEventDispatched(OrderPaid, where=is_refund)  # type: ignore[arg-type]
        self.assertEventDispatched("events::db::.*", where=is_created)
        self.assertEventDispatched("events::db::.*", where=is_big)  # type: ignore[arg-type]
        self.assertEventNotDispatched(OrderPaid, where=lambda e: e.amount < 0)
        self.assertEventNotDispatched(OrderPaid, where=lambda e: e.nope)  # type: ignore[attr-defined]
        self.assertEventNotDispatched("mail::.*", where=lambda r: r.args == ())
