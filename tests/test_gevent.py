"""Gevent mode as a gevent site runs it: handlers that fan out to greenlets, one living
worker per thread, drains that reach quiescence across dispatchers, the raise policy,
dropped dispatchers, and threads that end (django_events.delivery.gevent)."""

from __future__ import annotations

import gc
import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import gevent.event
import gevent.exceptions
import gevent.pool
import pytest
from django.db import connection, transaction
from django.test import Client, override_settings
from greenlet import getcurrent

from django_events import Event, EventDispatcher, dispatcher, observes, on
from django_events._routing import handler_label
from django_events.delivery import gevent as delivery
from tests.conftest import Recorder, finish_drains
from tests.test_dispatcher import Boom, explode, script_output
from tests.testapp.models import Customer, Place


class Paid(Event):
    amount: int


@pytest.fixture(autouse=True)
def gevent_mode() -> Iterator[None]:
    with override_settings(DJANGO_EVENTS={"MODE": "gevent"}):
        yield


def _save() -> None:
    Customer.objects.create(name="child")


def _clear_queue() -> None:
    dispatcher.clear_queue()


def _legacy_dispatch() -> None:
    Paid.Dispatch(1)


@dispatcher.ensure_queue_is_cleared
def _ensured() -> None:
    dispatcher.dispatch("fan::ensured")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("child", "handled"),
    [
        (_save, "created child"),
        (_clear_queue, None),
        (_legacy_dispatch, "paid"),
        (_ensured, "ensured"),
    ],
    ids=["a save", "clear_queue()", "Event.Dispatch()", "an ensure_queue_is_cleared function"],
)
def test_a_handler_that_fans_out_to_greenlets_never_hangs(
    child: Callable[[], None], handled: str | None
) -> None:
    seen: list[str] = []

    @observes(Customer)
    class Watch:
        def created(self, instance: Customer) -> None:
            seen.append(f"created {instance.name}")

    on(Paid)(lambda event: seen.append("paid"))
    on("fan::ensured")(lambda name: seen.append("ensured"))

    @on("report::requested")
    def build_report(name: str) -> None:
        gevent.joinall([gevent.spawn(child) for _ in range(3)], raise_error=True)
        seen.append("joined")

    with gevent.Timeout(5):  # a hang fails the test instead of stopping the suite
        dispatcher.dispatch("report::requested")
        gevent.sleep(0)  # the worker runs the handler, which spawns and joins
        dispatcher.clear_queue()  # the worker's drain is under way: returns at once
        finish_drains()
        # The children's events waited behind the handler (queue order), then ran.
        assert seen == ["joined"] + ([handled] * 3 if handled else [])
        Customer.objects.create(name="later")  # later saves do not hang either
        gevent.sleep(0)
    assert seen[-1] == "created later"
    assert dispatcher.pending() == 0


def test_a_fan_out_at_exit_is_drained_to_the_end() -> None:
    script = """
import gevent
from django_events import Dispatcher

def build(name):
    gevent.joinall([gevent.spawn(child, i) for i in range(3)])
    print("joined", flush=True)

def child(i):
    Dispatcher.Dispatch("exit::child", i)
    Dispatcher.ClearQueue()  # inside the drain that runs build: returns at once

def handled(name, i):
    print("child", i, flush=True)

Dispatcher.RegisterHandler("exit::build", build)
Dispatcher.RegisterHandler("exit::child", handled)
Dispatcher.Dispatch("exit::build")
"""
    assert script_output(script) == ["joined", "child 0", "child 1", "child 2"]


def test_one_living_worker_runs_every_event_of_a_thread(queued: EventDispatcher) -> None:
    ran_in: list[object] = []
    queued.register("a", lambda name: ran_in.append(getcurrent()))
    for _ in range(5):
        queued.dispatch("a")
        gevent.sleep(0)  # the shape of a gevent request: dispatch, then I/O
    worker = delivery._local.queue.worker
    assert worker is not None
    assert not worker.dead
    assert ran_in == [worker] * 5  # one greenlet, woken each time, never one per event


def _yielding(queued: EventDispatcher) -> list[str]:
    """Registers a handler for "a" and "b" that yields between its start and its end."""
    seen: list[str] = []

    def slow(name: str) -> None:
        seen.append(f"start {name}")
        gevent.sleep(0.01)
        seen.append(f"end {name}")

    queued.register("a|b", slow)
    return seen


