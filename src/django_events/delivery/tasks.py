"""Queued handlers: one task per event and handler on Django's task framework.

The payload is encoded when the event is dispatched, in the caller, before any handler of
that event runs: a value that cannot go in it is a ``PayloadError`` there. Each handler's
task is signed and enqueued at once, or when the transaction commits (``after_commit=True``). The
worker side (the ``deliver`` task) is ``django_events.tasks``, imported on first enqueue:
the framework is only needed by projects with queued handlers.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Sequence
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any, Final

from django.core.exceptions import ImproperlyConfigured

from .._payload import encode
from .._running import Context, Step, beside_the_loop
from . import Sink
from .commit import when_committed

if TYPE_CHECKING:
    from .._routing import Registration

__all__ = ["DELIVERY", "TaskDelivery"]

logger = logging.getLogger("django_events")


class TaskDelivery:
    rank: Final = 0  # prepared first: the payload check refuses an event before any handler ran

    def prepare(
        self,
        sink: Sink,
        steps: Sequence[Step],
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        context: Context | None,
    ) -> Callable[[], None]:
        """Check the event now: its payload (a PayloadError), and each task to enqueue at once
        with the backend (its queue and priority), so that a refused one refuses the dispatch
        before any handler ran. The call returned enqueues the tasks; the dispatcher makes it
        once the event's other handlers were sent: a backend that runs a task when it is
        enqueued (the ImmediateBackend) then runs queued handlers after the immediate ones
        (sync mode), as ``resolve()`` lists them."""
        from ..tasks import place

        payload = encode(args, kwargs, name=name)
        placed = {step[2]: place(step[2]) for step in steps}  # (after_commit ones too)
        event_alias = context.database if context is not None else None
        # Enqueued where Django allows the ORM: from async code, in a thread of its own.
        return functools.partial(
            beside_the_loop, functools.partial(_hand_over, steps, name, payload, event_alias, placed)
        )

    def check_handler(self, handler: Callable[..., object], label: str) -> None:
        """A worker finds a queued handler by its dotted path: it must be a function with a
        stable one, and Django's task framework must be there."""
        if not (find_spec("django.tasks") or find_spec("django_tasks")):
            raise ImproperlyConfigured(
                f"handler {label} cannot be queued: queued handlers run on Django's task framework, "
                "built into Django 6.0+; before that, pip install 'django-typed-events[tasks]'"
            )
        if not inspect.isfunction(handler):  # a partial, a bound method, a callable object
            raise TypeError(
                f"handler {handler!r} ({type(handler).__name__}) cannot be queued: a worker finds "
                "queued handlers by dotted path, which only a plain function defined at module level has"
            )
        if "<" in label:  # <lambda>, <locals>
            raise TypeError(
                f"handler {label} cannot be queued: a worker finds queued handlers by dotted path, "
                "and a lambda or a function defined inside another function has none; define it "
                "at module level"
            )
        if label.startswith("__main__."):
            raise TypeError(
                f"handler {label} cannot be queued: it is defined in the script being run (__main__), "
                "which a worker does not import; define it in a module"
            )


def _hand_over(
    steps: Sequence[Step], name: str, payload: str, event_alias: str | None, placed: dict[Registration, Any]
) -> None:
    """Enqueue one task per handler, now (``placed``: its task, checked by the backend) or
    when the transaction commits."""
    from ..tasks import enqueue

    for _handler, _takes_event, registration in steps:
        if registration.after_commit:
            alias = registration.commit_alias(event_alias)
            when_committed(alias, _enqueue_after_commit(registration, name, payload, placed[registration]))
        else:
            enqueue(registration, name, payload, placed=placed[registration])


def _enqueue_after_commit(
    registration: Registration, name: str, payload: str, placed: Any
) -> Callable[[], None]:
    """The on_commit callback that enqueues one task (``placed``: checked by the backend at
    the dispatch); a failure is logged (the data committed)."""

    def enqueue_after_commit() -> None:
        from ..tasks import enqueue

        try:
            enqueue(registration, name, payload, placed=placed)
        except Exception:
            logger.exception(
                "queued handler %s: the task for event %r could not be enqueued after the commit; it is lost",
                registration.label,
                name,
                extra={"event_name": name, "handler": registration.label},
            )

    enqueue_after_commit.__qualname__ = f"after-commit enqueue of {name!r} for {registration.label}"
    return enqueue_after_commit


DELIVERY: Final = TaskDelivery()
