"""Queued handlers on the paths users (and forged tasks) take: the task framework's
ImmediateBackend and DummyBackend in tests, forged tasks, round trips, failures, retries.

The handlers are module-level functions (a worker finds queued handlers by dotted path);
each records what it got in ``CALLS``.
"""

from __future__ import annotations

import datetime
import gc
import json
import uuid
import zoneinfo
from collections.abc import Iterator
from decimal import Decimal
from importlib.util import find_spec
from typing import Any

import django
import pytest
from django.db import transaction
from django.test import override_settings

from django_events import Event, EventDispatcher, PayloadError, dispatcher, off
from django_events._payload import sign
from django_events.tasks import InvalidTaskError as InvalidTask
from django_events.tasks import deliver, task_backends
from tests.testapp.models import Order, Ticket

FRAMEWORK = "django.tasks" if find_spec("django.tasks") else "django_tasks"
IMMEDIATE = {
    "default": {"BACKEND": f"{FRAMEWORK}.backends.immediate.ImmediateBackend", "QUEUES": ["default", "mail"]}
}
DUMMY = {"default": {"BACKEND": f"{FRAMEWORK}.backends.dummy.DummyBackend", "QUEUES": ["default", "mail"]}}

CALLS: list[tuple[str, Any]] = []


@pytest.fixture(autouse=True)
def _calls() -> Iterator[None]:
    CALLS.clear()
    gc.collect()  # model and bulk events go to every live dispatcher: not to earlier tests' ones
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
    dispatcher.dispatch("queued::relayed", event.amount)


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
    d.register("queued::inproc", failing_in_process)
    d.register(Paid, record_paid, queue=True)
    d.dispatch("queued::inproc")
    assert d.pending() == 1
    d.dispatch(PAID)
    assert CALLS == [("paid", PAID)]
    with pytest.raises(RuntimeError, match="in-process queued::inproc"):
        d.clear_queue()


@pytest.mark.django_db
@override_settings(TASKS=IMMEDIATE)
def test_what_a_queued_handler_run_by_the_immediate_backend_dispatches_still_runs() -> None:
    relayed = []
    dispatcher.register("queued::relayed", lambda name, amount: relayed.append(amount))
    dispatcher.register(Paid, relay_paid, queue=True)
    dispatcher.dispatch(PAID)
    assert [("relay", Decimal("9.50"))] == CALLS
    dispatcher.clear_queue()
    assert relayed == [Decimal("9.50")]


def results() -> list[Any]:
    return list(task_backends["default"].results)  # type: ignore[attr-defined]


def run_results() -> None:
    """Run the DummyBackend's tasks as a worker would, from their stored (JSON) arguments."""
    for result in results():
        deliver.call(*result.args, **result.kwargs)


@pytest.mark.django_db
@override_settings(TASKS=DUMMY)
def test_dummy_backend_tasks_run_later_from_their_json_arguments() -> None:
    d = EventDispatcher(mode="sync")
    d.register(Paid, record_paid, queue="mail", priority=5)
    d.register("queued::.*", record_any, queue=True)
    d.dispatch(PAID)
    d.dispatch("queued::named", [1, (2, Decimal("3.10"))], key={"k": None})
    assert CALLS == []
    stored = results()
    assert [(r.task.queue_name, r.task.priority) for r in stored] == [("mail", 5), ("default", 0)]
    run_results()
    assert [("paid", PAID), ("queued::named", (([1, (2, Decimal("3.10"))],), {"key": {"k": None}}))] == CALLS


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
    d.register("queued::.*|.*Paid", record_any, queue="mail")
    in_process: list[Paid] = []
    d.register(Paid, in_process.append)
    with pytest.raises(Exception, match="mail"):
        d.dispatch(PAID)
    assert in_process == []
    assert results() == []


class Shipped(Event):
    order: Order
    ticket: Ticket | None = None


