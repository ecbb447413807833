"""Queued handlers on Celery with Redis: README.md's "Set-up with Celery", run for real.

Each test starts a redis-server of its own (Debian's package; .ci/services installs it) on a
free port, and a Celery worker subprocess with the README's command and settings
(tests/settings_celery.py). The web side is a subprocess with the same settings that
dispatches events; the worker registered the handlers of tests/testapp/queued.py at
start-up, like test_worker.py's. All share the test database (a SQLite file). Celery
backends need Django 5.2+: the oldest pair (Django 4.2) leaves this module out (Makefile).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import pickle
import re
import shlex
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection

from django_events.tasks import BACKOFF
from tests import settings_celery
from tests.conftest import ROOT, measured
from tests.test_worker import TIMEOUT, Worker
from tests.testapp.models import HandlerRun, Order

pytestmark = pytest.mark.django_db(transaction=True)

#: Celery's name of django_events' one task (django-tasks-fennel prefixes the dotted path).
DELIVER = "django_tasks:django_events.tasks.deliver"


def readme_setup() -> tuple[dict[str, Any], list[str]]:
    """The settings block and the worker command of README.md's "Set-up with Celery"."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Set-up with Celery\n", 1)[1].split("\n### ", 1)[0]
    (python,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    namespace: dict[str, Any] = {}
    exec(python, namespace)
    del namespace["__builtins__"]
    (command,) = [
        line
        for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
        for line in block.splitlines()
        if " celery " in line
    ]
    return namespace, shlex.split(command)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A redis-server of this test's own, on a free port of the loopback, stopped after it."""
    server = shutil.which("redis-server")
    if server is None:  # pragma: no cover - only on a machine without it
        pytest.fail("no redis-server: `make services` (bash .ci/services) installs Debian's package")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    log = tmp_path / "redis.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=tmp_path, stdout=out, stderr=out)
    try:
        Worker(process, log).wait_for("Redis", lambda: "Ready to accept connections" in log.read_text())
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(15)


def _environment(redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings_celery",
        "DJANGO_EVENTS_WORKER_DB": str(connection.settings_dict["NAME"]),  # the test database
        "DJANGO_EVENTS_REDIS_URL": redis_url,
        "PYTHONPATH": str(ROOT),
    }


@pytest.fixture
def celery_worker(tmp_path: Path, redis_url: str) -> Iterator[Worker]:
    """The README's worker command, as a subprocess, stopped (warm shutdown) after the test."""
    _settings, command = readme_setup()
    assert command[:2] == ["DJANGO_SETTINGS_MODULE=mysite.settings", "celery"]
    log = tmp_path / "celery.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, *measured(), "-m", *command[1:]],
            cwd=ROOT,
            env=_environment(redis_url),
            stdout=out,
            stderr=out,
        )
    worker = Worker(process, log)
    try:
        worker.wait_for("the worker's start", lambda: " ready." in worker.output())
        yield worker
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:  # pragma: no cover - only when the worker hangs
            process.kill()
            process.wait()


WEB = """
import django

django.setup()

from django.db import transaction

from django_events import dispatcher
from tests.testapp import queued
from tests.testapp.models import Order
"""


