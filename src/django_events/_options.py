"""Handler options: the public keywords, typed once, and one frozen object validated once.

``on(..., after_commit=True)``, ``register(..., queue="mail")``, ``@observes(...,
retries=3)`` and ``EventListener`` subclasses all take the same keywords
(``HandlerOptions``); ``Options.parse`` checks them once and says which delivery strategy
runs the handler: ``None`` for the dispatcher's own (inline or the gevent queue), the
after-commit one, or the task framework's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from typing_extensions import TypedDict

from .delivery import Delivery, commit, tasks
from .exceptions import describe, is_whole

__all__ = ["DEFAULT_QUEUE", "HandlerOptions", "Options", "QueueOptions"]

#: The queue a handler's tasks go to with ``queue=True``.
DEFAULT_QUEUE: Final = "default"
#: The most retries a queued handler may ask for.
MAX_RETRIES: Final = 20
#: Task priorities, as Django's task framework bounds them.
MIN_PRIORITY: Final = -100
MAX_PRIORITY: Final = 100


class HandlerOptions(TypedDict, total=False):
    """The keywords every way of registering a handler takes (``**options: Unpack[...]``)."""

    #: Deliver only when the transaction around the dispatch commits, never on rollback.
    after_commit: bool
    #: The database alias of that transaction (default: the event's own, else "default").
    using: str | None
    #: Run the handler in a worker of Django's task framework: True or a queue name.
    queue: bool | str
    #: The task's priority, from -100 to 100 (with ``queue``).
    priority: int | None
    #: Retries when the queued handler raises, from 0 to 20 (with ``queue``).
    retries: int


KEYWORDS: Final = frozenset(HandlerOptions.__annotations__)


@dataclass(frozen=True, slots=True)
class QueueOptions:
    """Where a queued handler's tasks go (Django's task framework), and how often to retry."""

    queue_name: str = DEFAULT_QUEUE
    priority: int | None = None
    retries: int = 0


@dataclass(frozen=True, slots=True)
class Options:
    """How one registration is delivered; build it with ``Options.parse``."""

    after_commit: bool = False
    using: str | None = None
    queue: QueueOptions | None = None
    #: The strategy that delivers the handler's events (None: the dispatcher's own mode).
    delivery: Delivery | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, options: Mapping[str, object]) -> Options:
        """Check the keywords of ``HandlerOptions``; a bad value is a TypeError naming it."""
        unknown = set(options) - KEYWORDS
        if unknown:
            raise TypeError(
                f"unknown handler option(s) {', '.join(sorted(unknown))}; "
                f"expected {', '.join(sorted(KEYWORDS))}"
            )
        after_commit = options.get("after_commit", False)
        using = options.get("using")
        if not isinstance(after_commit, bool):
            raise TypeError(f"after_commit must be True or False, got {describe(after_commit)}")
        if using is not None:
            if not isinstance(using, str) or not using:
                raise TypeError(f"using must be a database alias (str), got {describe(using)}")
            if not after_commit:
                raise TypeError(f"using={using!r} only applies with after_commit=True")
        queue = _queue_options(
            options.get("queue", False), options.get("priority"), options.get("retries", 0)
        )
        if queue is not None:
            return cls(after_commit, using, queue, tasks.DELIVERY)
        if after_commit:
            return cls(after_commit, using, None, commit.DELIVERY)
        return IMMEDIATE


#: The options of a handler registered with none: delivered by the dispatcher's mode.
IMMEDIATE: Final = Options()


def _queue_options(queue: object, priority: object, retries: object) -> QueueOptions | None:
    if queue is False or queue is None:
        if priority is not None:
            raise TypeError(f"priority={priority!r} only applies with queue=True or queue='name'")
        if retries != 0:
            raise TypeError(f"retries={retries!r} only applies with queue=True or queue='name'")
        return None
    if queue is True:
        queue = DEFAULT_QUEUE
    if not isinstance(queue, str) or not queue:
        raise TypeError(f"queue must be True, False or a queue name (str), got {describe(queue)}")
    if priority is not None and not (is_whole(priority) and MIN_PRIORITY <= priority <= MAX_PRIORITY):
        raise TypeError(
            f"priority must be None or a whole number from {MIN_PRIORITY} to {MAX_PRIORITY}, "
            f"got {describe(priority)}"
        )
    if not (is_whole(retries) and 0 <= retries <= MAX_RETRIES):
        raise TypeError(f"retries must be a whole number from 0 to {MAX_RETRIES}, got {describe(retries)}")
    return QueueOptions(queue, priority, retries)
