"""Sync mode: the handlers run before ``dispatch`` returns.

``run`` itself is the strategy: an event dispatched by a handler waits for the current
event's handlers, then runs before the outermost ``dispatch`` returns (the order of gevent
mode); nothing waits in a queue.
"""

from __future__ import annotations

from collections.abc import Callable

from .._running import run
from . import MODE_RANK

__all__ = ["DELIVERY", "InlineDelivery"]


class InlineDelivery:
    rank = MODE_RANK
    send = staticmethod(run)

    def check_handler(self, handler: Callable[..., object], label: str) -> None:
        """Any callable can run inline."""


DELIVERY = InlineDelivery()
