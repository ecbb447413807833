"""The shop's typed events."""

from __future__ import annotations

from decimal import Decimal

from django_events import Event


class OrderPaid(Event, frozen=True):
    order_id: int
    amount: Decimal


class LegacyOrderShipped(Event):
    """An event in the original package's style: its own __init__, a custom Name."""

    Name = "shop::legacy::OrderShipped"

    def __init__(self, order_id: int, carrier: str) -> None:
        self.order_id = order_id
        self.carrier = carrier

    def __repr__(self) -> str:
        return f"LegacyOrderShipped({self.order_id!r}, {self.carrier!r})"