def test_a_handler_that_yields_keeps_one_consumer(queued: EventDispatcher) -> None:
    seen = _yielding(queued)
    queued.dispatch("a")
    gevent.sleep(0)  # the worker starts a, which yields
    queued.dispatch("b")  # the worker is busy: b waits for it
    gevent.sleep(0)
    queued.clear_queue()  # never waits for the worker (it could be waiting for this greenlet)
    assert seen == ["start a"]
    finish_drains()
    assert seen == ["start a", "end a", "start b", "end b"]


def _spawn_raw_child() -> None:
    done = gevent.event.Event()

    def child() -> None:
        dispatcher.clear_queue()
        done.set()

    gevent.spawn_raw(child)  # its parent is the hub: nothing says who made it
    done.wait()


def _child_of_a_finished_greenlet() -> None:
    group = gevent.pool.Group()
    gevent.spawn(lambda: [group.spawn(dispatcher.clear_queue) for _ in range(3)]).join()
    group.join()  # the greenlet that spawned them is gone


def _a_greenlet_from_before() -> None:
    assert _earlier.get(timeout=5) == "set by a greenlet that cleared the queue first"


_earlier: gevent.event.AsyncResult[str] = gevent.event.AsyncResult()


@pytest.mark.parametrize(
    "handler",
    [_spawn_raw_child, _child_of_a_finished_greenlet, _a_greenlet_from_before],
    ids=["gevent.spawn_raw", "a Group filled by a finished greenlet", "a greenlet that existed before"],
)
def test_a_handler_waiting_for_any_greenlet_that_clears_the_queue_never_hangs(
    handler: Callable[[], None],
) -> None:
    global _earlier
    _earlier = gevent.event.AsyncResult()
    seen: list[str] = []

    def earlier() -> None:
        gevent.sleep(0.01)
        dispatcher.clear_queue()  # while the worker runs the handler that waits for it
        _earlier.set("set by a greenlet that cleared the queue first")

    before = gevent.spawn(earlier)

    def waits(name: str) -> None:
        handler()
        seen.append(name)

    dispatcher.register("wait", waits)
    with gevent.Timeout(5):
        dispatcher.dispatch("wait")
        gevent.sleep(0)
        finish_drains()
        if handler is not _a_greenlet_from_before:
            _earlier.set("unused")
        before.join()
    assert seen == ["wait"]


