"""Reliability under load: many threads, registry churn, long runs of failing handlers."""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

import gevent
import pytest

from django_events import EventDispatcher

THREADS = 8
DISPATCHES = 20_000


@pytest.mark.parametrize("mode", ["sync", "gevent"])
def test_threads_dispatching_while_another_registers_deliver_each_event_once_in_order(mode: Any) -> None:
    """8 threads x 20,000 dispatches, while a ninth thread keeps registering and removing
    unrelated handlers (each change empties the route cache): every event is delivered
    exactly once, each thread's events in its dispatch order, nothing hangs or raises.

    Half the threads have a gevent hub: in gevent mode their worker greenlets drain the
    queues while they dispatch, and their handler yields now and then. The interpreter
    switches threads every 10 us instead of 5 ms, so that threads interleave finely.
    """
    d = EventDispatcher(mode=mode)
    seen: list[list[int]] = [[] for _ in range(THREADS)]
    stray: list[object] = []

    def handler(name: str, thread: int, seq: int) -> None:
        seen[thread].append(seq)  # list.append is atomic: no lock to hide a race
        if thread % 2 and seq % 1_000 == 0:
            gevent.sleep(0)  # a handler that yields, in a thread with a hub

    d.register(r"load::\d+", handler)
    done = threading.Event()

    def dispatch(thread: int) -> None:
        # An exception here fails the test: pytest reports exceptions raised in threads.
        hub = gevent.get_hub() if thread % 2 else None
        for seq in range(DISPATCHES):
            d.dispatch(f"load::{thread}", thread, seq)
            if hub is not None and seq % 500 == 0:
                gevent.sleep(0)  # the worker greenlet drains this thread's queue
            elif mode == "gevent" and seq % 2_500 == 0:
                d.clear_queue()  # drains this thread's queue and those of threads that ended
        if hub is not None:
            d.clear_queue()
            hub.destroy(destroy_loop=True)

    def churn() -> None:
        unrelated = stray.append  # never matches a load:: name
        changes = 0
        while not done.is_set() or changes < 100:
            d.register(f"other::{changes % 7}", unrelated)
            d.off(unrelated)
            changes += 1

    workers = [threading.Thread(target=dispatch, args=(n,)) for n in range(THREADS)]
    churner = threading.Thread(target=churn)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        churner.start()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(120)
            assert not worker.is_alive(), "a dispatching thread hangs"
    finally:
        sys.setswitchinterval(interval)
    done.set()
    churner.join(30)
    assert not churner.is_alive()
    d.clear_queue()  # gevent: what the threads left (their hubless queues) runs here
    assert stray == []
    assert d.pending() == 0
    for thread in range(THREADS):
        assert seen[thread] == list(range(DISPATCHES)), f"thread {thread}: lost, repeated or reordered"
    assert d.registrations == d.registrations[:1]  # the churn left nothing behind


def test_a_handler_failing_on_every_event_never_stops_the_worker(caplog: pytest.LogCaptureFixture) -> None:
    d = EventDispatcher(mode="gevent")
    delivered: list[int] = []

    def always_fails(name: str, i: int) -> None:
        raise RuntimeError(f"failure {i}")

    d.register("work", always_fails)
    d.register("work", lambda name, i: delivered.append(i))
    with caplog.at_level(logging.ERROR, logger="django_events"):
        for batch in range(10):
            for i in range(batch * 500, (batch + 1) * 500):
                d.dispatch("work", i)
            gevent.sleep(0)  # the worker greenlet runs the batch
            assert delivered == list(range((batch + 1) * 500)), f"batch {batch} stalled"
    failures = [r for r in caplog.records if r.message.startswith("handler ")]
    assert len(failures) == 5_000
    assert failures[-1].exc_info is not None
    assert str(failures[-1].exc_info[1]) == "failure 4999"
    assert d.pending() == 0
