"""Handlers, found by autodiscovery: modern decorators and legacy calls side by side."""

from __future__ import annotations

from typing import Any

from django_events import Dispatcher, EventListener, on

from .events import LegacyOrderShipped, OrderPaid


@on(OrderPaid)
def send_receipt(event: OrderPaid) -> None:
    print(f"  @on(OrderPaid)           send_receipt got {event!r}")


@on("shop::.*")
def audit(name: str, *args: Any, **kwargs: Any) -> None:
    print(f"  @on('shop::.*')          audit got {name} args={args!r}")


def legacy_handler(name: str, *args: Any, **kwargs: Any) -> None:
    print(f"  RegisterHandler(...)     legacy_handler got {name} args={args!r} kwargs={kwargs!r}")


Dispatcher.RegisterHandler("shop::legacy::.*", legacy_handler)


class ShippingListener(EventListener):
    listensFor = (LegacyOrderShipped, "shop::stock::.*")

    def handle(self, event: Any, *args: Any, **kwargs: Any) -> None:
        print(f"  EventListener            ShippingListener.handle got {event!r} args={args!r}")


@on("shop::stock::low")
def flaky(name: str, *args: Any) -> None:
    raise RuntimeError("the stock service is down")
