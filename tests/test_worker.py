"""Queued handlers in a real task worker: ``manage.py db_worker`` of the database backend.

Each test starts the worker as a subprocess on the test database (a SQLite file), which
registers the handlers of tests/testapp/queued.py at start-up; the test dispatches events
here and reads what the handlers wrote there. The worker is stopped after each test,
whatever happened.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection, transaction

from django_events import EventDispatcher, dispatcher
from django_events.tasks import BACKOFF, deliver
from tests.conftest import ROOT, measured
from tests.testapp import queued
from tests.testapp.models import Customer, HandlerRun, Order, Shipment

TIMEOUT = 60.0

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def says(self, text: str) -> bool:
        return text in self.output()

    def wait_for(self, what: str, ready: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None:  # pragma: no cover - only when a test fails
                pytest.fail(f"the worker exited ({self.process.returncode}) before {what}:\n{self.output()}")
            if time.monotonic() > deadline:  # pragma: no cover - only when a test fails
                pytest.fail(f"no {what} after {timeout:.0f} s; worker output:\n{self.output()}")
            time.sleep(0.05)


@contextlib.contextmanager
def running_worker(log: Path) -> Iterator[Worker]:
    """A ``db_worker`` process on the test database, writing to ``log``, stopped on exit."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,
        "DJANGO_EVENTS_WORKER_DB": str(connection.settings_dict["NAME"]),  # the test database
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, *measured(), "-m", "django", "db_worker", "--queue-name", "*"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--interval", "0.05", "--no-startup-delay"], cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:
        yield Worker(process, log)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:  # pragma: no cover - only when the worker hangs
            process.kill()
            process.wait()


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    with running_worker(tmp_path / "worker.log") as started:
        yield started


@pytest.fixture(autouse=True)
def handlers() -> None:
    queued.register()  # this process enqueues; the worker registered the same at start-up


def task_model() -> type[Any]:
    """The database backend's model of a task and its result."""
    (config,) = [c for c in apps.get_app_configs() if c.name == settings.TASKS_APP]
    return config.get_model("DBTaskResult")


def task_results() -> list[Any]:
    """The database backend's task results, oldest first, as TaskResult objects."""
    return [row.task_result for row in task_model()._default_manager.order_by("enqueued_at")]


def statuses() -> list[str]:
    # django-tasks < 0.12 (for Django 4.2) says SUCCEEDED where later versions say SUCCESSFUL.
    return [str(result.status).replace("SUCCEEDED", "SUCCESSFUL") for result in task_results()]


def test_a_queued_handler_runs_in_the_worker_with_the_event_intact(worker: Worker) -> None:
    order = Order.objects.create(total=Decimal("9.50"))
    event = queued.Paid(
        order=order,
        amount=Decimal("9.50"),
        at=datetime.datetime(2026, 11, 25, 9, 30, 1, 123456, tzinfo=datetime.timezone.utc),
        day=datetime.date(2026, 11, 25),
        ref=uuid.uuid4(),
        line=queued.Line("sku-1", 2),
        tags=("gift", "express"),
        extra={"notes": ["leave at door", None, 1.5, True]},
    )
    event.dispatch()
    worker.wait_for("paid handler run", lambda: HandlerRun.objects.filter(handler="paid").exists())
    run = HandlerRun.objects.get(handler="paid")
    assert run.detail == repr(event)  # every field, nested ones and the loaded Order included
    assert run.pid == worker.process.pid != os.getpid()
    (result,) = task_results()
    assert (result.task.priority, result.task.queue_name) == (10, "default")
    worker.wait_for("a successful task", lambda: statuses() == ["SUCCESSFUL"])


def test_an_async_queued_handler_runs_to_completion_in_the_worker(worker: Worker) -> None:
    queued.Greeted(key="hello").dispatch()
    worker.wait_for("a successful task", lambda: statuses() == ["SUCCESSFUL"])
    run = HandlerRun.objects.get(handler="greet")  # its body ran, not just its task
    assert (run.event, run.pid) == ("hello", worker.process.pid)


def test_a_queued_typed_model_event_runs_in_the_worker(worker: Worker) -> None:
    customer = Customer.objects.create(name="ada")
    worker.wait_for("the created task", lambda: statuses() == ["SUCCESSFUL"])
    customer.name = "ada lovelace"
    customer.save()
    runs = HandlerRun.objects.filter(handler="customer.updated")
    worker.wait_for("the updated task", runs.exists)
    run = runs.get()
    assert (run.event, run.detail) == (
        "events::db::tests::testapp::models::Customer::updated",
        "ada lovelace default False {}",
    )


