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