def record_shipped(event: Shipped) -> None:
    CALLS.append(("shipped", (event.order, event.ticket)))


@pytest.mark.django_db
@override_settings(TASKS=DUMMY)
def test_a_row_deleted_before_the_worker_runs_fails_without_retries(caplog: pytest.LogCaptureFixture) -> None:
    from django_events.exceptions import MissingInstance

    d = EventDispatcher(mode="sync")
    d.register(Shipped, record_shipped, queue=True, retries=3)
    order = Order.objects.create()
    ticket = Ticket.objects.create(title="t")
    d.dispatch(Shipped(order, ticket))
    run_results()
    assert [("shipped", (order, ticket))] == CALLS
    assert type(CALLS[0][1][1].pk) is uuid.UUID
    CALLS.clear()
    task_backends["default"].clear()  # type: ignore[attr-defined]
    d.dispatch(Shipped(order, ticket))
    pk = order.pk
    order.delete()
    (result,) = results()
    with pytest.raises(MissingInstance, match=rf"testapp.Order with pk={pk} no longer exists"):
        deliver.call(*result.args)
    assert CALLS == []
    assert len(results()) == 1  # no retry


@pytest.mark.django_db
@override_settings(TASKS=IMMEDIATE)
def test_immediate_backend_retries_a_failing_handler_as_many_times_as_asked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    d = EventDispatcher(mode="sync")
    d.register(Boom, fail_boom, queue=True, retries=2)
    d.dispatch(Boom("k"))  # the backend records the failure; dispatch does not raise
    assert CALLS == [("boom", "k")] * 3
    messages = sorted(r.getMessage() for r in caplog.records if r.name == "django_events")
    failed = f"queued handler tests.test_queue_paths.fail_boom failed for event {Boom.event_name!r}"
    assert messages == [
        f"{failed} (attempt 1 of 3, retrying)",
        f"{failed} (attempt 2 of 3, retrying)",
        f"{failed} (attempt 3 of 3)",
    ]


@pytest.mark.django_db
@override_settings(TASKS=DUMMY)
def test_dummy_backend_retries_are_deferred_and_signed(caplog: pytest.LogCaptureFixture) -> None:
    d = EventDispatcher(mode="sync")
    d.register(Boom, fail_boom, queue=True, retries=1)
    d.dispatch(Boom("k"))
    (first,) = results()
    with pytest.raises(RuntimeError, match="boom k"):
        deliver.call(*first.args)
    first_retry = results()[1]
    assert first_retry.args[4] == 2
    assert first_retry.task.run_after is not None
    with pytest.raises(RuntimeError, match="boom k"):
        deliver.call(*first_retry.args)
    assert len(results()) == 2
    assert CALLS == [("boom", "k")] * 2


@pytest.mark.django_db
@override_settings(TASKS=DUMMY)
def test_an_unsaved_instance_fails_the_dispatch_before_anything_is_enqueued_or_run() -> None:
    d = EventDispatcher(mode="sync")
    seen: list[Shipped] = []
    d.register(Shipped, seen.append)
    d.register(Shipped, record_shipped, queue=True)
    with pytest.raises(PayloadError, match=r"cannot queue Shipped\.order: an unsaved Order"):
        d.dispatch(Shipped(Order()))
    with pytest.raises(PayloadError, match=r"cannot queue Shipped\.ticket: an unsaved Ticket"):
        d.dispatch(Shipped(Order.objects.create(), Ticket(title="x")))
    assert seen == []
    assert results() == []


