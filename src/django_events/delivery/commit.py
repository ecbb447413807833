"""After-commit handlers: an event reaches them only when the transaction around its
dispatch commits, never when it rolls back.

The decision is made at dispatch time, in the dispatching thread, through Django's
``transaction.on_commit`` (outside a transaction it runs at once); on commit the event
goes back to its dispatcher, which delivers those handlers in its mode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from django.db import transaction

from .._running import Context, Step
from . import Sink

__all__ = ["DELIVERY", "CommitDelivery"]


class CommitDelivery:
    rank: Final = 2  # after the immediate handlers, so that without a transaction they run first

    def send(
        self,
        sink: Sink,
        steps: Sequence[Step] | None,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        context: Context | None,
    ) -> None:
        event_alias = context.database if context is not None else None
        for alias in dict.fromkeys(step[2].commit_alias(event_alias) for step in steps or ()):
            transaction.on_commit(
                _on_commit(sink, name, args, kwargs, alias, context),
                using=alias,
                robust=True,  # a failing handler must not stop Django's other on_commit callbacks
            )

    def check_handler(self, handler: Callable[..., object], label: str) -> None:
        """Any callable can wait for a commit."""


def _on_commit(
    sink: Sink, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], alias: str, context: Context | None
) -> Callable[[], None]:
    def deliver_after_commit() -> None:  # Django logs a failure under this name
        sink.later(name, args, kwargs, alias, context)

    deliver_after_commit.__qualname__ = f"after-commit delivery of {name!r}"
    return deliver_after_commit


DELIVERY: Final = CommitDelivery()
