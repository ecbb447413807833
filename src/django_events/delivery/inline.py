"""Sync mode: the handlers run before ``dispatch`` returns.

``run`` itself is the strategy: plain calls, as Django's ``Signal.send`` makes; an event a
handler dispatches is handled inside that handler's ``dispatch`` call. Nothing waits in a
queue.
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
