"""Regressions found by trying gevent sites, interpreter exit, odd names and handlers, and
the legacy API as their users do. Each docstring describes the defect as it was found (in
the present tense of that moment: what a user saw, why, and what README.md promises);
each test asserts the behaviour since its fix."""

from __future__ import annotations

import enum
import gc
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connections
from django.test import Client, override_settings
from greenlet import getcurrent

from django_events import Created, Event, EventDispatcher, EventListener, Observer, dispatcher
from django_events._routing import handler_label
from tests.conftest import ROOT, Recorder, finish_drains, measured
from tests.testapp.models import Customer


@pytest.fixture(autouse=True)
def gevent_mode() -> Iterator[None]:
    with override_settings(DJANGO_EVENTS={"MODE": "gevent"}):
        yield


def run_script(script: str, timeout: float = 15) -> subprocess.CompletedProcess[str]:
    """Run a Python script in a process of its own; a hang fails (TimeoutExpired) after
    ``timeout`` seconds instead of blocking the suite."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, "script.py")
        path.write_text(textwrap.dedent(script))
        return subprocess.run(
            [sys.executable, *measured(), str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"},
        )


# -- gevent: a drain interrupted by its caller's timeout --------------------------------


def test_a_timeout_of_the_greenlet_that_clears_the_queue_leaves_the_rest_to_the_worker(
    queued: EventDispatcher, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    """A gevent request that runs under its own ``gevent.Timeout`` (or is killed) and calls
    ``clear_queue()`` (``@ensure_queue_is_cleared``, or request end) runs the thread's queue
    in its own greenlet. When the timeout fires while a handler does I/O, the Timeout is
    thrown into that handler and out of ``_running.run`` (it catches ``Exception`` only),
    through ``delivery/gevent.py:_drain``, which releases the lock and leaves.

    What a user sees: the other handlers of the interrupted event (possibly another
    request's) never get it, and every later event stays queued while the hub gets control
    again and again: the worker was parked (it found the lock held) and nothing wakes it;
    they run only at the next unrelated dispatch, request end or exit. README, Modes: "The
    thread's worker greenlet runs the handlers whenever the hub gets control"; Threads:
    "Each event is delivered exactly once"; Error policy: "A handler that raises never stops
    the other handlers of that event, nor the worker greenlet, nor later events."
    """

    def upload(name: str) -> None:
        gevent.sleep(0.05)  # I/O, longer than the caller's own timeout

    queued.register("upload", upload)
    queued.register("upload", recorder)  # a second handler of the same event
    queued.register("later", recorder)
    queued.dispatch("upload")
    queued.dispatch("later")
    with pytest.raises(gevent.Timeout), gevent.Timeout(0.01):  # the request's own timeout
        queued.clear_queue()
    gevent.sleep(0.1)  # the hub gets control many times over
    assert queued.pending() == 0, "the later event is still queued although the hub ran"
    assert recorder.calls == [("upload",), ("later",)]
    [record] = [r for r in caplog.records if "interrupted" in r.getMessage()]  # named in the log
    assert record.getMessage() == (
        f"handler {handler_label(upload)} was interrupted by Timeout for event 'upload'; "
        "1 handler(s) of the event left to run later"
    )
    assert (record.levelname, record.event_name, record.handler) == ("ERROR", "upload", handler_label(upload))  # type: ignore[attr-defined]


# -- gevent: request end under steady traffic -----------------------------------------


def test_request_end_under_steady_traffic_leaves_the_rest_to_the_worker() -> None:
    """In a gevent worker every request greenlet shares the thread's queue. When a request
    ends while the worker is parked and an event is queued whose handler does I/O, the
    request's ``request_finished`` drain (``delivery/gevent.py:drain`` -> ``_drain`` ->
    ``_running.run(..., more=items)``) becomes the queue's consumer, and ``run`` goes on
    until the deque is empty. Other requests keep dispatching while its handlers yield, so
    under steady traffic the deque is never empty and the request's end never returns: its
    greenlet (and connection) is held for as long as the traffic lasts, running everyone
    else's handlers. README: "nothing waits" / "the end of a request" drains what is
    pending; the worker, not a request, is the consumer of other greenlets' events.
    """
    seen: list[str] = []

    def io(name: str, value: str) -> None:
        gevent.sleep(0.005)  # a handler that does I/O
        seen.append(name)

    dispatcher.register("upload|other::.*", io)
    stop: list[bool] = []

    def other_request(i: int) -> None:
        dispatcher.dispatch(f"other::{i}", "")
        gevent.sleep(0.01)

    def traffic() -> None:
        i = 0
        while not stop:
            gevent.spawn(other_request, i)
            i += 1
            gevent.sleep(0.003)

    producer = gevent.spawn(traffic)
    took = None
    try:
        start = time.monotonic()
        with gevent.Timeout(1, False):  # type: ignore[arg-type]  # (False: no exception)
            Client().get("/dispatch/upload/")  # dispatches "upload"; its end drains
            took = time.monotonic() - start
    finally:
        stop.append(True)
        producer.join()
        finish_drains()
    assert took is not None, "the request did not end within a second of steady traffic"
    assert "upload" in seen


# -- gevent: interpreter exit with a handler that never returns ---------------------------


def test_exit_takes_over_from_a_stuck_handler_while_another_greenlet_is_alive() -> None:
    """At exit, ``drain_at_exit`` waited for a drain of its own thread under way in another
    greenlet and took the queue over only when the hub raised ``LoopExit``, that is when
    the hub had nothing else at all to do. Any other live greenlet (a heartbeat, a
    keep-alive connection) keeps the hub busy, so with one handler blocked forever the
    process never exited. Exit now waits ``EXIT_WAIT`` and then ends the stuck drain: the
    other handlers of that event run first ("second handler"), then the events after it.
    README, Modes: exit "runs it and everything after it"; Error policy: a handler never
    stops the other handlers of its event.
    """
    script = """
        import gevent, gevent.event
        from django_events import Dispatcher

        def heartbeat():
            while True:
                gevent.sleep(0.01)

        gevent.spawn(heartbeat)
        never = gevent.event.Event()
        Dispatcher.RegisterHandler("stuck", lambda name: never.wait())  # nothing will set it
        Dispatcher.RegisterHandler("stuck", lambda name: print("second handler", flush=True))
        Dispatcher.RegisterHandler("after", lambda name: print("after", flush=True))
        Dispatcher.Dispatch("stuck")
        Dispatcher.Dispatch("after")
        gevent.sleep(0)  # the worker starts the stuck handler
        print("exiting", flush=True)
    """
    result = run_script(script, timeout=8)  # (a hang is a TimeoutExpired: the test fails)
    assert result.stdout.splitlines() == ["exiting", "second handler", "after"], result.stderr


# -- names --------------------------------------------------------------------------------


class Events(str, enum.Enum):
    """Event names as a str enum, a common way to keep names in one place."""

    PAID = "shop::order::paid"


@pytest.mark.parametrize("mode", ["sync", "gevent"])
def test_a_str_enum_name_is_dispatched_under_its_value(mode: str, recorder: Recorder) -> None:
    """A ``str`` subclass is a string: ``dispatch(Events.PAID)`` should dispatch the name it
    holds, ``"shop::order::paid"``. ``EventDispatcher._routed`` (_dispatcher.py) takes
    ``name = str(event)`` for any str that is not exactly ``str``, and ``str()`` of a
    ``(str, Enum)`` member is ``"Events.PAID"``. So a handler registered with the very same
    member (its pattern is the value) never gets the event, silently. README, Dispatch
    rules: anything other than a string or an Event instance is a TypeError; a string is
    the event's name.
    """
    d = EventDispatcher(mode=mode)  # type: ignore[arg-type]
    d.register(Events.PAID, recorder)
    d.dispatch(Events.PAID)
    d.clear_queue()
    assert recorder.calls == [("shop::order::paid",)]


# -- handlers that are not plain functions -------------------------------------------------


class Notifier:
    seen: list[str] = []

    @staticmethod
    async def notify(name: str) -> None:
        Notifier.seen.append(name)


@pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("mode", ["sync", "gevent"])
def test_an_async_staticmethod_handler_runs(mode: str) -> None:
    """``on(...)`` stacked on ``@staticmethod`` in a class body registers the staticmethod
    object itself (callable since Python 3.10). ``_routing.is_async`` asks
    ``iscoroutinefunction`` of it and of ``type(handler).__call__``; both say False for a
    staticmethod wrapping an ``async def``, so ``run`` calls it as a sync handler and drops
    the coroutine: the body never runs, with only a "never awaited" RuntimeWarning. README,
    Migrating: "An async def handler runs. The original called it without awaiting it, so
    its body never ran and nothing said so."
    """
    Notifier.seen = []
    d = EventDispatcher(mode=mode)  # type: ignore[arg-type]
    d.register("order::paid", Notifier.__dict__["notify"])  # what @on(...) over @staticmethod gets
    d.dispatch("order::paid")
    d.clear_queue()
    gc.collect()  # (the dropped coroutine's warning is raised here, not in a later test)
    assert Notifier.seen == ["order::paid"]


# -- the legacy API -----------------------------------------------------------------------


def test_a_legacy_listener_instance_is_callable_as_in_the_original(recorder: Recorder) -> None:
    """In django-event-system 1.0.1 an ``EventListener`` instance is a handler: its
    ``__call__(*args, **kwargs)`` drops the name when the second argument is an Event and
    calls ``handle`` (reference events/events/Listener.py), so legacy code registers a
    listener instance for more patterns (``Dispatcher.RegisterHandler("audit::.*",
    AuditListener())``) or calls it in its tests. Here ``EventListener`` (_legacy.py) has no
    ``__call__``: the registration is a TypeError ("an event handler must be callable").
    README, The legacy API: "A legacy name keeps the original's argument shapes, return
    values and timing".
    """
    d = EventDispatcher(mode="sync")

    class Audit(EventListener, dispatcher=d):
        listensFor = ["shop::.*"]

        def handle(self, event: object, *args: object, **kwargs: object) -> None:
            recorder(event, *args)

    d.RegisterHandler("audit::.*", Audit())
    d.Dispatch("audit::login", 7)
    assert recorder.calls == [("audit::login", 7)]


def test_legacy_register_handler_takes_a_compiled_pattern_as_the_original() -> None:
    """The original's ``RegisterHandler(eventName, handler)`` is
    ``handlers[re.compile(eventName)].append(handler)`` (reference Dispatcher.py), and
    ``re.compile`` takes a compiled pattern as it is, so legacy code could register
    ``re.compile("order::.*", re.IGNORECASE)`` (flags are the only way to say
    case-insensitive in a pattern object). Here ``check_target`` (_routing.py) refuses
    anything but a str or an Event class: a TypeError at import of the module that
    registers it. README, The legacy API: a legacy name keeps the original's argument shapes.
    """
    d = EventDispatcher(mode="sync")
    seen: list[str] = []
    d.RegisterHandler(re.compile("order::.*", re.IGNORECASE), lambda name: seen.append(name))
    d.Dispatch("ORDER::paid")
    assert seen == ["ORDER::paid"]


# -- pending() ----------------------------------------------------------------------------


def test_pending_counts_the_after_commit_part_of_a_dispatch_apart(queued: EventDispatcher) -> None:
    """``pending()`` counts queued items: a dispatch that reaches an immediate handler and
    an ``after_commit=True`` one outside a transaction queues two (the mode's part, then
    the after-commit part, handed back at once). README, The dispatcher, said "one per
    dispatch"; it now says that the after-commit part counts once more, since in a
    transaction it is queued apart, at the commit.
    """
    queued.register("order::paid", lambda name: None)
    queued.register("order::paid", lambda name: None, after_commit=True)
    queued.dispatch("order::paid")
    assert queued.pending() == 2  # its immediate handlers, and its after-commit ones (no transaction)
    queued.clear_queue()
    assert queued.pending() == 0


# -- dropped dispatchers ----------------------------------------------------------------


def test_a_dropped_dispatcher_of_a_listener_class_is_freed() -> None:
    """``class Audit(EventListener, dispatcher=d)`` keeps ``d`` for good:
    ``EventListener.__init_subclass__`` (_legacy.py) stores it on the class
    (``cls._dispatcher = target``), and a listener class lives as long as its module. So a
    library or test that makes its own dispatcher, declares a listener on it and drops it
    never gets it back (its registry, caches and queued state stay), where an observer on
    a dropped dispatcher is freed. README, Observers: "The model remembers d weakly ...
    when d is dropped, it is freed"; the dispatcher's own handlers do not keep it either.
    """
    d = EventDispatcher(mode="sync")

    class Audit(EventListener, dispatcher=d):
        listensFor = ["shop::.*"]

        def handle(self, event: object, *args: object, **kwargs: object) -> None:
            pass

    ref = weakref.ref(d)
    del d
    gc.collect()
    assert Audit is not None  # the class lives on, as a module-level one does
    assert ref() is None


@pytest.mark.django_db
@override_settings(DJANGO_EVENTS={"MODE": "sync"})
def test_a_legacy_observer_subclass_without_its_own_observes_is_a_type_error() -> None:
    """``class Child(Base)`` where ``Base(Observer)`` sets ``observes`` and ``Child`` does
    not. The original's ``ObserverMeta`` reads ``observes`` from the class's own body and
    raises ``TypeError('Child.observes must be defined!')``; README, Observers: "A subclass
    without ``observes`` is a TypeError." Here ``Observer.__init_subclass__`` (_legacy.py)
    falls back to the inherited ``observes`` and ``_defined_actions`` counts inherited
    methods, so ``Child`` registers a second observer whose ``created`` is ``Base.created``:
    every save runs it twice (two receipts). README, Model events: "every observer method is
    called once".
    """
    seen: list[str] = []

    class Base(Observer):
        observes = Customer

        def created(self, eventName: str, instance: Customer) -> None:
            seen.append(f"receipt for {instance.name}")

    with pytest.raises(TypeError, match="observes"):

        class Child(Base):
            def updated(self, eventName: str, instance: Customer) -> None:
                pass

    Customer.objects.create(name="ann")
    assert seen == ["receipt for ann"]


def test_the_rest_of_an_interrupted_event_keeps_its_dispatchers_error_policy(recorder: Recorder) -> None:
    """What a drain cut short left goes first; the next ``clear_queue()`` runs it and raises
    its failure as the dispatcher's policy says."""
    d = EventDispatcher(mode="gevent", raise_handler_errors=True)

    def upload(name: str) -> None:
        gevent.sleep(0.05)

    def fails(name: str) -> None:
        raise KeyError("after the interruption")

    d.register("upload", upload)
    d.register("upload", fails)
    d.register("upload", recorder)
    d.dispatch("upload")
    with pytest.raises(gevent.Timeout), gevent.Timeout(0.01):
        d.clear_queue()
    assert d.pending() == 1  # the rest of "upload", counted as its dispatcher's
    with pytest.raises(KeyError, match="after the interruption"):
        d.clear_queue()
    assert (recorder.calls, d.pending()) == ([("upload",)], 0)


