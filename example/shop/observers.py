"""Model observers and model-event handlers, found by autodiscovery."""

from __future__ import annotations

from django_events import ModelObserver, changes, observes, on

from .events import OrderPaid
from .models import Order


@observes(Order)
class OrderObserver(ModelObserver[Order]):
    def created(self, instance: Order) -> None:
        print(f"  OrderObserver.created    {instance}")

    def updated(self, instance: Order) -> None:
        print(f"  OrderObserver.updated    {instance}, changes={changes(instance)}")

    def deleted(self, instance: Order) -> None:
        print(f"  OrderObserver.deleted    {instance}")


@on("events::db::.*::created")
def anything_created(name: str, instance: object) -> None:
    print(f"  @on('events::db::.*::created') got {name}")


@on(OrderPaid, after_commit=True)
def email_receipt(event: OrderPaid) -> None:
    print(f"  @on(OrderPaid, after_commit=True) emails a receipt for order {event.order_id}")