def web(tmp_path: Path, redis_url: str, code: str) -> str:
    """Run ``code`` in a web-side process with the Celery settings; what it printed."""
    script = tmp_path / "web.py"
    script.write_text(WEB + code + "\ndispatcher.clear_queue()\n")
    done = subprocess.run(
        [sys.executable, *measured(), str(script)],
        cwd=ROOT,
        env=_environment(redis_url),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def results(redis_url: str) -> list[dict[str, Any]]:
    """The Celery results that the worker stored in Redis, of the tasks that finished (not
    one that started: fennel may record a STARTED state before the handler ran)."""
    with redis.Redis.from_url(redis_url) as client:
        stored = [json.loads(client.get(key)) for key in client.scan_iter("celery-task-meta-*")]
    return [result for result in stored if result["status"] in ("SUCCESS", "FAILURE")]


def test_the_settings_and_the_command_are_the_readmes() -> None:
    readme_settings, command = readme_setup()
    # The README's apps, in its order (the backport before Django 6.0 only), among the tests' own.
    backport = find_spec("django.tasks") is None
    apps = [
        app
        for app in readme_settings.pop("INSTALLED_APPS")
        if app is not ... and (app != "django_tasks" or backport)
    ]
    assert [app for app in settings_celery.INSTALLED_APPS if app in apps] == apps
    # The rest as it is; only the processes of the tests get their own Redis URL.
    assert "DJANGO_EVENTS_REDIS_URL" not in os.environ
    assert {name: getattr(settings_celery, name) for name in readme_settings} == readme_settings
    assert readme_settings.keys() == {
        "TASKS",
        "CELERY_BROKER_URL",
        "CELERY_RESULT_BACKEND",
        "CELERY_RESULT_EXTENDED",
    }
    # The worker: the app django-tasks-fennel brings, on the queues of TASKS.
    assert command == [
        "DJANGO_SETTINGS_MODULE=mysite.settings",
        "celery",
        "-A",
        "django_tasks_fennel.app",
        "worker",
        "--queues",
        ",".join(readme_settings["TASKS"]["default"]["QUEUES"]),
        "--loglevel",
        "INFO",
    ]


def test_queued_handlers_run_in_the_celery_worker(
    tmp_path: Path, redis_url: str, celery_worker: Worker
) -> None:
    printed = web(
        tmp_path,
        redis_url,
        """
import datetime, uuid
from decimal import Decimal

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
with transaction.atomic():
    dispatcher.dispatch("worker::mail::welcome", 2, to="ada@example.com")
queued.Greeted(key="hello").dispatch()
print(repr(event))
""",
    )
    celery_worker.wait_for("three handler runs", lambda: HandlerRun.objects.count() == 3)
    runs = {run.handler: run for run in HandlerRun.objects.all()}
    assert runs["paid"].detail == printed.strip()  # every field, the Order loaded again
    assert Order.objects.count() == 1
    assert (runs["mail"].event, runs["mail"].detail) == (
        "worker::mail::welcome",
        repr(((2,), {"to": "ada@example.com"})),
    )
    assert runs["greet"].event == "hello"  # the async handler ran to its end
    # In a process of the worker's (Celery's prefork pool forks its children), not here.
    assert {run.pid for run in runs.values()}.isdisjoint({os.getpid(), celery_worker.process.pid})
    celery_worker.wait_for("three results", lambda: len(results(redis_url)) == 3)
    assert [result["status"] for result in results(redis_url)] == ["SUCCESS"] * 3
    assert {result["name"] for result in results(redis_url)} == {DELIVER}
    assert sorted(result["queue"] for result in results(redis_url)) == ["default", "default", "mail"]


def test_a_failing_handler_runs_again_as_its_retries_say(
    tmp_path: Path, redis_url: str, celery_worker: Worker
) -> None:
    web(tmp_path, redis_url, 'queued.Flaky("k").dispatch()\nqueued.Doomed("d").dispatch()')
    celery_worker.wait_for("four results", lambda: len(results(redis_url)) == 4, timeout=TIMEOUT)
    # Flaky (retries=2) fails twice, then succeeds; Doomed (no retries) fails once.
    assert list(HandlerRun.objects.filter(handler="flaky").values_list("attempt", flat=True)) == [1, 2, 3]
    assert HandlerRun.objects.filter(handler="doomed").count() == 1
    by_handler: dict[str, list[dict[str, Any]]] = {}
    for result in sorted(results(redis_url), key=lambda result: datetime.fromisoformat(result["date_done"])):
        by_handler.setdefault(result["args"][0].rpartition(".")[2], []).append(result)
    assert {handler: [r["status"] for r in rs] for handler, rs in by_handler.items()} == {
        "flaky": ["FAILURE", "FAILURE", "SUCCESS"],
        "doomed": ["FAILURE"],
    }
    # Retry n waited BACKOFF * 2 ** (n - 1) seconds (Celery's eta) after its enqueue, which the
    # attempt before made after it started.
    started = [datetime.fromisoformat(run.detail) for run in HandlerRun.objects.filter(handler="flaky")]
    for retry, (failed, again) in enumerate(itertools.pairwise(started), start=1):
        assert (again - failed).total_seconds() >= BACKOFF * 2 ** (retry - 1)
    logged = re.findall(r"ERROR/[\w-]+\] queued handler tests\.testapp\.queued\.(.*)", celery_worker.output())
    assert sorted(logged) == [
        "doomed failed for event 'tests::testapp::queued::Doomed' (attempt 1 of 1)",
        "flaky failed for event 'tests::testapp::queued::Flaky' (attempt 1 of 3, retrying)",
        "flaky failed for event 'tests::testapp::queued::Flaky' (attempt 2 of 3, retrying)",
    ]


def _message(body: bytes, content_type: str, task_id: str) -> str:
    """A message of Celery's protocol 2 as the Redis transport keeps it, written by hand."""
    return json.dumps(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8" if content_type == "application/json" else "binary",
            "content-type": content_type,
            "headers": {"lang": "py", "task": DELIVER, "id": task_id, "root_id": task_id, "retries": 0},
            "properties": {
                "correlation_id": task_id,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": "default"},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }
    )


class Forged:
    """What a pickled task would run when it is unpickled (it never is)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


def test_a_message_written_into_the_queue_by_hand_is_refused(
    tmp_path: Path, redis_url: str, celery_worker: Worker
) -> None:
    pwned = tmp_path / "pwned"
    embed = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
    payload = json.dumps({"args": [f"touch {pwned}"], "kwargs": {}})
    args = ["os.system", "re:.*", "worker::mail::x", payload, 1, "not-a-signature"]
    forged, pickled = str(uuid.uuid4()), str(uuid.uuid4())
    with redis.Redis.from_url(redis_url) as client:
        client.lpush("default", _message(json.dumps([args, {}, embed]).encode(), "application/json", forged))
        body = pickle.dumps(((Forged(pwned),), {}, embed))
        client.lpush("default", _message(body, "application/x-python-serialize", pickled))
    celery_worker.wait_for("the refusal", lambda: len(results(redis_url)) == 1)
    (result,) = results(redis_url)
    assert (result["task_id"], result["status"]) == (forged, "FAILURE")
    assert result["result"]["exc_type"] == "RefusedTask"
    celery_worker.wait_for(
        "the log lines", lambda: "untrusted content of type pickle" in celery_worker.output()
    )
    output = celery_worker.output()
    assert "queued handler 'os.system' could not run for event 'worker::mail::x'" in output
    assert "does not verify with this worker's SECRET_KEY" in output  # refused before decoding
    assert "django_events.exceptions.RefusedTask: " in output
    assert not pwned.exists()
    assert not HandlerRun.objects.exists()