@pytest.mark.django_db
@override_settings(TASKS=DUMMY)
def test_a_task_enqueued_before_the_event_gained_a_field_with_a_default_still_runs() -> None:
    """A deploy adds ``tags: tuple[str, ...] = ()`` to Paid while tasks enqueued by the
    previous version wait in the queue (or an old web process still enqueues during a
    rolling deploy): those tasks carry no ``tags``. The class's own default fills it; the
    task is not refused (refused tasks are never retried: the events would be lost)."""
    d = EventDispatcher(mode="sync")
    d.register(Paid, record_paid, queue=True)
    d.dispatch(PAID)
    (result,) = results()
    handler, target, name, payload, attempt, _ = result.args
    old = json.loads(payload)
    del old["args"][0]["dataclass"][1]["tags"]  # as the previous version wrote it
    old_payload = json.dumps(old, separators=(",", ":"))
    deliver.call(
        handler, target, name, old_payload, attempt, sign(handler, target, name, old_payload, attempt)
    )
    assert [("paid", Paid(PAID.amount, PAID.at, PAID.ref))] == CALLS


@pytest.mark.django_db
@override_settings(TASKS=DUMMY)
@pytest.mark.skipif(django.VERSION < (5, 2), reason="composite primary keys came with Django 5.2")
def test_an_instance_with_a_composite_primary_key_round_trips() -> None:
    from tests.testapp.models import Pair

    pair = Pair.objects.create(left=1, right=2, label="p")
    d = EventDispatcher(mode="sync")
    d.register("queued::pair", record_any, queue=True)
    d.dispatch("queued::pair", pair)
    run_results()
    ((_name, ((got,), _kwargs)),) = CALLS
    assert type(got) is Pair
    assert got.pk == (1, 2)
    assert got.label == "p"


@pytest.mark.django_db
@override_settings(TASKS=DUMMY)
def test_a_queryset_update_with_an_expression_for_a_queued_pattern_handler() -> None:
    """A queued pattern handler that matches an opted-in model's queryset_updated events: an
    update() with F() cannot be queued. The error must not come after the UPDATE committed
    (the caller would see a failure for a write that happened)."""
    from django.db.models import F

    from django_events._bulk import bulk_event_name
    from tests.testapp.models import Item

    item = Item.objects.create(sku="a", quantity=1)
    d = EventDispatcher(mode="sync")
    d.register(bulk_event_name(Item, "queryset_updated"), record_any, queue=True)
    with pytest.raises(PayloadError, match="CombinedExpression"):
        Item.objects.filter(pk=item.pk).update(quantity=F("quantity") + 1)
    item.refresh_from_db()
    assert item.quantity == 1  # nothing written: the update failed as a whole
    assert Item.objects.filter(pk=item.pk).update(quantity=5) == 1  # plain values: queued
    run_results()
    name = bulk_event_name(Item, "queryset_updated")
    assert [(name, (([item.pk], {"quantity": 5}), {"using": "default"}))] == CALLS


class Greeted(Event):
    key: str


async def greet(event: Greeted) -> None:
    CALLS.append(("greet", event.key))
    dispatcher.dispatch("queued::greeted", event.key)


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=IMMEDIATE)
@pytest.mark.parametrize("how", ["dispatch", "adispatch", "dispatch from async"])
def test_an_async_queued_handler_runs_through_the_immediate_backend(how: str) -> None:
    import asyncio

    relayed: list[str] = []
    dispatcher.register("queued::greeted", lambda name, key: relayed.append(key))
    dispatcher.register(Greeted, greet, queue=True)
    if how == "dispatch":
        dispatcher.dispatch(Greeted("k"))
    elif how == "adispatch":
        asyncio.run(dispatcher.adispatch(Greeted("k")))
    else:

        async def view() -> None:
            dispatcher.dispatch(Greeted("k"))

        asyncio.run(view())
    dispatcher.clear_queue()
    assert CALLS == [("greet", "k")]
    assert relayed == ["k"]