def test_after_commit_enqueues_only_when_the_transaction_commits(worker: Worker) -> None:
    with transaction.atomic():
        dispatcher.dispatch("worker::mail::rolled-back", 1)
        transaction.set_rollback(True)
    with transaction.atomic():
        dispatcher.dispatch("worker::mail::welcome", 2, to="ada@example.com")
        assert task_results() == []  # not before the commit
    worker.wait_for("mail handler run", lambda: HandlerRun.objects.filter(handler="mail").exists())
    (run,) = HandlerRun.objects.filter(handler="mail")
    assert (run.event, run.detail) == ("worker::mail::welcome", repr(((2,), {"to": "ada@example.com"})))
    (result,) = task_results()
    assert result.task.queue_name == "mail"


def test_model_events_reach_queued_handlers_with_the_instance_loaded_again(worker: Worker) -> None:
    Customer.objects.create(name="Ada")
    worker.wait_for("customer handler run", lambda: HandlerRun.objects.filter(handler="customer").exists())
    run = HandlerRun.objects.get(handler="customer")
    assert (run.event, run.detail) == ("events::db::tests::testapp::models::Customer::created", "Ada")


def test_queued_observers_and_listeners_run_in_the_worker(worker: Worker) -> None:
    shipment = Shipment.objects.create(code="S-1")
    dispatcher.dispatch("worker::webhook::shipped", shipment.code, carrier="DHL")
    worker.wait_for("two handler runs", lambda: HandlerRun.objects.count() == 2)
    shipment.code = "S-2"
    shipment.save()
    worker.wait_for("three handler runs", lambda: HandlerRun.objects.count() == 3)
    runs = {run.handler: run for run in HandlerRun.objects.all()}
    assert runs.keys() == {"shipment.created", "shipment.updated", "webhook"}
    # The worker loads the instance when it runs: each saw the row as it was then.
    assert (runs["shipment.created"].event, runs["shipment.updated"].event) == ("S-1", "S-2")
    assert (runs["webhook"].event, runs["webhook"].detail) == (
        "worker::webhook::shipped",
        repr((("S-1",), {"carrier": "DHL"})),
    )
    assert {run.pid for run in runs.values()} == {worker.process.pid}
    assert sorted((r.task.queue_name, r.task.priority) for r in task_results()) == [
        ("default", -5),
        ("default", -5),
        ("mail", 0),
    ]


def test_without_after_commit_the_task_is_part_of_the_transaction() -> None:
    # The database backend writes the task row in the dispatching transaction: a rollback
    # takes it back with the rest, a commit publishes both together.
    with transaction.atomic():
        queued.Doomed("rolled-back").dispatch()
        assert len(task_results()) == 1
        transaction.set_rollback(True)
    assert task_results() == []
    with transaction.atomic():
        queued.Doomed("committed").dispatch()
    assert [r.args[3] for r in task_results()] == [
        {"args": [{"dataclass": ["tests.testapp.queued:Doomed", {"key": "committed"}]}], "kwargs": {}}
    ]


def test_a_raising_in_process_handler_stops_no_task() -> None:
    d = EventDispatcher(mode="sync", raise_handler_errors=True)

    def boom(name: str, *args: object) -> None:
        raise RuntimeError("boom")

    d.register("worker::mail::x", boom)
    d.register("worker::mail::x", queued.record_mail, queue="mail")
    with pytest.raises(RuntimeError, match="boom"):
        d.dispatch("worker::mail::x", 1)
    assert [r.args[:3] for r in task_results()] == [
        ["tests.testapp.queued.record_mail", "re:worker::mail::x", "worker::mail::x"]
    ]


def test_an_enqueue_that_fails_fails_the_dispatch() -> None:
    d = EventDispatcher(mode="sync")
    d.register("worker::now", queued.record_mail, queue="nowhere")  # manage.py check: E008
    with pytest.raises(Exception, match="Queue 'nowhere' is not valid for backend"):
        d.dispatch("worker::now", 1)


