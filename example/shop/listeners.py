"""Handlers, found by autodiscovery: modern decorators and legacy calls side by side."""

from __future__ import annotations

import os
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


@on(OrderPaid, queue="mail", after_commit=True)
def email_invoice(event: OrderPaid) -> None:
    """Runs in a task worker (manage.py db_worker), once the dispatching transaction commits."""
    print(f"  [worker pid {os.getpid()}] email_invoice got {event!r}", flush=True)