def test_legacy_register_handler_takes_an_event_class(recorder: Recorder) -> None:
    class Paid(Event):
        order_id: int

    d = EventDispatcher(mode="sync")
    d.RegisterHandler(Paid, recorder)
    d.dispatch(Paid(order_id=1))
    assert recorder.calls == [(Paid(order_id=1),)]


def test_legacy_register_handler_refuses_a_bytes_pattern() -> None:
    d = EventDispatcher(mode="sync")
    with pytest.raises(TypeError, match=r"takes a str pattern, got re\.compile\(b'order"):
        d.RegisterHandler(re.compile(b"order::.*"), lambda name: None)  # type: ignore[arg-type]


def test_a_legacy_listener_instance_called_with_an_event_gets_the_event_alone() -> None:
    class Paid(Event):
        order_id: int

    seen: list[object] = []
    d = EventDispatcher(mode="sync")

    class Audit(EventListener, dispatcher=d):
        listensFor = ["audit::.*"]

        async def handle(self, *args: object, **kwargs: object) -> None:  # (run to completion)
            seen.append(args)

    listener = Audit()
    listener("shop::paid", Paid(order_id=2))
    listener("audit::x", 3)
    assert seen == [(Paid(order_id=2),), ("audit::x", 3)]


def test_the_rest_of_an_interrupted_event_goes_first_after_a_hand_over(
    queued: EventDispatcher, recorder: Recorder
) -> None:
    """Another greenlet dispatched during the drain (the rest is the worker's), then the
    drain's own Timeout cut its current event short: that event's rest still runs first."""

    def upload(name: str) -> None:
        gevent.sleep(0.05)

    queued.register("upload", upload)
    queued.register("upload", recorder)
    queued.register("other", recorder)
    queued.dispatch("upload")
    other = gevent.spawn_later(0.001, queued.dispatch, "other")
    with pytest.raises(gevent.Timeout), gevent.Timeout(0.01):
        queued.clear_queue()
    other.join()
    gevent.sleep(0.01)  # the worker's turn
    assert (recorder.calls, queued.pending()) == ([("upload",), ("other",)], 0)


