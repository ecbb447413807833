"""The task that runs queued handlers in a worker of Django's task framework.

``@on(OrderPaid, queue=True)`` makes a dispatch enqueue ``deliver(handler, target, name,
payload, attempt, signature)`` instead of calling the handler. The worker (``manage.py
db_worker`` for the database backend, or whatever runs your backend's tasks) imports this
module and runs ``deliver``, which first checks the signature (``SECRET_KEY``), then calls
the handler only when the worker's own process registered that dotted path as a queued
handler for that target and event, with arguments of the types the handler declared. Any
other task is refused (``RefusedTask``), logged, and fails without retries: write access to
the task store is neither code execution nor a way to feed other values to a handler.

The framework is ``django.tasks`` on Django 6.0+, and the ``django-tasks`` backport
before that.
"""

from __future__ import annotations

import contextvars
import datetime
import logging
from typing import TYPE_CHECKING, Any, Final

from django.utils import timezone

from ._live import live_registrations
from ._payload import decode, short, sign, verify
from .delivery import gevent
from .exceptions import RefusedTask, is_whole

if TYPE_CHECKING:
    from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, task, task_backends
    from django.tasks.exceptions import InvalidTask as InvalidTaskError

    from ._options import QueueOptions
    from ._routing import Registration
else:
    try:
        from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, exceptions, task, task_backends
    except ImportError:  # Django < 6.0: the backport
        from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, exceptions, task, task_backends
    # What the backend raises for a task it refuses (the backport's older name, or Django's).
    InvalidTaskError = getattr(exceptions, "InvalidTaskError", None) or exceptions.InvalidTask

__all__ = ["InvalidTaskError", "deliver", "enqueue", "place", "placement_problem", "task_backends"]

logger = logging.getLogger("django_events")

#: The queue ``queue=True`` means, the task framework's default queue name.
DEFAULT_QUEUE: Final = "default"
#: The delay before retry n is ``BACKOFF * 2 ** (n - 1)`` seconds, at most ``MAX_BACKOFF``.
BACKOFF: Final = 1.0
MAX_BACKOFF: Final = 300.0


#: ``deliver`` on each handler options' queue and priority, for first attempts: ``using``
#: builds and checks a new task each time (the backend checks it again at each enqueue).
_placed: dict[QueueOptions, Any] = {}


#: Set while this process enqueues: a backend that runs the task inside ``enqueue``
#: (``ImmediateBackend``, Celery's eager mode) runs ``deliver`` within the dispatching
#: code, whose own queue, drain and error policy then run what the handler dispatched.
_enqueuing: contextvars.ContextVar[bool] = contextvars.ContextVar("django_events_enqueuing", default=False)


def enqueue(
    registration: Registration, name: str, payload: str, attempt: int = 1, placed: Any = None
) -> None:
    """Enqueue one event for one queued handler, signed (retry ``attempt`` waits its backoff);
    ``placed``: the task ``place`` made for it."""
    token = _enqueuing.set(True)
    try:
        if placed is None:
            placed = place(registration, attempt)
        handler, target = registration.label, registration.target_key
        signature = sign(handler, target, name, payload, attempt)
        try:
            placed.enqueue(handler, target, name, payload, attempt, signature)
        except InvalidTaskError as exc:
            raise _named(registration, exc) from exc
    finally:
        _enqueuing.reset(token)


def place(registration: Registration, attempt: int = 1) -> Any:
    """``deliver`` on the handler's queue, with its priority (and a retry's backoff); an
    error (``InvalidTaskError``) when the backend refuses them."""
    options = registration.queue
    assert options is not None
    placed = _placed.get(options) if attempt == 1 else None
    if placed is None:
        try:
            placed = deliver.using(**_placement(options, attempt))
        except InvalidTaskError as exc:
            raise _named(registration, exc) from exc
        if attempt == 1:
            _placed[options] = placed
    return placed


def _named(registration: Registration, refused: Exception) -> Exception:
    """A task the backend refuses (``InvalidTaskError``), naming the handler and its options:
    one dispatch may reach many queued handlers."""
    options = registration.queue
    assert options is not None
    return InvalidTaskError(
        f"queued handler {registration.label} (queue={options.queue_name!r}, "
        f"priority={options.priority!r}): {refused}"
    )


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


def _text(what: str, value: object) -> str:
    if type(value) is not str:
        raise RefusedTask(f"refused a task: its {what} must be a str, got {short(value)}")
    return value


def _registered(
    handler: object, target: object, name: object, payload: object, attempt: object
) -> Registration:
    """The queued registration a verified task is for; a RefusedTask for anything else."""
    handler, target, name = _text("handler", handler), _text("target", target), _text("event name", name)
    _text("payload", payload)
    for registration in live_registrations():
        if (
            registration.queue is not None
            and registration.label == handler
            and registration.target_key == target
            and registration.matches(name)
        ):
            tries = registration.queue.retries + 1
            if not (is_whole(attempt) and 1 <= attempt <= tries):
                raise RefusedTask(
                    f"refused a task for handler {handler}: attempt {short(attempt)}, where the handler "
                    f"takes a whole number from 1 to {tries} (retries={registration.queue.retries})"
                )
            return registration
    raise RefusedTask(
        f"refused a task for handler {handler!r}, target {target!r} and event {name!r}: this process "
        "registered no queued handler of that path and target for that event"
    )


def _task_queue() -> str:
    """A queue the default backend accepts, for ``deliver`` itself (each enqueue picks its own)."""
    queues = task_backends[DEFAULT_TASK_BACKEND_ALIAS].queues
    return DEFAULT_QUEUE if not queues or DEFAULT_QUEUE in queues else min(queues)


@task(queue_name=_task_queue())
def deliver(handler: str, target: str, name: str, payload: str, attempt: int, signature: str = "") -> None:
    """Run one queued handler for one event, in the worker (every argument is signed; a task
    without a signature, one enqueued before tasks were signed among them, is refused)."""
    extra = {"event_name": name, "handler": handler}
    try:
        verify(handler, target, name, payload, attempt, signature)  # before anything is read
        registration = _registered(handler, target, name, payload, attempt)
        args, kwargs = decode(payload, registration.target, name, handler=handler)
    except Exception:
        logger.exception(
            "queued handler %s could not run for event %s", short(handler), short(name), extra=extra
        )
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
        # request end, and its hub may never get control. Not when the backend runs the
        # task inside the enqueue (ImmediateBackend): the thread's queue is the
        # dispatching code's, with events of its own that its drain raises the errors of.
        if not _enqueuing.get():
            gevent.drain(may_raise=False)
