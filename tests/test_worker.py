"""Queued handlers in a real task worker: ``manage.py db_worker`` of the database backend.

Each test starts the worker as a subprocess on the test database (a SQLite file), which
registers the handlers of tests/testapp/queued.py at start-up; the test dispatches events
here and reads what the handlers wrote there. The worker is stopped after each test,
whatever happened.
"""

from __future__ import annotations

import datetime
import itertools
import json
import os
import subprocess
import sys
import time
import uuid
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import TZPATH

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import User
from django.core.signing import Signer
from django.db import connection, transaction
from django.db.models import Model
from django.test import override_settings
from django.utils import timezone

from django_events import EventDispatcher, dispatcher
from django_events._payload import sign
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


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Start a worker (``environ``: more environment variables, such as another SECRET_KEY);
    every worker started is stopped at the end of the test."""
    started: list[Worker] = []

    def start(**environ: str) -> Worker:
        log = tmp_path / f"worker-{len(started)}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,
            "DJANGO_EVENTS_WORKER_DB": str(connection.settings_dict["NAME"]),  # the test database
            "PYTHONPATH": str(ROOT),
            **environ,
        }
        command = [sys.executable, *measured(), "-m", "django", "db_worker", "--queue-name", "*"]
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*command, "--interval", "0.05", "--no-startup-delay"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=out,
            )
        started.append(Worker(process, log))
        return started[-1]

    try:
        yield start
    finally:
        for worker in started:
            stop(worker)


def stop(worker: Worker) -> None:
    worker.process.terminate()
    try:
        worker.process.wait(15)
    except subprocess.TimeoutExpired:  # pragma: no cover - only when the worker hangs
        worker.process.kill()
        worker.process.wait()


@pytest.fixture
def worker(start_worker: Callable[..., Worker]) -> Worker:
    return start_worker()


@pytest.fixture(autouse=True)
def handlers() -> None:
    queued.register()  # this process enqueues; the worker registered the same at start-up


def task_model() -> type[Model]:
    """The database backend's model of a task (its table is the task store)."""
    (config,) = [c for c in apps.get_app_configs() if c.name == settings.TASKS_APP]
    return config.get_model("DBTaskResult")


def task_results() -> list[Any]:
    """The database backend's task results, oldest first, as TaskResult objects."""
    return [row.task_result for row in task_model()._default_manager.order_by("enqueued_at")]


def write_task(*args: Any) -> str:
    """A row of the task table written by hand, as anyone with write access to it could:
    a task for ``deliver`` with these arguments. Its id."""
    row = task_model()._default_manager.create(
        task_path="django_events.tasks.deliver",
        args_kwargs={"args": list(args), "kwargs": {}},
        queue_name="default",
        backend_name="default",
        run_after=timezone.now(),
    )
    return str(row.pk)


def signed(handler: Any, target: Any, name: Any, payload: Any, attempt: Any = 1) -> list[Any]:
    """A task's arguments with the signature this project's SECRET_KEY gives them (what a
    leaked key, or a bug, would let through): then the worker's own checks must hold."""
    return [handler, target, name, payload, attempt, sign(handler, target, name, payload, attempt)]


def payload(*args: Any, **kwargs: Any) -> str:
    """A payload written by hand."""
    return json.dumps({"args": list(args), "kwargs": kwargs})


def failures() -> dict[str, str]:
    """The traceback of each failed task, by task id."""
    return {str(result.id): result.errors[0].traceback for result in task_results() if result.errors}


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
    (result,) = task_results()
    handler, target, name, text, attempt, signature = result.args
    assert (handler, target, name, attempt) == (
        "tests.testapp.queued.doomed",
        "event:tests.testapp.queued:Doomed",
        "tests::testapp::queued::Doomed",
        1,
    )
    assert json.loads(text) == {
        "args": [{"dataclass": ["tests.testapp.queued:Doomed", {"key": "committed"}]}],
        "kwargs": {},
    }
    assert signature == sign(handler, target, name, text, attempt)


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
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = EventDispatcher(mode="sync")
    d.register("worker::lost", queued.record_mail, queue=True, after_commit=True)
    later: list[str] = []
    with transaction.atomic():
        d.dispatch("worker::lost", 1)
        transaction.on_commit(lambda: later.append("ran"))

        def store_down(*args: Any, **kwargs: Any) -> None:
            raise OSError("the task store is down")

        monkeypatch.setattr(type(deliver.get_backend()), "enqueue", store_down)  # at the commit
    assert later == ["ran"]  # the next on_commit callback still ran
    assert task_results() == []
    (record,) = [r for r in caplog.records if r.name == "django_events"]
    assert record.getMessage() == (
        "queued handler tests.testapp.queued.record_mail: the task for event 'worker::lost' could "
        "not be enqueued after the commit; it is lost"
    )
    assert record.exc_info is not None
    assert "the task store is down" in str(record.exc_info[1])