def test_an_enqueue_that_fails_after_the_commit_is_logged_and_stops_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    d = EventDispatcher(mode="sync")
    d.register("worker::lost", queued.record_mail, queue="nowhere", after_commit=True)
    later: list[str] = []
    with transaction.atomic():
        d.dispatch("worker::lost", 1)
        transaction.on_commit(lambda: later.append("ran"))
    assert later == ["ran"]  # the next on_commit callback still ran
    assert task_results() == []
    (record,) = [r for r in caplog.records if r.name == "django_events"]
    assert record.getMessage() == (
        "queued handler tests.testapp.queued.record_mail: the task for event 'worker::lost' could "
        "not be enqueued after the commit; it is lost"
    )
    assert record.exc_info is not None
    assert "Queue 'nowhere' is not valid for backend" in str(record.exc_info[1])


def test_a_retry_that_cannot_be_enqueued_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    d = EventDispatcher(mode="sync")
    d.register("worker::unlucky", queued.unlucky, queue="nowhere", retries=1)
    payload: dict[str, Any] = {"args": [], "kwargs": {}}
    with pytest.raises(RuntimeError, match="unlucky worker::unlucky"):  # the task itself, in this process
        deliver.call("tests.testapp.queued.unlucky", "re:worker::unlucky", "worker::unlucky", payload)
    assert [r.getMessage() for r in caplog.records if r.name == "django_events"] == [
        "queued handler tests.testapp.queued.unlucky: its retry could not be enqueued",
        "queued handler tests.testapp.queued.unlucky failed for event 'worker::unlucky' (attempt 1 of 2)",
    ]  # not "retrying": no retry was enqueued


CHECK_SCRIPT = """
import django
django.setup()
from django_events import dispatcher
from django_events.checks import check_queued_handlers
from tests.testapp import queued
dispatcher.register("a", queued.record_mail, queue="mail")
for message in check_queued_handlers():
    if "record_mail" in message.msg or "cannot be enqueued" in message.msg:
        print(message.msg)
"""


@pytest.mark.parametrize(
    ("backend", "problems"),
    [
        pytest.param("TASKS_BACKEND", [], id="no 'default' queue: queue='mail' works"),
        pytest.param(
            "'nowhere.Backend'",
            [
                "queued handlers (tests.testapp.queued.ShipmentIndexer.created and any others) cannot be "
                "enqueued: InvalidTaskBackend"
            ],
            id="a backend that cannot be imported",
        ),
    ],
)
def test_the_task_backend_as_the_checks_see_it(tmp_path: Path, backend: str, problems: list[str]) -> None:
    (tmp_path / "mail_only.py").write_text(
        f"from tests.settings import *\nTASKS = {{'default': {{'BACKEND': {backend}, 'QUEUES': ['mail']}}}}\n"
    )
    (tmp_path / "check.py").write_text(CHECK_SCRIPT)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mail_only", "PYTHONPATH": f"{tmp_path}:{ROOT}"}
    command = [sys.executable, *measured(), str(tmp_path / "check.py")]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line[: len(problem)] for line, problem in zip(lines, problems, strict=False)] == problems
    assert len(lines) == len(problems), lines


def test_a_failing_handler_is_recorded_failed_with_its_traceback_and_logged(worker: Worker) -> None:
    queued.Doomed("order-7").dispatch()
    worker.wait_for("a failed task", lambda: statuses() == ["FAILED"])
    (result,) = task_results()
    assert "RuntimeError: doomed fails for order-7" in result.errors[0].traceback
    assert HandlerRun.objects.filter(handler="doomed").count() == 1  # no retry asked for
    worker.wait_for(
        "the log line", lambda: "queued handler tests.testapp.queued.doomed failed" in worker.output()
    )


def test_retries_run_the_handler_again_after_a_backoff(worker: Worker) -> None:
    queued.Flaky("k").dispatch()
    worker.wait_for("three attempts", lambda: statuses() == ["FAILED", "FAILED", "SUCCESSFUL"])
    assert list(HandlerRun.objects.filter(handler="flaky").values_list("attempt", flat=True)) == [1, 2, 3]
    results = task_results()
    assert [r.args[4] for r in results] == [1, 2, 3]
    # Retry n waits BACKOFF * 2 ** (n - 1) seconds after the attempt before it failed.
    for retry, (failed, again) in enumerate(itertools.pairwise(results), start=1):
        assert again.task.run_after - failed.enqueued_at >= datetime.timedelta(
            seconds=BACKOFF * 2 ** (retry - 1)
        )