def test_a_gevent_timeout_escaping_a_handler_does_not_stop_the_worker(
    queued: EventDispatcher, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    def times_out(name: str) -> None:
        with gevent.Timeout(0.001):  # its own timeout, which it lets escape
            gevent.sleep(1)

    queued.register("slow", times_out)
    queued.register("after", recorder)
    queued.dispatch("slow")
    queued.dispatch("after")
    with caplog.at_level(logging.ERROR, logger="django_events"):
        gevent.sleep(0.05)
    assert recorder.calls == [("after",)]  # the worker went on with the queue
    assert f"handler {handler_label(times_out)} was interrupted by Timeout for event 'slow'" in caplog.text


def test_clear_queue_in_a_hub_callback_during_a_drain_does_not_block(queued: EventDispatcher) -> None:
    results: list[str] = []

    def slow(name: str) -> None:
        gevent.sleep(0.01)

    def in_the_hub() -> None:
        try:
            queued.clear_queue()
            results.append("returned")
        except Exception as exc:  # pragma: no cover - the failure this test is about
            results.append(repr(exc))

    queued.register("slow", slow)
    queued.dispatch("slow")
    gevent.sleep(0)  # the worker is inside the handler
    gevent.get_hub().loop.run_callback(in_the_hub)
    gevent.sleep(0)
    assert results == ["returned"]


def _ping_pong(first: EventDispatcher, second: EventDispatcher, seen: list[str]) -> None:
    """first -> second -> first -> second: one visit per dispatcher cannot finish it."""

    def relay(name: str, hops: int) -> None:
        seen.append(f"{name} {hops}")
        if hops < 4:
            (second if name == "first" else first).dispatch(
                "second" if name == "first" else "first", hops + 1
            )

    first.register("first", relay)
    second.register("second", relay)


@pytest.mark.django_db
def test_request_end_drains_every_dispatcher_until_all_are_empty() -> None:
    other = EventDispatcher(mode="gevent")
    seen: list[str] = []
    _ping_pong(dispatcher, other, seen)
    dispatcher.register("from::view", lambda name, value: dispatcher.dispatch("first", 1))
    assert Client().get("/dispatch/from::view/").content == b"pending=1"
    assert seen == ["first 1", "second 2", "first 3", "second 4"]
    assert dispatcher.pending() == other.pending() == 0


def test_exit_drains_every_dispatcher_until_all_are_empty() -> None:
    script = """
from django_events import Dispatcher, EventDispatcher

other = EventDispatcher(mode="gevent")

def relay(name, hops):
    print(name, hops, flush=True)
    if hops < 4:
        if name == "first":
            other.Dispatch("second", hops + 1)
        else:
            Dispatcher.Dispatch("first", hops + 1)

Dispatcher.RegisterHandler("first", relay)
other.RegisterHandler("second", relay)
Dispatcher.Dispatch("first", 1)
"""
    assert script_output(script) == ["first 1", "second 2", "first 3", "second 4"]


@pytest.mark.django_db
@override_settings(DJANGO_EVENTS={"MODE": "gevent", "RAISE_HANDLER_ERRORS": True})
def test_a_failing_handler_never_raises_into_an_unrelated_save(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    @observes(Customer)
    class Watch:
        def creating(self, instance: Customer) -> None:
            seen.append(f"creating {instance.name}")

    dispatcher.register("bad", explode)
    dispatcher.dispatch("bad")  # queued: nobody has run it yet
    with caplog.at_level(logging.ERROR, logger="django_events"):
        customer = Customer.objects.create(name="unrelated")  # no Boom here
    assert Customer.objects.filter(pk=customer.pk).exists()
    assert seen == ["creating unrelated"]
    assert "handler tests.test_dispatcher.explode failed for event 'bad'" in caplog.text
    dispatcher.clear_queue()  # it ran and was logged: nothing left to raise


@pytest.mark.django_db
@override_settings(DJANGO_EVENTS={"MODE": "gevent", "RAISE_HANDLER_ERRORS": True})
def test_clear_queue_raises_the_error_of_a_handler_it_ran() -> None:
    dispatcher.register("bad", explode)
    dispatcher.dispatch("bad")
    with pytest.raises(Boom):
        dispatcher.clear_queue()


@pytest.mark.django_db(transaction=True)
def test_a_save_does_not_run_what_other_threads_left_behind() -> None:
    seen: list[str] = []

    @observes(Place)
    class Watch:
        def created(self, instance: Place) -> None:
            seen.append("created")

    dispatcher.register("left::behind", lambda name: seen.append("left behind"))
    thread = threading.Thread(target=lambda: dispatcher.dispatch("left::behind"))
    thread.start()
    thread.join(5)
    with transaction.atomic():
        Place.objects.create(name="mine")
        assert seen == ["created"]  # the orphan did not run inside this transaction
    dispatcher.clear_queue()
    assert seen == ["created", "left behind"]


def test_a_dropped_gevent_dispatcher_is_freed(recorder: Recorder) -> None:
    dropped = EventDispatcher(mode="gevent")
    dropped.register("a", recorder)
    dropped.dispatch("a")
    gevent.sleep(0)  # delivered by the thread's worker
    dropped.dispatch("a")  # ...and one still queued when it is dropped
    ref = weakref.ref(dropped)
    del dropped
    dispatcher.clear_queue()  # its queued event is delivered, then nothing holds it
    assert recorder.calls == [("a",), ("a",)]
    assert ref() is None  # freed at once: no cycle waits for the garbage collector


@pytest.mark.django_db
def test_a_dropped_dispatcher_of_an_observer_is_freed() -> None:
    seen: list[str] = []
    other = EventDispatcher(mode="sync")

    @observes(Customer, dispatcher=other)
    class Watch:
        def created(self, instance: Customer) -> None:
            seen.append(instance.name)

    Customer.objects.create(name="first")
    ref = weakref.ref(other)
    del other
    gc.collect()  # the observer's handlers (and its class) live on in the registry
    assert ref() is None
    Customer.objects.create(name="second")  # saving goes on without it
    assert seen == ["first"]


def test_a_thread_reusing_a_dead_threads_ident_takes_over_its_stranded_queue(queued: EventDispatcher) -> None:
    seen: list[str] = []

    def slow(name: str) -> None:
        seen.append(name)
        if name == "a":
            gevent.sleep(0.05)  # the thread ends before the hub comes back here

    queued.register("a|b", slow)
    idents: list[int] = []

    def work() -> None:
        idents.append(threading.get_ident())
        gevent.get_hub()
        queued.dispatch("a")
        queued.dispatch("b")
        gevent.sleep(0)

    first = threading.Thread(target=work)
    first.start()
    first.join(5)
    assert (seen, queued.pending()) == (["a"], 1)
    results: list[Any] = []

    def take_over() -> list[str]:
        queued.clear_queue()
        return list(seen)

    # glibc hands an ended thread's ident to the next thread (unless another takes it first)
    while not results or results[-1] is None:
        assert len(results) < 100, "no thread got the ended thread's ident"
        thread = threading.Thread(
            target=lambda: results.append(take_over() if threading.get_ident() == idents[0] else None)
        )
        thread.start()
        thread.join(5)
    assert results[-1] == ["a", "b"]
    assert queued.pending() == 0


def test_exit_takes_over_a_drain_that_can_never_finish() -> None:
    script = """
import gevent, gevent.event
from django_events import Dispatcher

never = gevent.event.Event()
Dispatcher.RegisterHandler("stuck", lambda name: never.wait())  # nothing will ever set it
Dispatcher.RegisterHandler("after", lambda name: print("after", flush=True))
Dispatcher.Dispatch("stuck")
Dispatcher.Dispatch("after")
gevent.sleep(0)  # the worker starts the stuck handler
print("exiting", flush=True)
"""
    assert script_output(script) == ["exiting", "after"]  # and the process ended


def test_legacy_dispatch_without_django_settings_runs_the_handlers_before_returning() -> None:
    script = """
from django_events import Event, on

class Hello(Event):
    pass

on(Hello)(lambda event: print("handled", flush=True))
Hello.Dispatch()
print("after Dispatch", flush=True)
"""
    assert script_output(script) == ["handled", "after Dispatch"]


@pytest.mark.django_db(transaction=True)
def test_a_save_in_a_thread_without_a_hub_runs_its_handlers_there() -> None:
    from gevent._hub_local import get_hub_if_exists

    seen: list[tuple[str, int, object]] = []

    @observes(Place)
    class Watch:
        def creating(self, instance: Place) -> None:
            seen.append(("creating", threading.get_ident(), get_hub_if_exists()))

    def work() -> None:
        try:
            Place.objects.create(name="threaded")
            seen.append(("saved", threading.get_ident(), get_hub_if_exists()))
        finally:
            connection.close()  # as the end of a request does

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(5)
    assert [entry[0] for entry in seen] == ["creating", "saved"]  # before save() went on
    assert seen[0][1] == seen[1][1] != threading.get_ident()
    assert seen[0][2] is seen[1][2] is None  # and no hub was made for it


@pytest.mark.django_db
def test_a_save_never_runs_other_greenlets_events_itself() -> None:
    """The thread's queue holds every request's events: a save gives the hub a turn, so
    they run in the worker, never inside the saving greenlet (its transaction, its
    timeouts), in queue order."""
    seen: list[tuple[str, object]] = []
    saver = gevent.getcurrent()

    @on("signup")
    def signup(name: str) -> None:
        gevent.sleep(0.001)  # I/O
        seen.append(("signup", getcurrent()))

    @observes(Place)
    class Watch:
        def creating(self, instance: Place) -> None:
            seen.append(("creating", getcurrent()))

        def created(self, instance: Place) -> None:
            gevent.sleep(0.05)  # longer than the caller's timeout below
            seen.append(("created", getcurrent()))

    on(f"events::db::{Place.__module__.replace('.', '::')}::Place::created")(
        lambda name, instance: seen.append(("second", getcurrent()))
    )
    with gevent.Timeout(5):
        gevent.spawn(dispatcher.dispatch, "signup").join()  # another request's event
        with gevent.Timeout(0.02), transaction.atomic():  # the handlers are not bound by it
            Place.objects.create(name="x")
        finish_drains()
    # signup's handler was yielding when the save came: the save's events queued behind it
    assert [entry[0] for entry in seen] == ["signup", "creating", "created", "second"]
    assert all(who is not saver for _, who in seen)  # all in the worker
    assert dispatcher.pending() == 0


@pytest.mark.django_db
def test_a_save_during_another_greenlets_drain_gives_the_hub_a_turn() -> None:
    seen: list[str] = []
    release = gevent.event.Event()

    @on("slow")
    def slow(name: str) -> None:
        seen.append("slow started")
        release.wait()
        seen.append("slow done")

    @observes(Place)
    class Watch:
        def created(self, instance: Place) -> None:
            seen.append("created")

    with gevent.Timeout(5):
        try:
            dispatcher.dispatch("slow")
            gevent.sleep(0)  # the worker starts the slow handler, which waits
            gevent.spawn(seen.append, "another greenlet ran")
            Place.objects.create(name="x")  # the drain is the worker's: a hub turn, no waiting
            assert seen == ["slow started", "another greenlet ran"]
            gevent.get_hub().loop.run_callback(lambda: Place.objects.create(name="in the hub"))
            gevent.sleep(0)  # a save in the hub cannot give itself a turn: it goes on
            assert Place.objects.count() == 2
        finally:
            release.set()
            finish_drains()
    assert seen == ["slow started", "another greenlet ran", "slow done", "created", "created"]


@pytest.mark.django_db
def test_a_save_inside_a_handler_waits_for_the_current_event() -> None:
    seen: list[str] = []

    @on("make")
    def make(name: str) -> None:
        Place.objects.create(name="inner")
        seen.append("saved")

    on("make")(lambda name: seen.append("second"))

    @observes(Place)
    class Watch:
        def created(self, instance: Place) -> None:
            seen.append("created")

    dispatcher.dispatch("make")
    dispatcher.clear_queue()
    assert seen == ["saved", "second", "created"]


@pytest.mark.django_db
def test_a_save_in_a_hub_callback_runs_its_handlers_there() -> None:
    seen: list[str] = []

    @observes(Place)
    class Watch:
        def creating(self, instance: Place) -> None:
            seen.append("creating")

    def save_in_the_hub() -> None:
        Place.objects.create(name="in the hub")
        seen.append("saved")

    gevent.get_hub().loop.run_callback(save_in_the_hub)
    gevent.sleep(0)  # the callback runs in the hub, which cannot yield to itself
    assert seen == ["creating", "saved"]


def test_a_worker_whose_hub_was_destroyed_is_replaced(queued: EventDispatcher) -> None:
    ran_in: list[object] = []
    queued.register("a", lambda name: ran_in.append(getcurrent()))
    result: list[bool] = []

    def work() -> None:
        hub = gevent.get_hub()
        queued.dispatch("a")
        gevent.sleep(0)  # the first worker runs, then parks in this hub
        first = ran_in[-1]
        hub.destroy(destroy_loop=True)
        hub = gevent.get_hub()
        queued.dispatch("a")  # its hub is gone: a new worker in the new hub
        gevent.sleep(0)
        result.append(len(ran_in) == 2 and ran_in[-1] is not first)
        hub.destroy(destroy_loop=True)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(5)
    assert result == [True]


def test_exit_waits_for_a_drain_of_its_own_thread_even_once_its_locals_are_gone(
    queued: EventDispatcher,
) -> None:
    seen = _yielding(queued)
    queued.dispatch("a")
    queued.dispatch("b")
    gevent.sleep(0)  # the worker starts a, which yields
    delivery._local.queue.stranded = True  # as when Python 3.13 clears the locals before atexit
    delivery.drain_at_exit()
    assert seen == ["start a", "end a", "start b", "end b"]  # waited for, not taken over


def test_exit_waits_for_the_event_under_way_not_for_the_backlog(
    queued: EventDispatcher, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The worker's drain ends with the event it is running; exit runs the backlog itself.
    EXIT_WAIT bounds that one event, so a backlog longer than it (here six events of 10 ms
    against 25 ms) loses no handler half-way; and when the event under way was the last,
    exit finds nothing left."""
    monkeypatch.setattr(delivery, "EXIT_WAIT", 0.025)
    seen = _yielding(queued)
    for _ in range(3):
        queued.dispatch("a")
        queued.dispatch("b")
    gevent.sleep(0)  # the worker starts the first a, which yields
    worker = delivery._local.queue.worker
    ran_in: list[object] = []
    queued.register("b", lambda name: ran_in.append(getcurrent()))
    delivery.drain_at_exit()
    assert seen == [f"{edge} {name}" for name in "ababab" for edge in ("start", "end")]
    assert ran_in == [getcurrent()] * 3  # the rest ran here, not in the worker
    assert worker is not None
    assert not worker.dead  # parked, not killed
    assert "interrupted" not in caplog.text
    queued.dispatch("a")
    gevent.sleep(0)  # the worker starts it
    delivery.drain_at_exit()  # it was the last: exit waits for it, then finds nothing left
    assert seen[-2:] == ["start a", "end a"]
    assert queued.pending() == 0


def test_a_drain_that_lost_its_queue_takes_nothing_more_when_it_resumes(queued: EventDispatcher) -> None:
    release = gevent.event.Event()
    ran_in: list[object] = []
    queued.register("block", lambda name: release.wait())
    queued.register("after", lambda name: ran_in.append(getcurrent()))
    queued.dispatch("block")
    queued.dispatch("after")
    stuck = gevent.spawn(queued.clear_queue)  # drains, and blocks in the first handler
    gevent.sleep(0)
    delivery._local.queue.stranded = True  # as when nothing could resume it (LoopExit)
    queued.clear_queue()  # takes the queue over
    assert ran_in == [getcurrent()]
    queued.dispatch("after")  # queued for the new owner, not for the stuck drain
    release.set()
    stuck.join(5)  # it resumes without the lock it lost; its clear_queue() goes on as usual
    queued.clear_queue()
    assert len(ran_in) == 2  # each event ran once
    assert queued.pending() == 0


def test_legacy_dispatch_in_a_thread_without_a_hub_makes_none() -> None:
    from gevent._hub_local import get_hub_if_exists

    seen: list[object] = []

    def work() -> None:
        dispatcher.let_handlers_run()  # nothing was dispatched here: nothing to run
        seen.append(Paid.Dispatch(7))  # nothing listens: queued until a drain, nothing to run
        seen.append(get_hub_if_exists())

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(5)
    assert seen == [Paid(7), None]
    dispatcher.clear_queue()  # the ended thread's queue


def test_exit_takes_over_a_drain_of_its_own_thread_that_cannot_resume(
    queued: EventDispatcher, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    never = gevent.event.Event()
    queued.register("stuck", lambda name: never.wait())
    queued.register("after", recorder)
    queued.dispatch("stuck")
    queued.dispatch("after")
    gevent.sleep(0)  # the worker blocks in the stuck handler

    class HubWithNothingToDo:  # what waiting finds when nothing else could ever run
        def wait(self, timeout: float | None = None) -> bool:
            raise gevent.exceptions.LoopExit("This operation would block forever")

        def set(self) -> None: ...

    monkeypatch.setattr(gevent.event, "Event", HubWithNothingToDo)
    delivery.drain_at_exit()
    assert recorder.calls == [("after",)]  # taken over instead of spinning
    monkeypatch.undo()
    never.set()  # the old drain resumes, finds nothing left, and lets go
    finish_drains()
    assert recorder.calls == [("after",)]


def test_a_forked_child_does_not_run_the_parents_queued_events() -> None:
    script = """
import os, sys
from django_events import Dispatcher

parent = os.getpid()

def handler(name):
    print("handled in", "parent" if os.getpid() == parent else "child", flush=True)

Dispatcher.RegisterHandler("before::fork", handler)
Dispatcher.Dispatch("before::fork")  # queued in the parent (gunicorn --preload)
child = os.fork()
if child == 0:
    print("child pending", Dispatcher.pending(), flush=True)
    Dispatcher.ClearQueue()
    sys.exit(0)
os.waitpid(child, 0)
print("parent pending", Dispatcher.pending(), flush=True)
"""
    assert script_output(script) == ["child pending 0", "parent pending 1", "handled in parent"]
