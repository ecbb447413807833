"""Scenario 8: enqueueing one event for one queued handler, against a plain ``Task.enqueue``.

Both go to the database backend of Django's task framework (django-tasks-db) on a SQLite
file, one autocommitted row per enqueue. Ours encodes the event as JSON by its fields'
declared types, picks the route's queued handler, signs the task (``django.core.signing``)
and enqueues ``django_events.tasks.deliver``; the peer enqueues a task of its own with the
event's fields as JSON arguments, unsigned, which is what a project writes by hand without
django_events. Each enqueue is counted through the framework's
``task_enqueued`` signal, so a path that enqueues nothing cannot look fast.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.core.management import call_command

from django_events import Event, EventDispatcher

from ._harness import Case, Counter, Target, ratio

if TYPE_CHECKING or find_spec("django.tasks"):
    from django.tasks import task
    from django.tasks.signals import task_enqueued
else:
    from django_tasks import task
    from django_tasks.signals import task_enqueued

#: The database alias the task rows go to (a SQLite file; see _harness.setup_django).
TASKS_DATABASE = "tasks"


class InvoiceRequested(Event, frozen=True):
    order_id: int
    amount: Decimal


def email_invoice(event: InvoiceRequested) -> None:
    """The queued handler (never runs here: no worker)."""


@task()
def email_invoice_task(order_id: int, amount: str) -> None:
    """The same work as a hand-written task."""


def tasks_label() -> str:
    """The app label of django_tasks_db (not its module name)."""
    (label,) = [config.label for config in apps.get_app_configs() if config.name == "django_tasks_db"]
    return label


class TasksRouter:
    """django_tasks_db's rows live in the SQLite file, everything else in memory."""

    def _route(self, model: type[Any], **hints: object) -> str | None:
        return TASKS_DATABASE if model._meta.app_label == tasks_label() else None

    db_for_read = db_for_write = _route

    def allow_migrate(self, db: str, app_label: str, **hints: object) -> bool:
        return (db == TASKS_DATABASE) == (app_label == tasks_label())


def scenarios() -> tuple[list[tuple[str, list[Case]]], Callable[[], list[Target]]]:
    call_command("migrate", tasks_label(), database=TASKS_DATABASE, verbosity=0)
    counters: dict[str, Counter] = {"deliver": Counter(), "email_invoice_task": Counter()}

    def count(sender: object, task_result: Any, **kwargs: object) -> None:
        counters[task_result.task.func.__name__].calls += 1

    task_enqueued.connect(count, weak=False)

    dispatcher = EventDispatcher(mode="sync")
    dispatcher.register(InvoiceRequested, email_invoice, queue=True)
    event = InvoiceRequested(order_id=1, amount=Decimal("9.50"))
    # Slow cases (a committed row each): ``slower`` keeps a round to a few hundred enqueues.
    ours = Case(
        "django_events, dispatch to a queued handler",
        "d.dispatch(e)",
        {"d": dispatcher, "e": event},
        counters["deliver"],
        1,
        slower=100,
    )
    plain = Case(
        "plain Task.enqueue of the same fields",
        "t.enqueue(order_id=e.order_id, amount=str(e.amount))",
        {"t": email_invoice_task, "e": event},
        counters["email_invoice_task"],
        1,
        slower=100,
    )
    sections = [("8  enqueue one event, database task backend on a SQLite file", [plain, ours])]

    def targets() -> list[Target]:
        return [Target("8", "queued handler, signed / plain Task.enqueue", ratio(ours, plain), 1.1)]

    return sections, targets
