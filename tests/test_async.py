"""Async handlers and ``adispatch``: what Django's ``Signal.send``/``asend`` promise, and
events of async views delivered by the end of their request in every mode."""

from __future__ import annotations

import asyncio
import gc
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.db import transaction
from django.test import AsyncClient, override_settings

from django_events import (
    Event,
    EventDispatcher,
    EventListener,
    ModelObserver,
    dispatcher,
    model_event_name,
    observes,
    on,
)
from django_events.testing import capture_events, expect, fake_events, mocks_dispatch
from tests.conftest import ROOT, Recorder, measured
from tests.testapp.models import Customer, Order


class Calls:
    """What handlers ran, in order, and in which thread."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, Any]] = []
        self.threads: dict[str, int] = {}

    def add(self, label: str, value: Any) -> None:
        self.entries.append((label, value))
        self.threads[label] = threading.get_ident()

    def sync(self, label: str) -> Callable[..., None]:
        def handler(name: str, *args: Any) -> None:
            self.add(label, args)

        handler.__qualname__ = label
        return handler

    def coroutine(self, label: str) -> Callable[..., Awaitable[None]]:
        async def handler(name: str, *args: Any) -> None:
            await asyncio.sleep(0)  # really async: it yields to its loop
            self.add(label, args)

        handler.__qualname__ = label
        return handler


@pytest.fixture
def calls() -> Calls:
    return Calls()


class Shipped(Event):
    ref: str


def _register_mixed(d: EventDispatcher, calls: Calls) -> None:
    d.register("shop::.*", calls.sync("first"))
    d.register("shop::.*", calls.coroutine("second"))
    d.register("shop::.*", calls.sync("third"))


# -- dispatch(): async handlers run to completion, in registration order ----------------------


@pytest.mark.parametrize("mode", ["sync", "gevent"])
def test_dispatch_runs_async_handlers_to_completion_in_order(mode: str, calls: Calls) -> None:
    d = EventDispatcher(mode=mode)  # type: ignore[arg-type]
    _register_mixed(d, calls)
    d.dispatch("shop::paid", 1)
    if mode == "gevent":
        assert calls.entries == []  # queued, as every event in gevent mode
        d.clear_queue()
    assert calls.entries == [("first", (1,)), ("second", (1,)), ("third", (1,))]
    # The async one ran in a loop of its own (async_to_sync), the sync ones here.
    assert calls.threads["first"] == calls.threads["third"] == threading.get_ident()
    assert calls.threads["second"] != threading.get_ident()


def test_dispatch_from_a_running_loop_runs_async_handlers_before_it_returns(calls: Calls) -> None:
    """The sync API in async code (a view written for WSGI): the sync handlers run in the
    loop's thread, as Django's send() runs them; an async one runs in a new loop in a thread
    of its own (async_to_sync cannot block a running loop), and dispatch() waits for it."""
    d = EventDispatcher(mode="sync")
    _register_mixed(d, calls)
    loop_thread: list[int] = []

    async def view() -> None:
        loop_thread.append(threading.get_ident())
        d.dispatch("shop::paid", 2)
        assert len(calls.entries) == 3

    asyncio.run(view())
    assert calls.entries == [("first", (2,)), ("second", (2,)), ("third", (2,))]
    assert calls.threads["first"] == calls.threads["third"] == loop_thread[0] != calls.threads["second"]

    raising = EventDispatcher(mode="sync", raise_handler_errors=True)

    async def broken(name: str) -> None:
        raise LookupError("from the async handler")

    raising.register("x", broken)
    with pytest.raises(LookupError, match="from the async handler"):
        asyncio.run(_dispatching(raising, "x"))


async def _dispatching(d: EventDispatcher, name: str) -> None:
    d.dispatch(name)


# -- adispatch(): awaited, in every mode ------------------------------------------------------


@pytest.mark.parametrize("mode", ["sync", "gevent"])
def test_adispatch_awaits_async_handlers_and_runs_sync_ones_in_djangos_thread(
    mode: str, calls: Calls
) -> None:
    d = EventDispatcher(mode=mode)  # type: ignore[arg-type]
    _register_mixed(d, calls)
    loop_thread: list[int] = []

    async def main() -> None:
        loop_thread.append(threading.get_ident())
        await d.adispatch("shop::paid", 3)
        assert len(calls.entries) == 3  # every handler ran before adispatch returned

    asyncio.run(main())
    assert calls.entries == [("first", (3,)), ("second", (3,)), ("third", (3,))]
    assert calls.threads["second"] == loop_thread[0]
    assert calls.threads["first"] == calls.threads["third"] != loop_thread[0]
    assert d.pending() == 0


def test_adispatch_of_an_event_instance_reaches_typed_async_handlers() -> None:
    got: list[Shipped] = []

    @on(Shipped)
    async def typed(event: Shipped) -> None:
        got.append(event)

    @on(Shipped)
    def plain(event: Shipped) -> None:
        got.append(event)

    event = Shipped(ref="s-1")
    asyncio.run(event.adispatch())
    assert got == [event, event]
    asyncio.run(dispatcher.adispatch(Shipped(ref="s-2")))
    assert [e.ref for e in got] == ["s-1", "s-1", "s-2", "s-2"]


def test_adispatch_checks_its_arguments_as_dispatch_does() -> None:
    with pytest.raises(TypeError, match="takes no other arguments"):
        asyncio.run(dispatcher.adispatch(Shipped(ref="x"), 1))  # type: ignore[call-overload]
    with pytest.raises(TypeError, match=r"expects an event name \(str\) or an Event instance, got 42"):
        asyncio.run(dispatcher.adispatch(42))  # type: ignore[call-overload]
    dispatcher.register(Shipped, Recorder())
    with pytest.raises(TypeError, match="has handlers typed for"):
        asyncio.run(dispatcher.adispatch(Shipped.event_name, "not an instance"))


def test_adispatch_of_a_name_nobody_listens_to_does_nothing() -> None:
    asyncio.run(dispatcher.adispatch("nobody::listens"))
    assert dispatcher.pending() == 0


@pytest.mark.parametrize("raises", [False, True])
def test_adispatch_error_policy(raises: bool, calls: Calls, caplog: pytest.LogCaptureFixture) -> None:
    d = EventDispatcher(mode="sync", raise_handler_errors=raises)

    async def broken_async(name: str) -> None:
        raise ValueError("async boom")

    def broken_sync(name: str) -> None:
        raise KeyError("sync boom")

    d.register("x", broken_async)
    d.register("x", calls.coroutine("after async"))
    d.register("x", broken_sync)
    d.register("x", calls.sync("after sync"))
    if raises:
        with pytest.raises(ValueError, match="async boom"):
            asyncio.run(d.adispatch("x"))
        assert [r.getMessage() for r in caplog.records] == [
            "handler tests.test_async.test_adispatch_error_policy.<locals>.broken_sync failed for event 'x'"
        ]
    else:
        asyncio.run(d.adispatch("x"))
        assert [r.handler for r in caplog.records] == [  # type: ignore[attr-defined]
            "tests.test_async.test_adispatch_error_policy.<locals>.broken_async",
            "tests.test_async.test_adispatch_error_policy.<locals>.broken_sync",
        ]
    assert [label for label, _ in calls.entries] == ["after async", "after sync"]  # none stopped the rest


@pytest.mark.django_db(transaction=True)
def test_adispatch_hands_after_commit_handlers_over(calls: Calls) -> None:
    d = EventDispatcher(mode="sync")
    d.register("x", calls.coroutine("later"), after_commit=True)
    d.register("x", calls.sync("now"))
    asyncio.run(d.adispatch("x", 4))  # no transaction: delivered at once
    assert calls.entries == [("now", (4,)), ("later", (4,))]

    calls.entries.clear()

    def in_a_transaction() -> None:
        with transaction.atomic():
            d.dispatch("x", 5)
            assert calls.entries == [("now", (5,))]

    in_a_transaction()
    assert calls.entries == [("now", (5,)), ("later", (5,))]


# -- observers and listeners ----------------------------------------------------------------


@pytest.mark.django_db
def test_async_observer_methods_run_before_save_returns_in_sync_mode() -> None:
    seen: list[tuple[str, int | None]] = []
    d = EventDispatcher(mode="sync")

    @observes(Order, dispatcher=d)
    class AsyncOrders(ModelObserver[Order]):
        async def creating(self, instance: Order) -> None:
            await asyncio.sleep(0)
            seen.append(("creating", instance.pk))

        async def created(self, instance: Order) -> None:
            seen.append(("created", instance.pk))

        def deleted(self, instance: Order) -> None:
            seen.append(("deleted", None))

    order = Order.objects.create()
    assert seen == [("creating", None), ("created", order.pk)]
    Order.objects.create().delete()
    assert seen[-1] == ("deleted", None)
    # Replaced in a test: a Mock on an async method, an AsyncMock on a sync one.
    with (
        mock.patch.object(AsyncOrders, "created", mock.Mock()) as created,
        mock.patch.object(AsyncOrders, "deleted", mock.AsyncMock()) as deleted,
    ):
        Order.objects.create()
        order.delete()
    assert created.call_count == 1
    deleted.assert_awaited_once()


def test_async_listener_handle(calls: Calls) -> None:
    d = EventDispatcher(mode="sync")

    class Listener(EventListener, dispatcher=d):
        listensFor = ("shop::.*", Shipped)

        async def handle(self, event: Any, *args: Any, **kwargs: Any) -> None:
            calls.add("handle", (event, *args))

    d.dispatch("shop::paid", 6)
    shipped = Shipped(ref="s")
    asyncio.run(d.adispatch(shipped))
    assert calls.entries == [("handle", ("shop::paid", 6)), ("handle", (shipped,))]
    with mock.patch.object(Listener, "handle", mock.Mock()) as handle:
        asyncio.run(d.adispatch("shop::refunded"))
    handle.assert_called_once_with("shop::refunded")


# -- the testing helpers --------------------------------------------------------------------


def test_capture_and_fake_events_see_adispatch(calls: Calls) -> None:
    dispatcher.register("shop::.*", calls.coroutine("handler"))
    with capture_events() as captured:
        asyncio.run(dispatcher.adispatch("shop::paid", 7))
    captured.assert_dispatched("shop::paid")
    assert calls.entries == [("handler", (7,))]
    with fake_events("shop::.*") as faked:
        asyncio.run(dispatcher.adispatch("shop::paid", 8))
    faked.assert_dispatched("shop::paid")
    assert calls.entries == [("handler", (7,))]  # faked: not delivered


def test_mocks_dispatch_on_a_coroutine_test_with_adispatch() -> None:
    @mocks_dispatch
    async def test_body() -> None:
        expect(Shipped)
        await Shipped(ref="m").adispatch()

    asyncio.run(test_body())


# -- async views: delivered by the end of their request, in every mode ---------------------


@pytest.fixture(params=["sync", "gevent"])
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    with override_settings(DJANGO_EVENTS={"MODE": request.param}):
        yield request.param


@pytest.mark.parametrize("view", ["dispatch", "adispatch"])
def test_async_client_requests_deliver_their_events_by_their_end(mode: str, view: str, calls: Calls) -> None:
    dispatcher.register("asgi::.*", calls.sync("sync handler"))
    dispatcher.register("asgi::.*", calls.coroutine("async handler"))

    async def three_requests() -> list[bytes]:
        client = AsyncClient()
        bodies = []
        for i in range(3):
            response = await client.get(f"/async/{view}/asgi::order/", {"value": str(i)})
            assert len(calls.entries) == 2 * (i + 1)  # by the end of that request
            bodies.append(response.content)
        return bodies

    bodies = asyncio.run(three_requests())
    assert dispatcher.pending() == 0
    assert calls.entries == [
        (label, (str(i),)) for i in range(3) for label in ("sync handler", "async handler")
    ]
    if mode == "gevent" and view == "dispatch":
        assert bodies == [b"pending=1"] * 3  # queued during the view, run at its request end


async def _asgi_get(handler: ASGIHandler, path: str) -> bytes:
    """One GET through Django's own ASGI handler (a ThreadSensitiveContext per request)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"value=v",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    sent: list[Mapping[str, Any]] = []
    requested = False
    never = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await never.wait()  # no disconnect: Django cancels this listener after the response
        raise AssertionError("unreachable")  # pragma: no cover

    async def send(message: Mapping[str, Any]) -> None:
        sent.append(message)

    await handler(scope, receive, send)
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def test_concurrent_asgi_requests_each_deliver_their_own_events(mode: str, calls: Calls) -> None:
    dispatcher.register("asgi::.*", calls.sync("sync handler"))
    dispatcher.register("asgi::.*", calls.coroutine("async handler"))
    handler = ASGIHandler()

    async def requests() -> list[bytes]:
        return await asyncio.gather(*(_asgi_get(handler, f"/async/dispatch/asgi::r{i}/") for i in range(5)))

    bodies = asyncio.run(requests())
    assert len(bodies) == 5
    assert sorted(name for label, name in calls.entries if label == "sync handler") == [("v",)] * 5
    assert len(calls.entries) == 10
    assert dispatcher.pending() == 0