def test_an_after_commit_queued_handler_on_a_refused_queue_refuses_the_dispatch() -> None:
    """Its queue is checked at the dispatch, as its payload is: not logged and lost after
    the commit."""
    d = EventDispatcher(mode="sync")
    d.register("worker::lost", queued.record_mail, queue="nowhere", after_commit=True)
    with transaction.atomic(), pytest.raises(Exception, match="Queue 'nowhere' is not valid for backend"):
        d.dispatch("worker::lost", 1)
    assert task_results() == []


def test_a_retry_that_cannot_be_enqueued_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    d = EventDispatcher(mode="sync")
    d.register("worker::unlucky", queued.unlucky, queue="nowhere", retries=1)
    task = signed("tests.testapp.queued.unlucky", "re:worker::unlucky", "worker::unlucky", payload())
    with pytest.raises(RuntimeError, match="unlucky worker::unlucky"):  # the task itself, in this process
        deliver.call(*task)
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
        "handler tests.testapp.queued.record_paid: args[0]: a 'tests.testapp.queued:Flaky' where Paid "
        "(or a subclass) is declared",
        id="typed handler, another event class",
    ),
]


@pytest.mark.parametrize(("handler", "target", "name", "args", "message"), REFUSED)
def test_the_worker_refuses_a_task_for_anything_it_did_not_queue(
    worker: Worker, handler: str, target: str, name: str, args: list[Any], message: str
) -> None:
    write_task(*signed(handler, target, name, payload(*args)))  # even with a valid signature
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
    write_task(
        *signed(
            "tests.testapp.queued.customer_created",
            "re:events::db::tests::testapp::models::Customer::created",
            "events::db::tests::testapp::models::Customer::created",
            payload({"model": ["testapp.customer", 999999, "default"]}),
        )
    )
    worker.wait_for("a failed task", lambda: statuses() == ["FAILED"])
    assert "testapp.Customer with pk=999999 no longer exists" in task_results()[0].errors[0].traceback
    assert not HandlerRun.objects.exists()


# -- issue 15: signed tasks, forged rows, exact round trips -------------------------------

PAID = ("tests.testapp.queued.record_paid", "event:tests.testapp.queued:Paid", queued.Paid.event_name)
MAIL = ("tests.testapp.queued.record_mail", "re:worker::mail::.*", "worker::mail::x")
CUSTOMER_CREATED = (
    "tests.testapp.queued.customer_created",
    "re:events::db::tests::testapp::models::Customer::created",
    "events::db::tests::testapp::models::Customer::created",
)


def paid_fields(row: Order, **forged: Any) -> dict[str, Any]:
    """The fields of a Paid event as a payload gives them, some of them forged."""
    return {
        "order": {"model": ["testapp.order", row.pk, "default"]},
        "amount": {"decimal": "9.50"},
        "at": {"datetime": ["2026-11-25T09:30:00+00:00", 0]},
        "day": {"date": "2026-11-25"},
        "ref": {"uuid": "12345678-1234-5678-1234-567812345678"},
        "line": {"dataclass": ["tests.testapp.queued:Line", {"sku": "s", "quantity": 1}]},
        "tags": {"tuple": []},
        "extra": {"dict": {}},
        **forged,
    }


def paid(row: Order, path: str = "tests.testapp.queued:Paid", **forged: Any) -> str:
    return payload({"dataclass": [path, paid_fields(row, **forged)]})