# -- threads without a hub, interrupted events, compiled patterns, exit -------------------


def in_a_thread(target: Callable[[], None]) -> None:
    """Run ``target`` in an OS thread of its own (no gevent hub there), which then closes
    its database connections; an exception there fails the test (pytest reports
    exceptions raised in threads)."""

    def run() -> None:
        try:
            target()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()


def once_through_async_to_sync() -> None:
    """What Django's WSGI handler does in a request thread when one middleware is
    async-only (``adapt_method_mode``: ``async_to_sync`` around the middleware, and the
    sync rest of the chain back in this thread through ``sync_to_async``); any sync code
    that calls ``async_to_sync`` on a coroutine using ``sync_to_async`` does the same.
    asgiref then leaves ``SyncToAsync.threadlocal.main_event_loop`` set in this thread for
    good (``asgiref/sync.py: SyncToAsync.thread_handler``), to a loop that is closed."""

    async def touch() -> None:
        await sync_to_async(lambda: None)()

    async_to_sync(touch)()


@pytest.mark.django_db(transaction=True)
def test_a_save_in_a_wsgi_thread_that_once_used_async_to_sync_runs_its_handlers_at_once() -> None:
    """A WSGI request thread (runserver, gunicorn gthread) without a hub, in gevent mode:
    a model save runs its handlers before ``save()`` returns ("In a thread without a hub
    they drain that thread's own queue at once", README, Modes). Once that thread has been
    through ``async_to_sync`` (an async-only middleware does it in every request), the
    event of the save no longer runs at the save: it waits for the end of the request, so
    code after the save that counts on its handlers (a cache they fill, a row they write)
    sees nothing. The same save in the same thread before that ran them at once.

    The cause was: ``_called_from_a_loop()`` read asgiref's
    ``SyncToAsync.threadlocal.main_event_loop``, which asgiref never clears, so a plain
    WSGI thread passed it for good and its events went to a task's queue, which
    ``yield_to_handlers`` did not drain. The loop must now be running.
    """
    got: list[str] = []
    dispatcher.register(Created[Customer], lambda event: got.append(event.instance.name))
    seen_after_save: list[list[str]] = []

    def request_thread() -> None:
        Customer.objects.create(name="before")
        seen_after_save.append(list(got))
        once_through_async_to_sync()
        Customer.objects.create(name="after")
        seen_after_save.append(list(got))
        dispatcher.clear_queue()  # (the request's end)

    in_a_thread(request_thread)
    assert seen_after_save == [["before"], ["before", "after"]]