REFUSED = [
    pytest.param(
        "os.system", "re:.*", "worker::mail::x", ["echo pwned"], "handler 'os.system'", id="unknown path"
    ),
    pytest.param(
        "tests.testapp.queued.record_mail",
        "re:.*",
        "worker::mail::x",
        [],
        "handler 'tests.testapp.queued.record_mail', target 're:.*'",
        id="registered path, another target",
    ),
    pytest.param(
        "tests.testapp.queued.record_paid",
        "event:tests.testapp.queued:Paid",
        queued.Paid.event_name,
        [{"dataclass": ["tests.testapp.queued:Flaky", {"key": "k"}]}],
        "handler tests.testapp.queued.record_paid: it takes Paid, the task carries args=(Flaky(key='k'),)",
        id="typed handler, another event class",
    ),
]


@pytest.mark.parametrize(("handler", "target", "name", "args", "message"), REFUSED)
def test_the_worker_refuses_a_task_for_anything_it_did_not_queue(
    worker: Worker, handler: str, target: str, name: str, args: list[Any], message: str
) -> None:
    deliver.enqueue(handler, target, name, {"args": args, "kwargs": {}})
    worker.wait_for("a failed task", lambda: statuses() == ["FAILED"])
    assert f"RefusedTask: refused a task for {message}" in task_results()[0].errors[0].traceback
    assert not HandlerRun.objects.exists()


def test_each_task_runs_its_own_entry_of_a_listener(worker: Worker) -> None:
    queued.Noted("hello").dispatch()  # matches the listener's Event class and its pattern
    worker.wait_for("two handler runs", lambda: HandlerRun.objects.count() == 2)
    # Both entries get handle(event), as the original's listener did for an Event argument.
    assert [(run.event, run.detail) for run in HandlerRun.objects.all()] == [
        ("Noted(text='hello')", "()")
    ] * 2
    assert sorted(result.args[1] for result in task_results()) == [
        "re:tests::testapp::queued::Not.d",  # one task per entry, each naming its own
        "re:tests::testapp::queued::Noted",  # (a class entry listens to the class's name)
    ]


def test_events_a_queued_handler_dispatches_run_in_the_worker(worker: Worker) -> None:
    queued.Relayed("r-1").dispatch()
    worker.wait_for("the relayed event", lambda: HandlerRun.objects.filter(handler="relayed").exists())
    assert HandlerRun.objects.get(handler="relayed").event == "r-1"


def test_a_deleted_row_is_a_clear_error(worker: Worker) -> None:
    missing = {"args": [{"model": ["testapp.customer", 999999, "default"]}], "kwargs": {}}
    deliver.enqueue(
        "tests.testapp.queued.customer_created",
        "re:events::db::tests::testapp::models::Customer::created",
        "events::db::tests::testapp::models::Customer::created",
        missing,
    )
    worker.wait_for("a failed task", lambda: statuses() == ["FAILED"])
    assert "testapp.Customer with pk=999999 no longer exists" in task_results()[0].errors[0].traceback
    assert not HandlerRun.objects.exists()


@pytest.mark.postgres
def test_four_workers_on_postgresql_run_each_of_2000_tasks_exactly_once(tmp_path: Path) -> None:
    assert connection.vendor == "postgresql"  # make pytest: --ds tests.settings_postgres -m ""
    tasks = task_model()._default_manager
    with contextlib.ExitStack() as stack:
        workers = [stack.enter_context(running_worker(tmp_path / f"worker-{n}.log")) for n in range(4)]
        for started in workers:  # all four compete from the first task on
            started.wait_for("its start", partial(started.says, "Starting worker"))
        with transaction.atomic():  # the 2,000 tasks appear at once, at the commit
            for key in range(2000):
                queued.Counted(key).dispatch()
        dispatcher.clear_queue()
        workers[0].wait_for(
            "2,000 finished tasks",
            lambda: tasks.exclude(status__in=["READY", "RUNNING"]).count() == 2000,
            timeout=300,
        )
    runs = HandlerRun.objects.filter(handler="counted")
    assert sorted(int(key) for key in runs.values_list("event", flat=True)) == list(range(2000))
    assert set(statuses()) == {"SUCCESSFUL"}
    assert {run.pid for run in runs} == {started.process.pid for started in workers}  # all took part