@pytest.mark.django_db(transaction=True)
def test_dispatch_from_a_thread_enqueues_with_the_database_backend() -> None:
    import threading

    from django.apps import apps
    from django.conf import settings

    d = EventDispatcher(mode="gevent")
    d.register(Paid, record_paid, queue=True)
    d.register("queued::.*", record_any, queue="mail", after_commit=True)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            d.dispatch(PAID)
            with transaction.atomic():
                d.dispatch("queued::thread", 1)
        except BaseException as exc:  # pragma: no cover - only when the test fails
            errors.append(exc)
        finally:
            from django.db import connections

            connections.close_all()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert errors == []
    (config,) = [c for c in apps.get_app_configs() if c.name == settings.TASKS_APP]
    rows = list(config.get_model("DBTaskResult")._default_manager.order_by("enqueued_at"))
    assert [(r.queue_name, r.args_kwargs["args"][2]) for r in rows] == [
        ("default", Paid.event_name),
        ("mail", "queued::thread"),
    ]
    for row in rows:
        deliver.call(*row.args_kwargs["args"])
    assert CALLS == [("paid", PAID), ("queued::thread", ((1,), {}))]


def record_bulk(event: Any) -> None:
    CALLS.append(("bulk", event))


@pytest.mark.django_db
@override_settings(TASKS=DUMMY)
def test_bulk_create_with_ignore_conflicts_for_a_queued_bulk_handler() -> None:
    from django_events import BulkCreated
    from tests.testapp.models import Item

    d = EventDispatcher(mode="sync")
    d.register(BulkCreated[Item], record_bulk, queue=True)
    with pytest.raises(PayloadError) as raised:
        Item.objects.bulk_create([Item(sku="a")], ignore_conflicts=True)
    assert str(raised.value) == (
        "bulk_create(ignore_conflicts=True) leaves the primary keys of the rows it creates unset, "
        "and queued handler tests.test_queue_paths.record_bulk of "
        "'events::db::tests::testapp::models::Item::bulk_created' gets each Item by primary key: "
        "set the primary keys before the call, or register the handler without queue= "
        "(nothing was written)"
    )
    assert not Item.objects.exists()  # the call failed as a whole
    Item.objects.bulk_create([Item(sku="b")])  # the database hands the keys back: queued
    Item.objects.bulk_create([Item(pk=10, sku="c")], ignore_conflicts=True)  # keys set: queued
    run_results()
    assert [event.instances for _, event in CALLS] == [
        [Item.objects.get(sku="b")],
        [Item.objects.get(sku="c")],
    ]


@pytest.mark.django_db
@override_settings(TASKS=DUMMY)
def test_bulk_create_on_a_database_that_returns_no_keys_for_a_queued_bulk_handler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """MySQL and MariaDB (before 10.5) return no primary keys from a bulk insert: with a
    queued BulkCreated handler the call fails before it writes, naming the database."""
    from django.db import connection

    from django_events import BulkCreated
    from tests.testapp.models import Item

    monkeypatch.setattr(type(connection.features), "can_return_rows_from_bulk_insert", False)
    d = EventDispatcher(mode="sync")
    d.register(BulkCreated[Item], record_bulk, queue=True)
    with pytest.raises(
        PayloadError, match=r"^the database 'default' \(sqlite\) does not return the primary keys"
    ):
        Item.objects.bulk_create([Item(sku="a")])
    assert not Item.objects.exists()
    Item.objects.bulk_create([Item(pk=1, sku="a")])  # its key set: queued
    run_results()
    assert [event.instances for _, event in CALLS] == [[Item.objects.get(pk=1)]]


@pytest.mark.django_db
@override_settings(TASKS=DUMMY)
def test_testing_helpers_and_queued_handlers() -> None:
    from django_events.testing import capture_events, fake_events

    d = EventDispatcher(mode="sync")
    d.register(Paid, record_paid, queue=True)
    with capture_events(d) as captured:
        d.dispatch(PAID)
    captured.assert_dispatched(Paid, times=1)
    assert len(results()) == 1
    with fake_events(dispatcher=d) as faked:
        d.dispatch(PAID)
    faked.assert_dispatched(Paid, times=1)
    assert len(results()) == 1  # faked: not enqueued


try:
    from django.tasks.backends.dummy import DummyBackend
