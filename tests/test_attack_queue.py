"""Queued handlers attacked the way users (and adversaries) reach them: the task framework's
ImmediateBackend and DummyBackend in tests, forged tasks, round trips, failures, retries.

The handlers are module-level functions (a worker finds queued handlers by dotted path);
each records what it got in ``CALLS``.
"""

from __future__ import annotations

import datetime
import json
import logging
import uuid
import zoneinfo
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings

from django_events import Event, EventDispatcher, PayloadError, dispatcher
from django_events._payload import sign
from django_events.tasks import deliver
from tests.testapp.models import Customer, Order, Ticket

try:
    from django.tasks import task_backends
except ImportError:  # the backport
    from django_tasks import task_backends

IMMEDIATE = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default", "mail"]}}
DUMMY = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": ["default", "mail"]}}

CALLS: list[tuple[str, Any]] = []


@pytest.fixture(autouse=True)
def _calls() -> Iterator[None]:
    CALLS.clear()
    yield
    CALLS.clear()


class Paid(Event):
    amount: Decimal
    at: datetime.datetime
    ref: uuid.UUID
    tags: tuple[str, ...] = ()


class Boom(Event):
    key: str


def record_paid(event: Paid) -> None:
    CALLS.append(("paid", event))


def record_any(name: str, *args: Any, **kwargs: Any) -> None:
    CALLS.append((name, (args, kwargs)))


def fail_boom(event: Boom) -> None:
    CALLS.append(("boom", event.key))
    raise RuntimeError(f"boom {event.key}")


def relay_paid(event: Paid) -> None:
    CALLS.append(("relay", event.amount))
    dispatcher.dispatch("attack::relayed", event.amount)


def failing_in_process(name: str, *args: Any) -> None:
    raise RuntimeError(f"in-process {name}")


PAID = Paid(
    Decimal("9.50"),
    datetime.datetime(2026, 3, 29, 2, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")),
    uuid.UUID(int=7),
    ("a", "b"),
)


@pytest.mark.django_db
@override_settings(TASKS=IMMEDIATE)
def test_immediate_backend_runs_a_queued_handler_with_its_event_intact() -> None:
    d = EventDispatcher(mode="sync")
    d.register(Paid, record_paid, queue=True)
    d.dispatch(PAID)
    assert CALLS == [("paid", PAID)]
    assert repr(CALLS[0][1]) == repr(PAID)


@pytest.mark.django_db
@override_settings(TASKS=IMMEDIATE)
def test_a_queued_handler_run_by_the_immediate_backend_leaves_the_callers_gevent_queue_alone() -> None:
    """In gevent mode, an event dispatched earlier waits in the caller's queue, and with
    raise_handler_errors its handler's error is raised by clear_queue(). A queued handler
    that ImmediateBackend runs inside dispatch() must not drain that queue for the caller
    (``deliver`` drains what the handler dispatched, for a worker, with may_raise=False):
    the earlier event's error would only be logged, never raised to the caller."""
    d = EventDispatcher(mode="gevent", raise_handler_errors=True)
    d.register("attack::inproc", failing_in_process)
    d.register(Paid, record_paid, queue=True)
    d.dispatch("attack::inproc")
    assert d.pending() == 1
    d.dispatch(PAID)
    assert CALLS == [("paid", PAID)]
    with pytest.raises(RuntimeError, match="in-process attack::inproc"):
        d.clear_queue()


@pytest.mark.django_db
@override_settings(TASKS=IMMEDIATE)
def test_what_a_queued_handler_run_by_the_immediate_backend_dispatches_still_runs() -> None:
    relayed = []
    dispatcher.register("attack::relayed", lambda name, amount: relayed.append(amount))
    dispatcher.register(Paid, relay_paid, queue=True)
    dispatcher.dispatch(PAID)
    assert CALLS == [("relay", Decimal("9.50"))]
    dispatcher.clear_queue()
    assert relayed == [Decimal("9.50")]


def results() -> list[Any]:
    return list(task_backends["default"].results)


def run_results() -> None:
    """Run the DummyBackend's tasks as a worker would, from their stored (JSON) arguments."""
    for result in results():
        deliver.call(*result.args, **result.kwargs)


@pytest.mark.django_db
@override_settings(TASKS=DUMMY)
def test_dummy_backend_tasks_run_later_from_their_json_arguments() -> None:
    d = EventDispatcher(mode="sync")
    d.register(Paid, record_paid, queue="mail", priority=5)
    d.register("attack::.*", record_any, queue=True)
    d.dispatch(PAID)
    d.dispatch("attack::named", [1, (2, Decimal("3.10"))], key={"k": None})
    assert CALLS == []
    stored = results()
    assert [(r.task.queue_name, r.task.priority) for r in stored] == [("mail", 5), ("default", 0)]
    run_results()
    assert CALLS == [("paid", PAID), ("attack::named", (([1, (2, Decimal("3.10"))],), {"key": {"k": None}}))]


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=DUMMY)
def test_after_commit_queued_handlers_are_not_enqueued_on_rollback_of_a_savepoint() -> None:
    d = EventDispatcher(mode="sync")
    d.register(Paid, record_paid, queue=True, after_commit=True)
    with transaction.atomic():
        try:
            with transaction.atomic():
                d.dispatch(PAID)
                raise ValueError("roll back the savepoint")
        except ValueError:
            pass
        d.dispatch(Paid(Decimal("1"), PAID.at, PAID.ref))
        assert results() == []
    assert len(results()) == 1
    run_results()
    assert [c[1].amount for c in CALLS] == [Decimal("1")]


@pytest.mark.django_db
@override_settings(TASKS={"default": {**DUMMY["default"], "QUEUES": ["default"]}})
def test_a_queue_the_backend_refuses_enqueues_none_of_the_events_tasks() -> None:
    """One queued handler's queue is refused by the backend: dispatch raises in the caller,
    and no other handler of the event got it (not half an event: the caller may retry)."""
    d = EventDispatcher(mode="sync")
    d.register(Paid, record_paid, queue=True)
    d.register("attack::.*|.*Paid", record_any, queue="mail")
    in_process = []
    d.register(Paid, in_process.append)
    with pytest.raises(Exception, match="mail"):
        d.dispatch(PAID)
    assert in_process == []
    assert results() == []
