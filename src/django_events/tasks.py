"""The task that runs queued handlers in a worker of Django's task framework.

``@on(OrderPaid, queue=True)`` makes a dispatch enqueue ``deliver(handler, name,
payload)`` instead of calling the handler. The worker (``manage.py db_worker`` for the
database backend, or whatever runs your backend's tasks) imports this module and runs
``deliver``, which calls the handler only when the worker's own process registered that
dotted path as a queued handler: a task that names anything else is refused and logged,
so write access to the task store is not code execution.

The framework is ``django.tasks`` on Django 6.0+, and the ``django-tasks`` backport
before that.
"""

from __future__ import annotations

import datetime
import logging
from typing import TYPE_CHECKING, Any, Final

from django.utils import timezone

from ._live import live_registrations
from ._payload import decode
from .delivery import gevent
from .exceptions import RefusedTask

if TYPE_CHECKING:
    from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, task, task_backends

    from ._options import QueueOptions
    from ._routing import Registration
else:
    try:
        from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, task, task_backends
    except ImportError:  # Django < 6.0: the backport
        from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, task, task_backends

__all__ = ["deliver", "enqueue", "placement_problem"]

logger = logging.getLogger("django_events")

#: The queue ``queue=True`` means, the task framework's default queue name.
DEFAULT_QUEUE: Final = "default"
#: The delay before retry n is ``BACKOFF * 2 ** (n - 1)`` seconds, at most ``MAX_BACKOFF``.
BACKOFF: Final = 1.0
MAX_BACKOFF: Final = 300.0


def enqueue(registration: Registration, name: str, payload: dict[str, Any], attempt: int = 1) -> None:
    """Enqueue one event for one queued handler (retry ``attempt`` waits its backoff)."""
    options = registration.queue
    assert options is not None
    placed = deliver.using(**_placement(options, attempt))
    placed.enqueue(registration.label, registration.target_key, name, payload, attempt)


def _placement(options: QueueOptions, attempt: int) -> dict[str, Any]:
    placement: dict[str, Any] = {"queue_name": options.queue_name}
    if options.priority is not None:
        placement["priority"] = options.priority
    if attempt > 1 and deliver.get_backend().supports_defer:
        delay = min(BACKOFF * 2 ** (attempt - 2), MAX_BACKOFF)
        placement["run_after"] = timezone.now() + datetime.timedelta(seconds=delay)
    return placement


def placement_problem(options: QueueOptions) -> str | None:
    """Why the task backend would refuse this queue name or priority, or None (system check)."""
    try:
        deliver.using(**_placement(options, 1))
    except Exception as exc:  # InvalidTaskError, or a backend that is not configured
        return f"{type(exc).__name__}: {exc}"
    return None


def _registered(handler: str, target: str, name: str) -> Registration:
    for registration in live_registrations():
        if (
            registration.queue is not None
            and registration.label == handler
            and registration.target_key == target
            and registration.matches(name)
        ):
            return registration
    raise RefusedTask(
        f"refused a task for handler {handler!r}, target {target!r} and event {name!r}: this process "
        "registered no queued handler of that path and target for that event"
    )


def _checked(registration: Registration, payload: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The decoded arguments; a typed handler gets only an instance of its own Event class."""
    args, kwargs = decode(payload)
    target = registration.target
    if not isinstance(target, str) and not registration.fits(args, kwargs):
        raise RefusedTask(
            f"refused a task for handler {registration.label}: it takes {target.__qualname__}, "
            f"the task carries args={args!r} kwargs={kwargs!r}"
        )
    return args, kwargs


def _task_queue() -> str:
    """A queue the default backend accepts, for ``deliver`` itself (each enqueue picks its own)."""
    queues = task_backends[DEFAULT_TASK_BACKEND_ALIAS].queues
    return DEFAULT_QUEUE if not queues or DEFAULT_QUEUE in queues else min(queues)


@task(queue_name=_task_queue())
def deliver(handler: str, target: str, name: str, payload: dict[str, Any], attempt: int = 1) -> None:
    """Run one queued handler for one event, in the worker."""
    extra = {"event_name": name, "handler": handler}
    try:
        registration = _registered(handler, target, name)
        args, kwargs = _checked(registration, payload)
    except Exception:
        logger.exception("queued handler %s could not run for event %r", handler, name, extra=extra)
        raise
    try:
        if registration.takes_event:  # (an async handler runs to completion: ``call``)
            registration.call(args[0])
        else:
            registration.call(name, *args, **kwargs)
    except Exception as exc:
        options = registration.queue
        assert options is not None
        retrying = attempt <= options.retries
        if retrying:
            try:
                enqueue(registration, name, payload, attempt + 1)
            except Exception:
                logger.exception("queued handler %s: its retry could not be enqueued", handler, extra=extra)
                retrying = False
        logger.error(
            "queued handler %s failed for event %r (attempt %d of %d%s)",
            handler,
            name,
            attempt,
            options.retries + 1,
            ", retrying" if retrying else "",
            exc_info=exc,
            extra=extra,
        )
        raise
    finally:
        # Events the handler dispatched to in-process handlers run now: a worker has no
        # request end, and its hub may never get control.
        gevent.drain(may_raise=False)
