"""Typing tests for model events, observers and SignalToEvent (checked by mypy, never run)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from typing_extensions import assert_type

from django_events import (
    BulkCreated,
    BulkUpdated,
    Created,
    Deleted,
    Event,
    ModelObserver,
    Observer,
    QuerySetUpdated,
    RegisterSignalsFor,
    SignalToEvent,
    Updated,
    changes,
    observe_model,
    observes,
    on,
    signal_to_event,
)
from tests.testapp.models import Customer, Order


@observes(Order)
class OrderObserver(ModelObserver[Order]):
    def created(self, instance: Order) -> None: ...

    def updated(self, instance: Order) -> None:
        assert_type(changes(instance), dict[str, tuple[Any, Any]])


@observes(Order)
class WrongModel(ModelObserver[Order]):
    def created(self, instance: Customer) -> None: ...  # type: ignore[override]


@observes(Order)
class AsyncOrderObserver(ModelObserver[Order]):
    async def created(self, instance: Order) -> None: ...


@observes(Order)
class AsyncWrongModel(ModelObserver[Order]):
    async def created(self, instance: Customer) -> None: ...  # type: ignore[override]


@observes(Order, after_commit=True, using="default")
class PlainObserver:  # a plain class works too (unchecked methods)
    def deleted(self, instance: Order) -> None: ...


@observes(Order, queue="search", priority=-5, retries=2)
class QueuedObserver(ModelObserver[Order]):
    def created(self, instance: Order) -> None: ...

    def updated(self, instance: Customer) -> None: ...  # type: ignore[override]


observes(Order, queue=3)  # type: ignore[arg-type]
observes(Order, after_commit="yes")  # type: ignore[arg-type]
observes("shop.Order")  # type: ignore[arg-type]
observe_model(Order)
RegisterSignalsFor(Customer)
observe_model(42)  # type: ignore[arg-type]


class LegacyObserver(Observer):
    observes = Order

    def created(self, eventName: str, instance: Order) -> None: ...


class Saved(Event):
    instance: Order


SignalToEvent(post_save, event="saved", sender=Order)
SignalToEvent(post_save, event=Saved, sender=Order)
SignalToEvent(post_save, hook=lambda sender, **kwargs: "saved")
SignalToEvent(post_save, event=42)  # type: ignore[arg-type]
SignalToEvent(post_save, hook=lambda sender, **kwargs: 42)  # legacy: str(42) is the name
signal_to_event(post_save, hook=lambda sender, **kwargs: 42)  # type: ignore[arg-type]


# -- typed model events ---------------------------------------------------------------------------


@on(Created[Order])
def order_created(event: Created[Order]) -> None:
    assert_type(event.instance, Order)
    assert_type(event.using, str)
    assert_type(event.raw, bool)
    event.changes  # type: ignore[attr-defined]


@on(Updated[Order])
async def order_updated(event: Updated[Order]) -> None:
    assert_type(event.changes, dict[str, tuple[Any, Any]])


@on(Created[Order])  # type: ignore[arg-type]
def customer_handler(event: Created[Customer]) -> None: ...


@on(Created[Order], Deleted[Order])
def created_or_deleted(event: Created[Order] | Deleted[Order]) -> None: ...


not_a_model: Created[int]  # type: ignore[type-var]


# -- bulk events ----------------------------------------------------------------------------------


@on(BulkCreated[Order])
def orders_created(event: BulkCreated[Order]) -> None:
    assert_type(event.instances, list[Order])
    assert_type(event.using, str)


@on(QuerySetUpdated[Order])
def orders_updated(event: QuerySetUpdated[Order]) -> None:
    assert_type(event.pks, list[Any])
    assert_type(event.values, dict[str, Any])


@on(BulkUpdated[Order])  # type: ignore[arg-type]
def wrong_model(event: BulkUpdated[Customer]) -> None: ...