def test_the_rest_of_an_interrupted_event_does_not_reach_a_handler_removed_since(
    queued: EventDispatcher,
) -> None:
    """A drain cut short by its greenlet's ``gevent.Timeout`` leaves the rest of the
    interrupted event queued. A handler removed before that rest is delivered (``off()``,
    or the end of the ``isolate()`` block that registered it, as a test does) still gets
    the event: here a handler registered inside an ``isolate()`` block is called after the
    block ended and put the registry back, i.e. in another test's ``clear_queue()``.

    README, Dispatch rules: "Handlers are resolved when the event is delivered. A handler
    removed (``off``, the end of an ``isolate()`` block) before a queued event runs does
    not get it." The cause was: ``Rest.steps_at_delivery`` returned the remaining steps as
    ``run`` froze them, without checking that they were still registered.
    """
    calls: list[str] = []

    def upload(name: str) -> None:
        gevent.sleep(0.05)  # I/O, longer than the caller's timeout

    with queued.isolate():
        queued.register("upload", upload)
        queued.register("upload", lambda name: calls.append(name))
        queued.dispatch("upload")
        with pytest.raises(gevent.Timeout), gevent.Timeout(0.01):
            queued.clear_queue()
    assert queued.registrations == ()  # the block ended: both handlers are gone
    queued.clear_queue()
    gevent.sleep(0.01)
    assert calls == [], "a handler removed before the rest of its event was delivered got it"


