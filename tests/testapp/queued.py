"""Queued handlers that tests/test_worker.py runs in a real task worker.

The worker registers them at start-up (``TestAppConfig.ready`` when it is the worker);
each test registers them in its own process too, as a project's app would in both.
Every handler writes a HandlerRun row, which the test reads from the shared database.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from decimal import Decimal
from typing import Any

from django_events import (
    Event,
    EventDispatcher,
    EventListener,
    ModelObserver,
    Updated,
    dispatcher,
    observe_model,
    observes,
)
from tests.testapp import lazy  # noqa: F401  (in the worker's sys.modules: see test_worker)
from tests.testapp.models import Customer, HandlerRun, Order, Shipment


@dataclasses.dataclass(frozen=True)
class Line:
    sku: str
    quantity: int


@dataclasses.dataclass
class Tripwire:
    """A dataclass whose construction leaves a trace: a forged payload must never build it."""

    note: str

    def __post_init__(self) -> None:  # pragma: no cover - only when a test fails
        HandlerRun.objects.create(handler="Tripwire.__post_init__", event=self.note)


class Paid(Event, frozen=True):
    order: Order
    amount: Decimal
    at: datetime.datetime
    day: datetime.date
    ref: uuid.UUID
    line: Line
    tags: tuple[str, ...]
    extra: dict[str, Any]


class Flaky(Event):
    key: str


class Doomed(Event):
    key: str


def record_paid(event: Paid) -> None:
    HandlerRun.objects.create(handler="paid", event=event.event_name, detail=repr(event))


def record_mail(name: str, *args: Any, **kwargs: Any) -> None:
    HandlerRun.objects.create(handler="mail", event=name, detail=repr((args, kwargs)))


def flaky(event: Flaky) -> None:
    attempt = HandlerRun.objects.filter(handler="flaky").count() + 1
    started = datetime.datetime.now(datetime.timezone.utc).isoformat()  # before it enqueues its retry
    HandlerRun.objects.create(handler="flaky", event=event.key, attempt=attempt, detail=started)
    if attempt < 3:
        raise RuntimeError(f"flaky fails on attempt {attempt}")


def doomed(event: Doomed) -> None:
    HandlerRun.objects.create(handler="doomed", event=event.key)
    raise RuntimeError(f"doomed fails for {event.key}")


def unlucky(name: str, *args: Any) -> None:
    """Registered by tests/test_worker.py itself, on a queue the backend refuses."""
    raise RuntimeError(f"unlucky {name}")


def customer_created(name: str, instance: Customer) -> None:
    HandlerRun.objects.create(handler="customer", event=name, detail=instance.name)


@observes(Shipment, queue=True, priority=-5)
class ShipmentIndexer(ModelObserver[Shipment]):
    """Registered at import, in the tests and in the worker; only worker tests save Shipments."""

    def created(self, instance: Shipment) -> None:
        HandlerRun.objects.create(handler="shipment.created", event=instance.code)

    def updated(self, instance: Shipment) -> None:
        HandlerRun.objects.create(handler="shipment.updated", event=instance.code)


class Webhooks(EventListener, queue="mail", retries=1):
    """A legacy listener whose handle() runs in the worker; only worker tests dispatch these names."""

    listensFor = (r"worker::webhook::.*",)

    def handle(self, event: Any, *args: Any, **kwargs: Any) -> None:
        HandlerRun.objects.create(handler="webhook", event=event, detail=repr((args, kwargs)))


class Noted(Event):
    text: str


class NoteTaker(EventListener, queue=True):
    """Two targets that both match a Noted event: each task must run its own entry."""

    listensFor = (Noted, r"tests::testapp::queued::Not.d")

    def handle(self, event: Any, *args: Any, **kwargs: Any) -> None:
        HandlerRun.objects.create(handler="notes", event=repr(event), detail=repr(args))


class Relayed(Event):
    key: str


def relay(event: Relayed) -> None:
    """A queued handler that dispatches an event to an in-process handler of the worker."""
    dispatcher.dispatch("worker::relayed", event.key)


def record_relayed(name: str, key: str) -> None:
    HandlerRun.objects.create(handler="relayed", event=key)


class Greeted(Event):
    key: str


async def greet(event: Greeted) -> None:
    """An async queued handler: the worker runs it to completion (with the async ORM)."""
    await HandlerRun.objects.acreate(handler="greet", event=event.key)


def customer_renamed(event: Updated[Customer]) -> None:
    """A queued typed model event: the worker loads the instance again; no changes there."""
    detail = f"{event.instance.name} {event.using} {event.raw} {event.changes}"
    HandlerRun.objects.create(handler="customer.updated", event=event.event_name, detail=detail)


class Counted(Event):
    key: int


def record_counted(event: Counted) -> None:
    """Four workers on PostgreSQL share 2,000 of these: one row per run, keyed by the event."""
    HandlerRun.objects.create(handler="counted", event=str(event.key))


def register(target: EventDispatcher = dispatcher) -> None:
    observe_model(Customer, dispatcher=target)
    target.register(Paid, record_paid, queue=True, priority=10)
    target.register("worker::mail::.*", record_mail, queue="mail", after_commit=True)
    target.register(Flaky, flaky, queue=True, retries=2)
    target.register(Doomed, doomed, queue=True)
    target.register(r"events::db::tests::testapp::models::Customer::created", customer_created, queue=True)
    target.register(Relayed, relay, queue=True)
    target.register(Greeted, greet, queue=True)
    target.register(Updated[Customer], customer_renamed, queue=True)
    target.register(Counted, record_counted, queue=True)
    target.register("worker::relayed", record_relayed)  # in-process, in the worker
