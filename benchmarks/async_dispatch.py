"""Scenario 12: ``await dispatcher.adispatch(name)`` from a running event loop, against
Django's ``Signal.asend`` (Django 5.0+; skipped with a note before it).

12a: one ``async def`` handler (awaited in the caller's loop) against ``asend`` with one
async receiver. 12b: one sync handler (run through asgiref's thread-sensitive
``sync_to_async``) against ``asend`` with one sync receiver. A floor beside 12b: a bare
``await sync_to_async(f)()``, the one thread hop any sync handler costs from async code.

timeit cannot await, so each case's statement runs one coroutine of ``BATCH`` awaits to
completion in an event loop made once for that case and reused (``run_until_complete``):
the loop's start and stop are the same for both sides and spread over the batch, and the
time is reported per await. Every handler and receiver does the same work: it counts its call.
"""

from __future__ import annotations

import asyncio
import atexit
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import django
from asgiref.sync import sync_to_async
from django.dispatch import Signal

from django_events import EventDispatcher

from ._harness import Case, Counter, Target, ratio

NAME = "shop::orders::paid"
#: Awaits in one run of a case's statement (one ``run_until_complete``).
ASYNC_BATCH, SYNC_BATCH = 100, 20
#: How many times fewer runs than the plain dispatches (a few µs, ~150 µs per await).
ASYNC_SLOWER, SYNC_SLOWER = 200, 400

Sections = list[tuple[str, list[Case]]]


def _batched(
    label: str, await_one: Callable[[], Awaitable[object]], counter: Counter, batch: int, slower: int
) -> Case:
    """A case whose one run awaits ``await_one()`` ``batch`` times in its own event loop."""
    loop = asyncio.new_event_loop()
    atexit.register(loop.close)
    steps = range(batch)

    async def awaits() -> None:
        for _ in steps:
            await await_one()

    def run(make: Callable[[], Coroutine[Any, Any, None]]) -> None:
        loop.run_until_complete(make())

    return Case(
        label, "run(awaits)", {"run": run, "awaits": awaits}, counter, batch, ops_per_run=batch, slower=slower
    )


def _ours(label: str, handler: Callable[..., object], counter: Counter, batch: int, slower: int) -> Case:
    dispatcher = EventDispatcher(mode="sync")
    dispatcher.register(NAME, handler)
    return _batched(label, lambda: dispatcher.adispatch(NAME), counter, batch, slower)


def _asend(label: str, receiver: Callable[..., object], counter: Counter, batch: int, slower: int) -> Case:
    signal = Signal()
    signal.connect(receiver, weak=False)
    return _batched(label, lambda: signal.asend(None), counter, batch, slower)


def scenarios() -> tuple[Sections, Callable[[], list[Target]], Callable[[], list[str]]]:
    """The cases to time, by section; the targets and the notes, computed afterwards."""
    if not hasattr(Signal, "asend"):
        note = f"12 not measured: Django {django.get_version()} has no Signal.asend (Django 5.0+)"
        return [], list, lambda: [note]

    counters = [Counter() for _ in range(5)]
    ours_async, asend_async, ours_sync, asend_sync, bare_counter = counters

    async def async_handler(name: str, *args: object, **kwargs: object) -> None:
        ours_async.calls += 1

    async def async_receiver(sender: object, **kwargs: object) -> None:
        asend_async.calls += 1

    def sync_handler(name: str, *args: object, **kwargs: object) -> None:
        ours_sync.calls += 1

    def sync_receiver(sender: object, **kwargs: object) -> None:
        asend_sync.calls += 1

    def count() -> None:
        bare_counter.calls += 1

    # Made once, as adispatch makes its own once: the floor is the hop, not the wrapper.
    hop = sync_to_async(count)  # thread_sensitive, as adispatch and asend use it
    a = ASYNC_BATCH, ASYNC_SLOWER
    s = SYNC_BATCH, SYNC_SLOWER
    one_async = _ours("django_events, await adispatch(name)", async_handler, ours_async, *a)
    signal_async = _asend("django.dispatch.Signal.asend", async_receiver, asend_async, *a)
    one_sync = _ours("django_events, await adispatch(name)", sync_handler, ours_sync, *s)
    signal_sync = _asend("django.dispatch.Signal.asend", sync_receiver, asend_sync, *s)
    bare = _batched("bare await sync_to_async(f)() (the floor)", hop, bare_counter, *s)
    sections = [
        ("12 from a running event loop: one async handler, per await", [one_async, signal_async]),
        ("12 from a running event loop: one sync handler, per await", [one_sync, signal_sync, bare]),
    ]

    def targets() -> list[Target]:
        return [
            Target("12a", "adispatch / Signal.asend, one async handler", ratio(one_async, signal_async), 0.5),
            Target("12b", "adispatch / Signal.asend, one sync handler", ratio(one_sync, signal_sync), 0.5),
        ]

    def notes() -> list[str]:
        return [
            "12 floor: bare await sync_to_async(f)() / Signal.asend, one sync receiver: "
            f"{ratio(bare, signal_sync):.3f} (12b cannot go below it: one thread hop, "
            f"{bare.ns_per_op / 1000:,.0f} µs here)"
        ]

    return sections, targets, notes