@pytest.mark.parametrize(
    "pattern",
    [
        re.compile("(?i)shop::order::.*"),  # flags written inline, at the start
        re.compile("shop::order::.*  # any order event", re.VERBOSE),  # a trailing comment
    ],
    ids=["inline-flags", "verbose-comment"],
)
def test_legacy_register_handler_takes_a_compiled_pattern_with_inline_flags(
    pattern: re.Pattern[str], recorder: Recorder
) -> None:
    """``Dispatcher.RegisterHandler(re.compile("(?i)shop::order::.*"), handler)``: the
    original called ``re.compile(eventName)``, which returns a compiled pattern as it is,
    so a pattern with its flags written inline (the usual way to write them in a string)
    worked. Here it raises ``InvalidPattern`` ("global flags not at the start of the
    expression"), and the project does not start.

    README, Legacy: "RegisterHandler is register that also takes a compiled pattern, as
    the original's re.compile(eventName) did (its flags become a scoped inline group,
    (?i:...))". The cause was: ``_pattern_text`` wrapped the text in a scoped group even
    when the flags came from a global inline group inside it, which ``re`` refuses
    anywhere but at the very start; and with ``re.VERBOSE`` a comment at the end of the
    pattern swallowed the closing ``)`` ("missing ), unterminated subpattern").
    """
    d = EventDispatcher(mode="sync")
    d.RegisterHandler(pattern, recorder)
    d.dispatch("shop::order::paid")
    assert recorder.calls == [("shop::order::paid",)]