except ImportError:  # the backport
    from django_tasks.backends.dummy import DummyBackend  # type: ignore[assignment]


class NoPriorityBackend(DummyBackend):
    supports_priority = False


@pytest.mark.django_db
@override_settings(
    TASKS={"default": {"BACKEND": f"{__name__}.NoPriorityBackend", "QUEUES": ["default", "mail"]}}
)
@pytest.mark.parametrize(
    ("options", "bad"),
    [({"queue": True, "priority": 5}, "priority=5"), ({"queue": "nowhere"}, "queue='nowhere'")],
)
def test_a_task_the_backend_refuses_names_the_handler_and_the_refused_option(
    options: dict[str, Any], bad: str
) -> None:
    """The caller of dispatch() may reach many queued handlers: the backend's own message
    ("Backend does not support setting priority of tasks.") does not say which one."""
    d = EventDispatcher(mode="sync")
    d.register("queued::.*|.*Paid", record_any, queue=True)
    d.register(Paid, record_paid, **options)
    with pytest.raises(InvalidTask, match=r"queued handler tests\.test_queue_paths\.record_paid") as caught:
        d.dispatch(PAID)
    assert bad in str(caught.value)


@pytest.mark.django_db
def test_a_backend_that_refuses_at_the_enqueue_is_named_too() -> None:
    """A task placed under one TASKS setting (kept: it is built once per options) and
    enqueued under another (a test's override_settings) is refused by the backend's enqueue:
    the error names the handler as well."""
    d = EventDispatcher(mode="sync")
    d.register(Paid, record_paid, queue=True, priority=7)
    with override_settings(TASKS=DUMMY):
        d.dispatch(PAID)
    no_priority = {"default": {"BACKEND": f"{__name__}.NoPriorityBackend", "QUEUES": ["default"]}}
    with override_settings(TASKS=no_priority), pytest.raises(InvalidTask) as caught:
        d.dispatch(PAID)
    assert str(caught.value) == (
        "queued handler tests.test_queue_paths.record_paid (queue='default', priority=7): "
        "Backend does not support setting priority of tasks."
    )


@pytest.mark.django_db
@override_settings(TASKS=DUMMY)
def test_forged_tasks_are_refused_before_anything_runs() -> None:
    from django.core.signing import Signer

    from django_events.exceptions import RefusedTask

    d = EventDispatcher(mode="sync")
    d.register(Paid, record_paid, queue=True)
    d.dispatch(PAID)
    (result,) = results()
    handler, target, name, payload, attempt, signature = result.args
    message = json.dumps([handler, target, name, payload, attempt], separators=(",", ":"))
    other_salt = Signer(salt="django_events.tasks").signature(message)
    with override_settings(SECRET_KEY="another key"):
        other_key = sign(handler, target, name, payload, attempt)
    forged = [
        (handler, target, name, payload, attempt, other_salt),
        (handler, target, name, payload, attempt, other_key),
        (handler, target, name, payload.replace("9.50", "0.01"), attempt, signature),
        (handler, target, name, payload, 2, signature),
        (target, handler, name, payload, attempt, signature),  # swapped fields
        (handler, target, name, payload, attempt, f"{signature}:{signature}"),
    ]
    for task in forged:
        with pytest.raises(RefusedTask, match="signature does not verify"):
            deliver.call(*task)
    off(record_paid)  # a handler no longer registered (signed genuinely), on any dispatcher
    with pytest.raises(RefusedTask, match="registered no queued handler"):
        deliver.call(*result.args)
    crafted = json.dumps({"args": [{"dataclass": ["os:system", {"command": "touch /tmp/x"}]}], "kwargs": {}})
    d.register(Paid, record_paid, queue=True)
    with pytest.raises(RefusedTask, match="'os:system' where Paid"):
        deliver.call(handler, target, name, crafted, 1, sign(handler, target, name, crafted, 1))
    assert CALLS == []