EXIT_SCRIPT = """
import asyncio, django
from asgiref.sync import sync_to_async
from django.conf import settings
settings.configure(INSTALLED_APPS=["django_events"], DJANGO_EVENTS={"MODE": "gevent", "AUTODISCOVER": False})
django.setup()
from django_events import dispatcher, on

@on("x")
def plain(name, n):
    print("sync", n, flush=True)

@on("x")
async def coroutine(name, n):
    await asyncio.sleep(0)
    await sync_to_async(lambda: None)()  # (the executors still run during the exit drain)
    print("async", n, flush=True)

async def main():
    dispatcher.dispatch("x", 1)  # no request: it waits for clear_queue() or exit
    print("pending", dispatcher.pending(), flush=True)

asyncio.run(main())
"""


def test_events_of_async_code_outside_a_request_run_at_exit(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(EXIT_SCRIPT)
    done = subprocess.run(
        [sys.executable, *measured(), str(script)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n") == ["pending 1", "sync 1", "async 1", ""], done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_adispatch_skips_typed_handlers_of_another_class_of_the_same_name(
    calls: Calls, caplog: pytest.LogCaptureFixture
) -> None:
    class Shipped(Event):
        event_name = "orders::shipped"

    class ShippedV2(Event):
        event_name = "orders::shipped"

    d = EventDispatcher(mode="sync")
    d.register(Shipped, calls.sync("typed, later"), after_commit=True)
    d.register("orders::.*", calls.coroutine("pattern"))
    asyncio.run(d.adispatch(ShippedV2()))
    assert [label for label, _ in calls.entries] == ["pattern"]
    assert "skipped for event 'orders::shipped'" in caplog.text


def test_two_events_of_one_asgi_request_and_a_clear_queue_inside_it(mode: str, calls: Calls) -> None:
    """An async view that dispatches twice and clears the queue halfway (through
    sync_to_async, as sync code would): each event runs once, in order."""
    from asgiref.sync import ThreadSensitiveContext, sync_to_async

    dispatcher.register("asgi::.*", calls.sync("handler"))

    async def request() -> None:
        async with ThreadSensitiveContext():
            dispatcher.dispatch("asgi::first", 1)
            dispatcher.dispatch("asgi::second", 2)
            await sync_to_async(dispatcher.clear_queue)()
            assert [value for _, value in calls.entries] == [(1,), (2,)]
            dispatcher.dispatch("asgi::third", 3)
            await sync_to_async(dispatcher.clear_queue)()
            await sync_to_async(dispatcher.clear_queue)()  # nothing left: nothing runs again

    asyncio.run(request())
    assert [value for _, value in calls.entries] == [(1,), (2,), (3,)]


def test_a_request_that_ends_without_request_finished_leaves_its_events_to_the_next_drain(
    calls: Calls,
) -> None:
    from asgiref.sync import ThreadSensitiveContext

    dispatcher.register("asgi::.*", calls.sync("handler"))

    async def aborted() -> None:
        async with ThreadSensitiveContext():
            dispatcher.dispatch("asgi::aborted", 1)

    asyncio.run(aborted())
    gc.collect()  # the request's context is gone: its queue is an orphan now
    assert dispatcher.pending() == 1
    assert calls.entries == []
    dispatcher.clear_queue()  # any thread's next drain runs it
    assert calls.entries == [("handler", (1,))]


def test_legacy_dispatch_in_async_code_leaves_the_event_to_the_request_end(calls: Calls) -> None:
    """E.Dispatch() yields to the hub so that its handlers have run; an event loop's thread
    gives the hub no turn: the event runs at the end of the request, in Django's thread."""
    dispatcher.register(".*Shipped", calls.sync("handler"))

    async def view() -> None:
        Shipped.Dispatch(ref="legacy")
        assert calls.entries == []

    with override_settings(DJANGO_EVENTS={"MODE": "gevent"}):
        asyncio.run(view())
        assert dispatcher.pending() == 1
        dispatcher.clear_queue()
    assert [label for label, _ in calls.entries] == ["handler"]


def test_the_exit_drain_runs_async_handlers_in_the_exiting_thread(calls: Calls) -> None:
    """At exit no thread can start (async_to_sync needs one): a new loop in this thread."""
    from django_events.delivery.gevent import drain_at_exit

    d = EventDispatcher(mode="gevent")
    d.register("x", calls.coroutine("at exit"))
    d.dispatch("x", 9)
    drain_at_exit()
    assert calls.entries == [("at exit", (9,))]
    assert calls.threads["at exit"] == threading.get_ident()
    d.dispatch("x", 10)  # after it: async_to_sync again, in a thread of its own
    d.clear_queue()
    assert calls.threads["at exit"] != threading.get_ident()


def test_an_event_dispatched_before_the_loop_started_keeps_no_request_from_its_events(
    calls: Calls,
) -> None:
    """An event dispatched at import, before the ASGI server's loop starts, schedules the
    thread's worker in a hub that never runs there; the first request takes that wake back,
    so that its own events (and every later one's) still reach their request."""
    from django_events.delivery import gevent as delivery

    dispatcher.register("asgi::.*", calls.sync("handler"))
    handler = ASGIHandler()
    with override_settings(DJANGO_EVENTS={"MODE": "gevent"}):
        dispatcher.dispatch("asgi::at-import", 0)
        queue = delivery._local.queue
        assert not queue.idle  # the worker waits for a hub turn

        async def serve() -> None:
            for i in (1, 2):
                await _asgi_get(handler, f"/async/dispatch/asgi::request-{i}/")
                assert [value for _, value in calls.entries] == [("v",)] * i  # by its end

        asyncio.run(serve())
        assert dispatcher.pending() == 1  # the one from import: no request to end it
        dispatcher.clear_queue()
    assert [value for _, value in calls.entries] == [("v",), ("v",), (0,)]


SIGTERM_SCRIPT = """
import os, signal, sys, threading, time, django
from django.conf import settings
settings.configure(INSTALLED_APPS=["django_events"], DJANGO_EVENTS={"MODE": "gevent", "AUTODISCOVER": False})
django.setup()
from django_events import dispatcher, on

@on("x")
def handler(name):
    print("handled", flush=True)

if sys.argv[1] == "pending":
    dispatcher.dispatch("x")  # queued: no hub turn comes before the signal
threading.Thread(target=time.sleep, args=(600,)).start()  # a non-daemon thread, still running
print("ready", flush=True)
os.kill(os.getpid(), signal.SIGTERM)
print("not reached", flush=True)
"""


@pytest.mark.parametrize("pending", [True, False])
def test_sigterm_runs_the_exit_drain_only_when_events_are_queued(pending: bool, tmp_path: Path) -> None:
    """uvicorn restores the SIGTERM handler it found and raises SIGTERM again after its
    graceful shutdown: with the default action the exit drain would never run. With events
    queued the exit drain runs them, then the process dies of the signal; with none it dies
    of it at once, as before (and a non-daemon thread still running holds up neither)."""
    script = tmp_path / "script.py"
    script.write_text(SIGTERM_SCRIPT)
    argument = "pending" if pending else "idle"
    done = subprocess.run(
        [sys.executable, *measured(), str(script), argument],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    expected = "ready\nhandled\n" if pending else "ready\n"
    assert (done.returncode, done.stdout) == (-signal.SIGTERM, expected), done.stderr


def test_the_sigterm_handler_is_set_once_from_the_main_thread_over_the_default_action() -> None:
    from django_events.delivery.gevent import _on_sigterm, exit_on_sigterm

    installed = signal.getsignal(signal.SIGTERM)
    assert installed is _on_sigterm  # AppConfig.ready() found the default action
    assert exit_on_sigterm() is False  # a handler is there (ours, or a server's): kept
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        in_a_thread: list[bool] = []
        thread = threading.Thread(target=lambda: in_a_thread.append(exit_on_sigterm()))
        thread.start()
        thread.join()
        assert in_a_thread == [False]  # signals are for the main thread only
        assert exit_on_sigterm() is True
        assert signal.getsignal(signal.SIGTERM) is _on_sigterm
    finally:
        signal.signal(signal.SIGTERM, installed)


# -- what an attack found (each failed before its fix) --------------------------------------


def test_an_async_handler_that_dispatches_queues_the_event_after_the_current_one(calls: Calls) -> None:
    """gevent mode: the async handler runs in a loop of its own (async_to_sync); what it
    dispatches with the sync API waits in the caller's queue, and the same drain runs it."""
    d = EventDispatcher(mode="gevent")

    async def relay(name: str) -> None:
        d.dispatch("nested")
        calls.add("relay", ())

    d.register("outer", relay)
    d.register("nested", calls.sync("nested"))
    d.register("after", calls.sync("after"))
    d.dispatch("outer")
    d.dispatch("after")
    d.clear_queue()
    assert [label for label, _ in calls.entries] == ["relay", "after", "nested"]  # queue order
    assert d.pending() == 0


@pytest.mark.parametrize("mode", ["sync", "gevent"])
def test_adispatch_returns_once_what_its_handlers_queued_ran(mode: str, calls: Calls) -> None:
    """In gevent mode, after-commit handlers (no transaction) and events the sync handlers
    dispatch are queued in Django's sync thread; adispatch runs them there before it returns."""
    d = EventDispatcher(mode=mode)  # type: ignore[arg-type]

    def dispatching(name: str) -> None:
        d.dispatch("nested")

    d.register("outer", dispatching)
    d.register("outer", calls.sync("after commit"), after_commit=True)
    d.register("nested", calls.coroutine("nested"))
    asyncio.run(d.adispatch("outer"))
    assert sorted(label for label, _ in calls.entries) == ["after commit", "nested"]
    assert d.pending() == 0


def test_a_request_queue_left_behind_is_handed_over_without_a_lock() -> None:
    """The finalizer of a request's context may run in any thread, at any allocation, even
    one that holds the delivery's lock: it must not take it (it hung there)."""
    from django_events.delivery import gevent as delivery

    record = delivery.RequestQueue()
    record.items.append((dispatcher, "x", (), {}, None, None))
    finished = threading.Event()

    def collect_while_locked() -> None:
        with delivery._lock:
            delivery._request_gone(record)
        finished.set()

    thread = threading.Thread(target=collect_while_locked, daemon=True)
    thread.start()
    assert finished.wait(5)
    assert delivery._gone[-1] is record
    delivery._gone.pop()


def test_an_orphans_handler_error_is_logged_never_raised_to_another_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from asgiref.sync import ThreadSensitiveContext

    raising = EventDispatcher(mode="gevent", raise_handler_errors=True)

    def broken(name: str) -> None:
        raise LookupError("the ended request's handler")

    raising.register("orphaned", broken)

    async def ended_without_request_finished() -> None:
        async with ThreadSensitiveContext():
            raising.dispatch("orphaned")

    asyncio.run(ended_without_request_finished())
    gc.collect()
    raising.clear_queue()  # another caller's drain: not its error
    assert raising.pending() == 0
    assert "the ended request's handler" in caplog.text


MONKEY_SCRIPT = """
from gevent import monkey; monkey.patch_all()
import asyncio, gevent, django
from django.conf import settings
settings.configure(INSTALLED_APPS=["django_events"], DJANGO_EVENTS={"MODE": "sync", "AUTODISCOVER": False})
django.setup()
from django_events import EventDispatcher

ran = []
for mode in ("sync", "gevent"):
    d = EventDispatcher(mode=mode)

    async def notify(name, n, mode=mode):
        await asyncio.sleep(0.01)
        ran.append((mode, n))

    d.register("x", notify)
    d.register("x", lambda name, n, mode=mode: ran.append((mode, "sync", n)))
    gevent.joinall([gevent.spawn(d.dispatch, "x", i) for i in range(3)])
    with gevent.Timeout(10):  # gevent mode: the worker runs them while this greenlet waits
        while sum(entry[0] == mode for entry in ran) < 6:
            gevent.sleep(0.01)
print(sorted(map(str, ran)))
"""


def test_async_handlers_in_a_monkey_patched_process(tmp_path: Path) -> None:
    """gevent's monkey-patching makes threads greenlets: a loop that async_to_sync started in
    one would be every greenlet's running loop. Three greenlets at once each run theirs."""
    script = tmp_path / "script.py"
    script.write_text(MONKEY_SCRIPT)
    done = subprocess.run(
        [sys.executable, *measured(), str(script)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    expected = sorted(
        str(entry)
        for mode in ("sync", "gevent")
        for n in range(3)
        for entry in ((mode, n), (mode, "sync", n))
    )
    assert done.stdout.strip() == str(expected), done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_an_async_handler_dispatching_from_a_thread_without_a_queue(calls: Calls) -> None:
    """A sync-mode dispatch in a new thread reaches an async handler that dispatches on a
    gevent-mode dispatcher: that thread gets a queue for it (no hub there: it waits, and is
    an orphan once the thread ended, for the next drain anywhere)."""
    inline, queued = EventDispatcher(mode="sync"), EventDispatcher(mode="gevent")

    async def relay(name: str) -> None:
        queued.dispatch("relayed")

    inline.register("start", relay)
    queued.register("relayed", calls.sync("relayed"))
    thread = threading.Thread(target=inline.dispatch, args=("start",))
    thread.start()
    thread.join()
    assert queued.pending() == 1
    queued.clear_queue()
    assert [label for label, _ in calls.entries] == ["relayed"]


def test_a_request_in_a_loop_thread_that_never_dispatched(calls: Calls) -> None:
    """The first request of a loop's thread that has no queue yet: nothing to take back."""
    dispatcher.register("asgi::.*", calls.sync("handler"))
    handler = ASGIHandler()
    with override_settings(DJANGO_EVENTS={"MODE": "gevent"}):
        thread = threading.Thread(
            target=asyncio.run, args=(_asgi_get(handler, "/async/dispatch/asgi::fresh/"),)
        )
        thread.start()
        thread.join()
    assert calls.entries == [("handler", ("v",))]


@pytest.mark.django_db
def test_legacy_observer_methods_may_be_async() -> None:
    from django_events import Observer

    seen: list[tuple[str, str]] = []

    class Watch(Observer):
        observes = Customer

        async def created(self, eventName: str, instance: Any) -> None:  # type: ignore[override]
            seen.append(("created", eventName))

        def deleted(self, eventName: str, instance: Any) -> None:
            seen.append(("deleted", eventName))

    customer = Customer.objects.create(name="c")
    Customer.objects.create(name="d").delete()
    dispatcher.clear_queue()
    with mock.patch.object(Watch, "deleted", mock.AsyncMock()) as deleted:
        customer.delete()
        dispatcher.clear_queue()
    created, gone = model_event_name(Customer, "created"), model_event_name(Customer, "deleted")
    assert seen == [("created", created), ("created", created), ("deleted", gone)]
    deleted.assert_awaited_once()


LATE_THREAD_SCRIPT = """
import threading, time, django
from django.conf import settings
settings.configure(INSTALLED_APPS=["django_events"], DJANGO_EVENTS={"MODE": "gevent", "AUTODISCOVER": False})
django.setup()
from django_events import dispatcher, on

@on("x")
def handler(name, n):
    print("handled", n, flush=True)

def late():
    time.sleep(0.3)
    dispatcher.dispatch("x", "late")

threading.Thread(target=late).start()
dispatcher.dispatch("x", "main")
print("main ends", flush=True)
"""


def test_the_exit_drain_runs_again_after_the_other_threads_ended(tmp_path: Path) -> None:
    """The exit drain runs first from threading's exit hooks (before the thread pools shut
    down), while other non-daemon threads may still dispatch, and again after they ended."""
    script = tmp_path / "script.py"
    script.write_text(LATE_THREAD_SCRIPT)
    done = subprocess.run(
        [sys.executable, *measured(), str(script)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (0, "main ends\nhandled main\nhandled late\n"), done.stderr