def test_legacy_register_handler_takes_a_compiled_pattern_without_flags(recorder: Recorder) -> None:
    d = EventDispatcher(mode="sync")
    d.RegisterHandler(re.compile("order::.*"), recorder)
    d.Dispatch("order::paid")
    d.Dispatch("ORDER::paid")
    assert recorder.calls == [("order::paid",)]


def test_exit_takes_over_from_a_handler_that_swallows_the_end_of_its_drain(
    queued: EventDispatcher,
    recorder: Recorder,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stuck handler that catches ``GreenletExit`` and blocks again keeps its drain: exit
    takes the rest of the queue over all the same."""
    from django_events.delivery import gevent as delivery

    never = gevent.event.Event()

    def stubborn(name: str) -> None:
        try:
            never.wait()
        except BaseException:
            never.wait()

    queued.register("stuck", stubborn)
    queued.register("after", recorder)
    queued.dispatch("stuck")
    queued.dispatch("after")
    gevent.sleep(0)  # the worker blocks in the stuck handler
    monkeypatch.setattr(delivery, "EXIT_WAIT", 0.01)
    delivery.drain_at_exit()
    assert recorder.calls == [("after",)]
    assert "exit took the queue over from a drain that did not end within 0.01 s" in caplog.text
    never.set()  # the old drain resumes, finds nothing left, and lets go
    gevent.sleep(0.01)  # (its hub turn: the worker parks again, idle)
    finish_drains()
    assert recorder.calls == [("after",)]


# -- the fifth attack: exit, SIGTERM and interrupted handlers ------------------------------


def test_a_handlers_own_timeout_escaping_in_the_worker_is_logged_once(
    queued: EventDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler that starts its own ``gevent.Timeout`` and lets it escape, in the worker, got
    two error lines for one failure: ``run`` named the interrupted handler, then the worker
    logged "a handler let <Timeout> escape" again. One line now, with the traceback; the
    event's other handler still runs."""
    seen: list[str] = []

    def times_out(name: str) -> None:
        gevent.Timeout.start_new(0.01)
        gevent.sleep(1)

    queued.register("t", times_out)
    queued.register("t", lambda name: seen.append("second"))
    queued.dispatch("t")
    gevent.sleep(0.1)
    finish_drains()
    assert seen == ["second"]
    [record] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert record.getMessage().startswith(f"handler {handler_label(times_out)} was interrupted by Timeout")
    assert record.exc_info is not None


def test_exit_runs_the_rest_of_an_event_whose_stuck_handler_cleans_up_with_io(
    queued: EventDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit ends a handler stuck past EXIT_WAIT with ``GreenletExit``. One whose cleanup does
    I/O before it lets the exception go (a rollback on a gevent-friendly driver, a socket
    closed) had one hub turn for it: exit took the queue over, the cleanup never finished
    and the rest of the event was lost, unlogged. The cleanup now gets EXIT_WAIT more."""
    from django_events.delivery import gevent as delivery

    monkeypatch.setattr(delivery, "EXIT_WAIT", 0.05)
    seen: list[str] = []
    keep_hub_busy = gevent.spawn(gevent.sleep, 5)  # (another greenlet: no LoopExit)

    def stuck(name: str) -> None:
        seen.append("stuck start")
        try:
            gevent.sleep(60)
        except BaseException:
            gevent.sleep(0.001)  # cleanup I/O, then it lets the exception go
            seen.append("stuck cleaned up")
            raise

    queued.register("s", stuck)
    queued.register("s", lambda name: seen.append("rest of s"))
    queued.register("later", lambda name: seen.append("later"))
    queued.dispatch("s")
    queued.dispatch("later")
    gevent.sleep(0)  # the worker starts s, which blocks
    exit_then(keep_hub_busy.kill)
    assert seen == ["stuck start", "stuck cleaned up", "rest of s", "later"]


def exit_then(finish: Callable[[], object]) -> None:
    """The exit drain, then ``finish()`` (in a function of its own: coverage's tracer loses
    the frame that the exit drain returns to after greenlets switched in a handler's cleanup)."""
    from django_events.delivery import gevent as delivery

    try:
        delivery.drain_at_exit()
    finally:
        finish()


def test_events_held_for_adispatch_that_a_base_exception_cuts_short_wait_in_the_queue(
    queued: EventDispatcher, recorder: Recorder
) -> None:
    """The events ``adispatch``'s sync handlers dispatched (held, then run before it returns):
    when a handler of theirs ends in an exception other than ``Exception``, the rest, first
    the rest of that event, was logged as left to run later but dropped. It now waits in
    the thread's queue."""
    from django_events.delivery import gevent as delivery

    class Stop(BaseException):
        pass

    def stops(name: str) -> None:
        raise Stop

    queued.register("cut", stops)
    queued.register("cut", recorder)
    queued.register("next", recorder)
    held: list[Any] = [(queued, "cut", (), {}, None, None), (queued, "next", (), {}, None, None)]
    with pytest.raises(Stop):
        delivery._run_held(held, False, None)
    assert queued.pending() == 2  # the rest of "cut" and "next"
    queued.clear_queue()
    assert recorder.calls == [("cut",), ("next",)]


def test_sigterm_in_a_gevent_process_while_the_main_greenlet_runs_a_handler() -> None:
    """README, Graceful shutdown: SIGTERM raises SystemExit in the main greenlet, as Python
    raises a signal's exception in the main thread; when the main greenlet itself runs a
    handler (a script's own ``clear_queue()``), that handler is interrupted and named in the
    log, and exit runs the rest of its event and the later events (the process dies of the
    signal afterwards). In any other greenlet the running code is not interrupted."""
    script = """
        from gevent import monkey
        monkey.patch_all()
        import os, signal, time
        import django
        from django.conf import settings
        settings.configure(INSTALLED_APPS=["django_events"], DJANGO_EVENTS={"MODE": "gevent"})
        django.setup()
        from django_events import dispatcher, on

        @on("work")
        def spins(name):
            print("start", flush=True)
            if os.environ.get("SENT") is None:  # (the first event only)
                os.environ["SENT"] = "1"
                os.kill(os.getpid(), signal.SIGTERM)  # arrives here, in the main greenlet
            end = time.monotonic() + 0.2
            while time.monotonic() < end:
                pass
            print("end", flush=True)

        @on("work")
        def second(name):
            print("second", flush=True)

        dispatcher.dispatch("work")
        dispatcher.dispatch("work")
        dispatcher.clear_queue()
        print("cleared", flush=True)
    """
    result = run_script(script)
    assert result.returncode == -signal.SIGTERM, result.stderr
    assert result.stdout.splitlines() == ["start", "second", "start", "end", "second"], result.stderr
    assert "was interrupted by SystemExit for event 'work'; 1 handler(s)" in result.stderr


def test_exit_ending_a_slow_async_handler_in_a_gevent_process_cancels_it_first() -> None:
    """Under ``monkey.patch_all()`` an async handler runs in gevent's thread pool while the
    worker waits. Exit ending it (past EXIT_WAIT) ended only that wait: the handler went on
    in its thread while exit ran the next event, and the event it dispatched at its end was
    lost. Its task is now cancelled, and its thread ends before exit goes on."""
    script = """
        from gevent import monkey
        monkey.patch_all()
        import asyncio, time
        import django
        from django.conf import settings
        settings.configure(INSTALLED_APPS=["django_events"], DJANGO_EVENTS={"MODE": "gevent"})
        django.setup()
        import gevent
        from django_events import dispatcher, on
        from django_events.delivery import gevent as delivery

        delivery.EXIT_WAIT = 0.2

        @on("a")
        async def slow(name):
            print("async start", flush=True)
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                print("async cancelled", flush=True)
                dispatcher.dispatch("child")
                raise

        @on("child")
        def child(name):
            print("child", flush=True)

        @on("later")
        def later(name):
            print("later", flush=True)

        dispatcher.dispatch("a")
        dispatcher.dispatch("later")
        gevent.sleep(0.05)  # the worker starts a
        print("exiting", flush=True)
    """
    result = run_script(script)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sorted(lines[:2]) == ["async start", "exiting"], result.stderr  # (two threads)
    assert lines[2:] == ["async cancelled", "later", "child"], result.stderr
    assert "was interrupted by GreenletExit for event 'a'; 0 handler(s)" in result.stderr


def test_exit_ending_an_async_handler_in_gevents_thread_pool_cancels_it_first(
    queued: EventDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test above, in this process: the thread pool as under ``patch_all()``."""
    import asyncio

    from django_events import _running
    from django_events.delivery import gevent as delivery

    monkeypatch.setattr(_running, "is_module_patched", lambda name: name == "threading")
    monkeypatch.setattr(delivery, "EXIT_WAIT", 0.05)
    seen: list[str] = []

    async def slow(name: str) -> None:
        seen.append("start")
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            seen.append("cancelled")
            queued.dispatch("child")
            raise

    queued.register("a", slow)
    queued.register("child", lambda name: seen.append("child"))
    queued.register("later", lambda name: seen.append("later"))
    queued.dispatch("a")
    queued.dispatch("later")
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        gevent.sleep(0.005)  # the worker waits for the handler, which starts in the pool
    exit_then(lambda: None)
    assert seen == ["start", "cancelled", "later", "child"]


# -- the sixth attack: the fixes of the fifth, tried again ---------------------------------


class Stop(BaseException):
    """Not an ``Exception`` (as a handler's ``sys.exit()`` or a KeyboardInterrupt)."""


def test_events_adispatch_holds_that_a_base_exception_cuts_short_wait_in_the_queue(
    queued: EventDispatcher, recorder: Recorder
) -> None:
    """``await adispatch("outer")`` in gevent mode: its sync handler dispatches "inner" and
    "later", held and run before ``adispatch`` returns. "inner"'s first handler ends in a
    BaseException: the rest went back through the diverting context into the list that
    ``adispatch`` then dropped (the log said "left to run later"). They now wait in the
    queue of the request (here of the task) that dispatched them, as the sync API's events
    of async code do."""
    import asyncio

    queued.register("outer", lambda name: (queued.dispatch("inner"), queued.dispatch("later")))

    def stops(name: str) -> None:
        raise Stop

    queued.register("inner", stops)
    queued.register("inner", recorder)
    queued.register("later", recorder)
    with pytest.raises(Stop):
        asyncio.run(queued.adispatch("outer"))
    assert queued.pending() == 2  # in the queue of the task that dispatched (no request here)
    exit_then(lambda: None)  # (or that request's end, or the next drain once the task is gone)
    assert recorder.calls == [("inner",), ("later",)]


@pytest.fixture
def in_the_thread_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    """Async handlers run in gevent's thread pool, as under ``monkey.patch_all()``."""
    from django_events import _running

    monkeypatch.setattr(_running, "is_module_patched", lambda name: name == "threading")


def test_a_kill_that_comes_as_an_async_handler_in_the_pool_ends_is_not_swallowed(
    queued: EventDispatcher, in_the_thread_pool: None
) -> None:
    """A kill (what exit does to a stuck drain, a pool to a request) that reaches the greenlet
    waiting for an async handler in the thread pool just after the handler's loop closed:
    cancelling its task raised ``RuntimeError: Event loop is closed``, which ``run`` logged
    as the handler's failure, and the kill was lost (``clear_queue()`` returned)."""

    async def quick(name: str) -> None:
        pass

    queued.register("a", quick)
    queued.dispatch("a")
    me = getcurrent()

    def holds_the_hub_then_kills() -> None:
        time.sleep(0.2)  # (not gevent's: the handler's thread ends meanwhile)
        gevent.kill(me, gevent.GreenletExit)

    gevent.spawn(holds_the_hub_then_kills)
    with pytest.raises(gevent.GreenletExit):
        queued.clear_queue()


def test_a_request_timeout_before_an_async_handler_started_in_the_pool_interrupts_it(
    queued: EventDispatcher, in_the_thread_pool: None
) -> None:
    """README, Modes: a request's ``gevent.Timeout`` around ``clear_queue()`` interrupts the
    handler it runs. When it came before the async handler started (the pool busy: here one
    thread, busy for 0.3 s), nothing was cancelled and the request waited for the whole
    handler (1.3 s against 0.05 s). Now the request goes on at once and the handler never
    starts."""
    import asyncio

    pool = gevent.get_hub().threadpool
    size = pool.maxsize
    pool.maxsize = 1
    seen: list[str] = []

    async def slow(name: str) -> None:  # pragma: no cover - it must never start (asserted)
        seen.append("start")
        await asyncio.sleep(1)

    try:
        busy = pool.spawn(time.sleep, 0.3)
        queued.register("a", slow)
        queued.dispatch("a")
        began = time.monotonic()
        with pytest.raises(gevent.Timeout), gevent.Timeout(0.05):
            queued.clear_queue()
        took = time.monotonic() - began
        busy.get()
        gevent.sleep(0.05)  # (the pool's thread takes the job, which ends at once)
    finally:
        pool.maxsize = size
    assert took < 0.25
    assert seen == []