def assert_refused(rows: dict[str, str], worker: Worker) -> None:
    """Each task failed with its message (its id -> a part of its traceback), no handler ran,
    nothing was retried, and the worker logged each refusal."""
    worker.wait_for("every task failed", lambda: statuses() == ["FAILED"] * len(rows))
    tracebacks = failures()
    assert {id: message for id, message in rows.items() if message not in tracebacks[id]} == {}
    assert all("RefusedTask: refused a task" in traceback for traceback in tracebacks.values())
    assert (
        list(HandlerRun.objects.values_list("handler", flat=True)) == []
    )  # no __post_init__ nor __getattr__
    worker.wait_for("the log lines", lambda: worker.output().count("could not run for event") == len(rows))


def test_a_task_whose_signature_does_not_verify_is_refused_before_anything_is_read(worker: Worker) -> None:
    order = Order.objects.create()
    genuine = signed(*PAID, paid(order))
    handler, target, name, text, attempt, signature = genuine
    with override_settings(SECRET_KEY="another project's key"):
        other_key = sign(handler, target, name, text, attempt)
    other_salt = Signer(salt="another salt").signature(json.dumps(genuine[:5], separators=(",", ":")))
    user = User.objects.create(username="admin", is_superuser=True)
    not_verified = "its signature does not verify with this worker's SECRET_KEY or SECRET_KEY_FALLBACKS"
    rows = {
        write_task(handler, target, name, text, attempt, ""): not_verified,  # unsigned
        write_task(handler, target, name, text, attempt, other_key): not_verified,
        write_task(handler, target, name, text, attempt, other_salt): not_verified,
        write_task(handler, target, name, text, attempt, 42): not_verified,
        write_task(handler, target, name, text, 2, signature): not_verified,  # a forged attempt
        write_task(*MAIL[:2], name, text, attempt, signature): not_verified,  # a swapped handler
        write_task(handler, target, "worker::mail::x", text, attempt, signature): not_verified,
        write_task(  # another row in a field
            handler, target, name, text.replace('"testapp.order"', '"auth.user"'), attempt, signature
        ): not_verified,
        write_task(*MAIL, payload({"model": ["auth.user", user.pk, "default"]}), 1, "forged"): not_verified,
        write_task(*MAIL, {"args": [1], "kwargs": {}}, 1): not_verified,  # as tasks were before signing
    }
    assert_refused(rows, worker)


def test_forged_values_are_refused_even_with_a_valid_signature(worker: Worker) -> None:
    # Signed with the project's key, as a leaked key (or a bug) would let through: the
    # handler's declared types, the allowlist and the task's shape still hold.
    order = Order.objects.create()
    admin = {"model": ["auth.user", User.objects.create(username="admin").pk, "default"]}
    tripwire = {"dataclass": ["tests.testapp.queued:Tripwire", {"note": "built"}]}
    lazy = {"dataclass": ["tests.testapp.lazy:Paid", paid_fields(order)]}
    rows = {
        write_task(*signed(*PAID, paid(order, order=admin))): (
            "record_paid: args[0].order: a 'auth.user' instance where testapp.Order (or a "
            "subclass) is declared"
        ),
        write_task(*signed(*PAID, paid(order, amount={"model": ["testapp.customer", 1, "default"]}))): (
            "record_paid: args[0].amount: a model where a scalar is declared"
        ),
        write_task(*signed(*PAID, paid(order, line=tripwire))): (
            "record_paid: args[0].line: a 'tests.testapp.queued:Tripwire' where Line (or a subclass) "
            "is declared"
        ),
        write_task(*signed(*PAID, paid(order, "tests.testapp.lazy:Paid"))): (
            "record_paid: args[0]: a 'tests.testapp.lazy:Paid' where Paid (or a subclass) is declared"
        ),
        write_task(*signed(*MAIL, payload(1, tripwire))): (
            "record_mail: args[1]: a dataclass where no class is declared"
        ),
        write_task(*signed(*MAIL, payload(lazy))): (
            "record_mail: args[0]: a 'tests.testapp.lazy:Paid' where an Event named 'worker::mail::x' "
            "(or a subclass) is declared"
        ),
        write_task(*signed(*CUSTOMER_CREATED, payload(admin))): (
            "customer_created: args[0]: a 'auth.user' instance where testapp.Customer (or a "
            "subclass) is declared"
        ),
        write_task(*signed(*MAIL, json.dumps({"args": "abc", "kwargs": {}}))): (
            "record_mail: the payload: its args must be a list, got 'abc'"
        ),
        write_task(*signed(MAIL[0], MAIL[1], 42, payload())): "its event name must be a str, got 42",
        write_task(
            *signed(
                "tests.testapp.queued.doomed",
                "event:tests.testapp.queued:Doomed",
                queued.Doomed.event_name,
                payload({"dataclass": ["tests.testapp.queued:Doomed", {"key": "k"}]}),
                -3,
            )
        ): "doomed: attempt -3, where the handler takes a whole number from 1 to 1 (retries=0)",
        write_task(
            *signed(
                "tests.testapp.queued.flaky",
                "event:tests.testapp.queued:Flaky",
                queued.Flaky.event_name,
                payload({"dataclass": ["tests.testapp.queued:Flaky", {"key": "k"}]}),
                4,
            )
        ): "flaky: attempt 4, where the handler takes a whole number from 1 to 3 (retries=2)",
        write_task(*signed(*MAIL, payload(10**40), True)): "attempt True, where the handler takes",
    }
    assert_refused(rows, worker)


