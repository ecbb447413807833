"""The timing harness: Django set up once, statements timed in interleaved rounds, medians.

Every case names the handlers it drives and how many calls one run makes; ``measure``
checks the handlers' call counts afterwards, so a broken path cannot look fast.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.util import find_spec

import django
from django.conf import settings


def has_task_backend() -> bool:
    """Whether the database backend of Django's task framework is installed (scenario 8)."""
    return find_spec("django_tasks_db") is not None


def has_original() -> bool:
    """Whether django-event-system 1.0.1 (module ``events``) is installed (scenario 9)."""
    return find_spec("events") is not None


def setup_django(tasks_database: str) -> None:
    """One in-memory SQLite database, and the task rows in a SQLite file at ``tasks_database``;
    handlers run inline (sync mode) unless a case says so."""
    if settings.configured:
        return
    tasks_apps = ["django_tasks_db"] if has_task_backend() else []
    if tasks_apps and not find_spec("django.tasks"):
        tasks_apps.insert(0, "django_tasks")  # the backport, before Django 6.0
    settings.configure(
        INSTALLED_APPS=["django_events", *tasks_apps],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
            "tasks": {"ENGINE": "django.db.backends.sqlite3", "NAME": tasks_database},
        },
        DATABASE_ROUTERS=["benchmarks.queued.TasksRouter"],
        TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}} if tasks_apps else {},
        DJANGO_EVENTS={"MODE": "sync", "AUTODISCOVER": False},
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        USE_TZ=True,
        SECRET_KEY="django_events benchmarks",  # signs the queued handlers' tasks (scenario 8)
    )
    django.setup()


def machine() -> str:
    import gevent

    return (
        f"Python {platform.python_version()}, Django {django.get_version()}, gevent {gevent.__version__}, "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    )


class Counter:
    """What the handlers of one case increment."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        self.calls = 0


@dataclass
class Case:
    """One statement to time, run with ``namespace`` as its globals."""

    label: str
    stmt: str
    namespace: dict[str, object]
    counter: Counter
    #: Handler calls one run of ``stmt`` must make.
    calls_per_run: int
    #: Operations (dispatches, saves) in one run of ``stmt``: the time is reported per op.
    ops_per_run: int = 1
    #: Run this case this many times fewer than the others (slow baselines).
    slower: int = 1
    ns_per_op: float = field(default=0.0, init=False)


def measure(cases: list[Case], *, number: int, repeat: int) -> None:
    """Time each case: a warm-up, then ``repeat`` rounds of ``number`` runs, every case in
    each round (so drift on a busy machine hits them alike); keep the median per op."""
    timers = [timeit.Timer(case.stmt, globals=case.namespace) for case in cases]
    runs = [max(1, number // case.slower) for case in cases]
    before = [case.counter.calls for case in cases]
    for timer, n in zip(timers, runs, strict=True):
        timer.timeit(max(1, n // 10))
    samples: list[list[float]] = [[] for _ in cases]
    gc.collect()
    for _ in range(repeat):
        for case, timer, n, out in zip(cases, timers, runs, samples, strict=True):
            out.append(timer.timeit(n) * 1e9 / (n * case.ops_per_run))
    for case, n, out, start in zip(cases, runs, samples, before, strict=True):
        expected = case.calls_per_run * (max(1, n // 10) + n * repeat)
        got = case.counter.calls - start
        if got != expected:
            raise SystemExit(f"{case.label}: handlers ran {got} times, expected {expected}: a broken path")
        case.ns_per_op = statistics.median(out)


@dataclass
class Target:
    """One of the issue's targets: a measured value against its limit."""

    key: str
    label: str
    value: float
    limit: float
    at_least: bool = False

    @property
    def met(self) -> bool:
        return self.value >= self.limit if self.at_least else self.value <= self.limit


def target_order(target: Target) -> tuple[int, str]:
    """1, 2, 3a, 3b, ... 10: by number, then letter."""
    digits = "".join(c for c in target.key if c.isdigit())
    return int(digits), target.key


def ratio(numerator: Case, denominator: Case) -> float:
    return numerator.ns_per_op / denominator.ns_per_op


def report(
    title: str,
    sections: list[tuple[str, list[Case]]],
    targets: list[Target],
    notes: list[str],
    *,
    judged: bool,
    out: Callable[[str], None] = print,
) -> bool:
    """Print the table and the targets; return whether every target was met."""
    out(title)
    out("")
    out(f"{'scenario / implementation':<58} {'ns/op':>10}")
    for heading, cases in sections:
        out(heading)
        for case in cases:
            out(f"    {case.label:<54} {case.ns_per_op:>10,.0f}")
    out("")
    out(f"{'target':<58} {'value':>10}  {'limit':>9}  verdict")
    for target in targets:
        sign = ">=" if target.at_least else "<="
        verdict = ("PASS" if target.met else "FAIL") if judged else "smoke run, not judged"
        out(f"{target.key:<3} {target.label:<54} {target.value:>10.3f}  {sign} {target.limit:<6g}  {verdict}")
    for note in notes:
        out(note)
    return all(t.met for t in targets)