def test_aware_datetimes_and_times_keep_their_offset_zone_and_fold_in_the_worker(worker: Worker) -> None:
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    (path,) = [Path(root, "Europe", "Paris") for root in TZPATH if Path(root, "Europe", "Paris").exists()][:1]
    with path.open("rb") as file:
        unnamed = zoneinfo.ZoneInfo.from_file(file)  # no key: it travels as its fixed offset
    india = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    values = (
        datetime.datetime(2026, 10, 25, 2, 30, tzinfo=paris, fold=1),  # the second 02:30
        datetime.datetime(2026, 10, 25, 2, 30, tzinfo=datetime.timezone.utc, fold=1),
        datetime.datetime(2026, 10, 25, 2, 30, tzinfo=india, fold=1),
        datetime.datetime(2026, 10, 25, 2, 30, tzinfo=unnamed, fold=1),
        datetime.time(12, 0, tzinfo=paris, fold=1),
        datetime.time(12, 0, tzinfo=india),
        datetime.time(12, 0, fold=1),
    )
    dispatcher.dispatch("worker::mail::clocks", *values)
    worker.wait_for("mail handler run", lambda: HandlerRun.objects.filter(handler="mail").exists())
    one_hour = datetime.timezone(datetime.timedelta(hours=1))  # Paris's offset at the second 02:30
    expected = (*values[:3], values[3].replace(tzinfo=one_hour), *values[4:])
    assert HandlerRun.objects.get(handler="mail").detail == repr((expected, {}))


def test_a_task_signed_with_a_retired_key_runs_while_the_key_is_a_fallback(
    start_worker: Callable[..., Worker],
) -> None:
    queued.Greeted("old key").dispatch()  # signed with this process's SECRET_KEY
    rotated = start_worker(DJANGO_EVENTS_SECRET_KEY="the new key")
    rotated.wait_for("a failed task", lambda: statuses() == ["FAILED"])
    assert "its signature does not verify" in task_results()[0].errors[0].traceback
    stop(rotated)
    queued.Greeted("old key, kept").dispatch()
    start_worker(
        DJANGO_EVENTS_SECRET_KEY="the new key", DJANGO_EVENTS_SECRET_KEY_FALLBACKS=settings.SECRET_KEY
    ).wait_for("a successful task", lambda: statuses() == ["FAILED", "SUCCESSFUL"])
    assert list(HandlerRun.objects.values_list("event", flat=True)) == ["old key, kept"]


@pytest.mark.postgres
def test_four_workers_on_postgresql_run_each_of_2000_tasks_exactly_once(
    start_worker: Callable[..., Worker],
) -> None:
    assert connection.vendor == "postgresql"  # make pytest: --ds tests.settings_postgres -m ""
    tasks = task_model()._default_manager
    workers = [start_worker() for _ in range(4)]
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
