"""Gevent mode: each OS thread's events wait in its queue for the thread's living worker.

Every dispatcher in gevent mode puts its events on the calling thread's queue (one queue
per thread, whatever the dispatcher: an event a handler dispatches on another dispatcher
waits in the same queue, in order). A thread that has a gevent hub, and the main thread,
get one worker greenlet for their whole life: it parks in the hub, a dispatch wakes it
with one callback, and it runs the queue when the hub gets control. Other threads get no
hub (one per thread would leak an event loop per runserver request thread); their
queues are drained at ``clear_queue()``, at the end of a request and at exit.

One consumer at a time keeps dispatch order. A drain never waits for another greenlet:
when the queue is being drained already (a handler that yielded, that spawned greenlets
and joins them, or that waits for another greenlet), ``clear_queue()`` and request end
return at once and that drain runs the rest, in order. Only interpreter exit waits, for
a drain of its own thread, so that nothing is left.

A thread that ends with events queued leaves an orphan that the next drain in any thread
(or exit) empties; if it ended while one of its greenlets was draining (a handler had
yielded), that drain can never resume and the next one takes the queue over.

A thread that runs an asyncio event loop (an ASGI server's) never gives a hub a turn: an
event dispatched there during a request (an async view) waits in that request's own
queue, keyed by the request's ``ThreadSensitiveContext`` (Django's ASGI handler enters
one per request), and the end of that request (``request_finished``, sent from Django's
sync thread for the request) runs it there. Outside a request it waits in the thread's
queue for ``clear_queue()`` or exit; a request that ends without ``request_finished``
leaves an orphan. Sync code that such a loop's task runs in a thread without a hub
(``sync_to_async``, or any thread during an ASGI request) queues in the same request's
queue, so that its end runs them wherever it is sent from.

A drain by a greenlet other than the worker (a request's end, ``clear_queue()``) hands
the rest to the worker when another greenlet dispatches meanwhile (``_hand_over``).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import signal
import threading
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any

import gevent
import gevent.event
from asgiref.sync import SyncToAsync
from gevent._hub_local import get_hub_if_exists
from gevent.exceptions import LoopExit
from gevent.monkey import get_original, is_module_patched
from gevent.timeout import Timeout
from greenlet import GreenletExit, getcurrent, greenlet

from .._running import Context, Rest, Step, diverted, exiting, requeue, run
from . import MODE_RANK, Item, Sink, Waiting

__all__ = [
    "DELIVERY",
    "GeventDelivery",
    "drain",
    "drain_at_exit",
    "draining",
    "exit_on_sigterm",
    "request_started_in_a_loop",
    "pending",
    "register_process_hooks",
    "then_settle",
    "yield_to_handlers",
]

# The real thread-local, lock and thread id, even under gevent's monkey-patching: queues
# belong to OS threads (whose greenlets share one hub), not to greenlets.
logger = logging.getLogger("django_events")

_ThreadLocal: type[Any] = get_original("_thread", "_local")
_allocate_lock: Callable[[], Any] = get_original("_thread", "allocate_lock")
_get_ident: Callable[[], int] = get_original("_thread", "get_ident")


class ThreadQueue:
    """The events one OS thread dispatched in gevent mode, and the greenlet that drains them."""

    __slots__ = (
        "done",
        "drainer",
        "drainer_thread",
        "exit_waits",
        "handed",
        "hub",
        "idle",
        "items",
        "lock",
        "schedule",
        "stranded",
        "wake",
        "worker",
    )

    def __init__(self) -> None:
        self.items: deque[Item] = deque()
        #: Held by the one consumer; replaced (not released) when a drain is taken over.
        self.lock = _allocate_lock()
        self.drainer: greenlet | None = None
        self.drainer_thread = 0
        #: True when a dispatch must wake the worker: there is none, or it is parked.
        self.idle = True
        self.worker: greenlet | None = None
        self.hub: Any = None
        #: The hub loop's ``run_callback``: a dispatch wakes the parked worker with one call.
        self.schedule: Callable[..., object] | None = None
        #: The hub callback that will switch to the worker, while it is scheduled.
        self.wake: Any = None
        #: ...while one of its greenlets was draining: that drain can never resume.
        self.stranded = False
        #: Another greenlet dispatched while a greenlet other than the worker drained: what
        #: is left after that drain's current event is the worker's (``_hand_over``).
        self.handed = False
        #: Set when a drain that exit waits for ends.
        self.done: gevent.event.Event | None = None
        #: Exit waits for this thread's drain under way in another greenlet (the worker's,
        #: handed over): once its current event is done, the rest is exit's to run.
        self.exit_waits = False


class RequestQueue(ThreadQueue):
    """The events dispatched in an event loop's thread for one ASGI request (or one task)."""

    __slots__ = ("listed",)

    def __init__(self) -> None:
        super().__init__()
        #: In ``_queues`` (while it holds events: ``pending()`` and exit see it).
        self.listed = False


class _TaskOwner:
    """Lives in a task's context: its queue is an orphan once the context is gone."""

    __slots__ = ("__weakref__", "record")

    def __init__(self) -> None:
        self.record = RequestQueue()


class _Owner:
    """Lives in the owning thread's local storage: it dies with the thread."""


_local = _ThreadLocal()
_lock = _allocate_lock()
_queues: list[ThreadQueue] = []
#: The context variable Django's ASGI handler sets for each request: its ThreadSensitiveContext.
_request_context: ContextVar[Any] = SyncToAsync.thread_sensitive_context
#: The event loops whose thread took back a stale worker wake (``request_started_in_a_loop``).
_loops_seen: weakref.WeakSet[Any] = weakref.WeakSet()
#: Request queues whose context was freed with events left: moved to ``_orphans`` by the
#: next drain (a finalizer may run in any thread, at any allocation: it takes no lock).
_gone: deque[ThreadQueue] = deque()
#: The queues of threads that ended while events were queued or a drain was under way.
_orphans: list[ThreadQueue] = []
#: The queues of ASGI requests (by their ThreadSensitiveContext): events dispatched in a
#: thread that runs an event loop during a request, until the end of that request.
_requests: weakref.WeakKeyDictionary[object, RequestQueue] = weakref.WeakKeyDictionary()
#: Outside such a request: the queue of the task (the context) that dispatched.
_task_owner: ContextVar[_TaskOwner | None] = ContextVar("django_events_task_queue", default=None)
_process_hooks_registered = False
#: SIGTERM came with events queued: the exit drain runs them, then the process dies of it.
_terminating = False


def send(
    sink: Sink,
    steps: Sequence[Step] | None,
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    context: Context | None,
    waiting: Waiting | None = None,
) -> None:
    """Queue the event in the calling thread's queue (its handlers are resolved when it is
    delivered), and wake the worker if it is parked: no handler runs here, so no error."""
    try:
        queue: ThreadQueue = _local.queue
    except AttributeError:
        queue = _adopt()
    queue.items.append((sink, name, args, kwargs, waiting, context))
    if queue.idle or queue.hub.loop is None:  # parked, or its hub was destroyed
        _wake(queue)


class GeventDelivery:
    rank = MODE_RANK
    send = staticmethod(send)

    def check_handler(self, handler: Callable[..., object], label: str) -> None:
        """Any callable can run in the worker."""


DELIVERY = GeventDelivery()


def _adopt() -> ThreadQueue:
    queue = ThreadQueue()
    owner = _Owner()
    _local.queue = queue
    _local.owner = owner
    weakref.finalize(owner, _orphan, queue)
    with _lock:
        _queues.append(queue)
    register_process_hooks()
    return queue


def _orphan(queue: ThreadQueue) -> None:
    # Runs in the ending thread, as its local storage goes.
    queue.stranded = queue.lock.locked() and queue.drainer_thread == _get_ident()
    with _lock:
        _orphans.append(queue)


def _wake(queue: ThreadQueue) -> None:
    """Schedule the parked worker in its hub; make one first (or again, in a new hub). In a
    thread that runs an event loop the event goes to its request's queue instead (the
    queue stays idle there, so each dispatch comes here)."""
    if asyncio._get_running_loop() is not None:
        _to_request(queue)
        return
    hub, worker, schedule = queue.hub, queue.worker, queue.schedule
    if worker is None or schedule is None or hub.loop is None:  # none yet, or its hub destroyed
        hub = get_hub_if_exists()
        if hub is None:
            if threading.current_thread() is not threading.main_thread():
                if _request_context.get(None) is not None or _called_from_a_loop():
                    _to_request(queue)  # sync code of an async caller: its request's event
                # no hub here: drained at the end of the request, clear_queue() or exit
                return
            hub = gevent.get_hub()
        queue.hub, schedule = hub, hub.loop.run_callback
        queue.schedule = schedule
        worker = queue.worker = greenlet(_work, parent=hub)
    drainer = queue.drainer
    if drainer not in (None, worker, getcurrent()) and queue.drainer_thread == _get_ident():
        _hand_over(queue)
        return  # (the drain wakes the worker when its current event is done)
    queue.idle = False
    queue.wake = schedule(worker.switch, queue)


def _hand_over(queue: ThreadQueue) -> None:
    """Another greenlet dispatched while one that is not the worker drains the queue (a
    request's end, a ``clear_queue()``): that drain ends with its current event, and the
    worker runs the rest, in order. Under steady traffic a request's end would otherwise
    run every other request's events for as long as they keep coming."""
    if queue.handed:
        return
    with _lock:
        queue.handed = True
        old, queue.items = queue.items, deque(queue.items)  # the drain's deque: it ends
        old.clear()


def _called_from_a_loop() -> bool:
    """Whether this thread runs sync code for an event loop's task: asgiref marks the
    threads ``sync_to_async`` runs code in (Django's thread for sync code under ASGI, or
    under ``AsyncClient``, which opens no request context). A thread ``asyncio.to_thread``
    runs in is seen only through the request's context, which it copies."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    return loop is not None and loop.is_running()  # (asgiref leaves it set afterwards)


def _to_request(queue: ThreadQueue) -> None:
    """Move the event just queued in an event loop's thread to the queue of the request it
    was dispatched in: the ASGI request's (its ThreadSensitiveContext), else the one this
    context holds (made here: the task's later ``sync_to_async`` calls see it, as Django's
    test client sends ``request_finished``)."""
    held = diverted.get()
    if held is not None:  # an async handler that blocking() runs: back to the caller's queue
        held.append(queue.items.pop())
        return
    request = _request_context.get(None)
    record: RequestQueue | None
    if request is None:
        owner = _task_owner.get()
        if owner is None:
            owner = _TaskOwner()
            _task_owner.set(owner)
            weakref.finalize(owner, _request_gone, owner.record)
        record = owner.record
    else:
        record = _requests.get(request)
        if record is None:
            record = RequestQueue()
            with _lock:
                _requests[request] = record
            weakref.finalize(request, _request_gone, record)
    record.items.append(queue.items.pop())
    if not record.listed:
        with _lock:
            record.listed = True
            _queues.append(record)


def _requeue(items: list[Item]) -> None:
    """Events an async handler dispatched from its own loop, queued in the calling thread
    after the current event (``_running.blocking``)."""
    try:
        queue: ThreadQueue = _local.queue
    except AttributeError:
        queue = _adopt()
    for item in items:  # one at a time, as send() (an event loop's thread moves each)
        queue.items.append(item)
        if queue.idle or queue.hub.loop is None:
            _wake(queue)


requeue.append(_requeue)


def _request_gone(record: RequestQueue) -> None:
    """An ASGI request's context, or a task's, was freed: what it left (no request_finished
    came) is an orphan, for the next drain in any thread, or exit. (A finalizer: the
    garbage collector may run it in a thread that holds ``_lock``, so it takes none.)"""
    if record.items:
        _gone.append(record)


def _current_request() -> RequestQueue | None:
    """The queue of the request the caller runs in (see ``_to_request``), if it has one."""
    request = _request_context.get(None)
    if request is None:
        owner = _task_owner.get()
        return None if owner is None else owner.record
    return _requests.get(request)


def _unlist(records: list[RequestQueue]) -> None:
    """Request queues that were drained leave ``_queues`` (until their next event)."""
    with _lock:
        done = [r for r in records if r.listed and not r.items and not r.lock.locked()]
        for record in done:
            record.listed = False
        if done:
            _queues[:] = [q for q in _queues if q not in done]


def _work(queue: ThreadQueue) -> None:
    """The worker greenlet: drain, park in the hub until a dispatch wakes it, again."""
    me = getcurrent()
    hub = queue.hub
    try:
        while True:
            try:
                _drain(queue, False)
            except Timeout:  # a handler's own timeout that it let escape: nobody owns it here
                continue  # (``run`` logged the handler it interrupted, and put back the rest)
            if queue.items and not queue.lock.locked() and not queue.exit_waits:
                continue  # events came while its drain had lost the queue (taken over): run them
            queue.idle = True
            hub.switch()
    finally:
        if queue.worker is me:
            queue.worker = queue.hub = None
            queue.idle = True


def _drain(
    queue: ThreadQueue, may_raise: bool, error: Exception | None = None, *, exiting: bool = False
) -> tuple[bool, Exception | None]:
    """Run ``queue`` until it is empty. Returns whether this call drained, and the error.

    When another greenlet is draining it already (a handler that yielded, or that spawned
    greenlets or waits for one), that drain runs the rest, in order, and this call returns
    at once: it never waits for a greenlet that may be waiting for it. A drain whose thread
    ended is taken over. Only ``exiting`` (interpreter exit) waits for a drain of its own
    thread (Python 3.13 clears the thread's locals first, so it may look stranded), and
    takes the queue over when nothing can resume that drain.
    """
    lock = queue.lock
    while not lock.acquire(False):
        drainer = queue.drainer
        if exiting and drainer is not None and queue.drainer_thread == _get_ident():
            # That drain ends with its current event (exit runs the rest): EXIT_WAIT is what
            # one event may take to finish, not what the whole backlog may take.
            queue.exit_waits = True  # (the worker parks after it: ``_work``)
            _hand_over(queue)
            ended = _wait_for(queue) or _stop(queue, drainer)
            queue.exit_waits = False  # (a drain that ended was its last: this one resumes after)
            if ended:
                lock = queue.lock
                continue
            with _lock:
                queue.stranded = True  # nothing can resume it
        lock = _take_over(queue)
        if lock is None:
            return False, error
        break
    queue.drainer, queue.drainer_thread = getcurrent(), _get_ident()
    items = queue.items  # a take-over or a hand-over empties this deque: the drain then ends
    try:
        if items:
            sink, name, args, kwargs, waiting, context = items.popleft()
            error = run(sink, None, name, args, kwargs, context, waiting, may_raise, error, items)
    except BaseException:
        # Cut short by its greenlet's own Timeout or a kill (``run`` put the event's rest
        # back first): the rest is the worker's.
        _release(queue, lock, items)
        _leave_to_the_worker(queue)
        raise
    handed = _release(queue, lock, items)
    if handed:
        _leave_to_the_worker(queue)
    if not queue.items:
        # Drained here while the worker may wait for a hub turn: it has nothing left to do,
        # and the hub may never get control (a thread that went on to run an event loop).
        _unschedule(queue)
    return not handed or exiting, error


def _leave_to_the_worker(queue: ThreadQueue) -> None:
    """After a drain that stopped early, wake this thread's worker for what is left: it
    found the queue taken and parked (in an event loop's thread, a request's end runs it)."""
    own = queue is getattr(_local, "queue", None)
    if own and queue.items and queue.idle and not queue.exit_waits and asyncio._get_running_loop() is None:
        _wake(queue)


def _release(queue: ThreadQueue, lock: Any, items: deque[Item]) -> bool:
    """The end of a drain of ``items`` that held ``lock``; returns whether the rest was
    handed over. What ``run`` put back in ``items`` (the rest of an interrupted event) after
    they were handed over goes first in the queue's deque."""
    if items and items is not queue.items:
        with _lock:
            queue.items.extendleft(reversed(items))
            items.clear()
    handed = False
    if queue.lock is lock:
        handed, queue.handed = queue.handed, False
        queue.drainer, queue.drainer_thread, queue.stranded = None, 0, False
        done, queue.done = queue.done, None
        if done is not None:
            done.set()
    lock.release()
    return handed


def _unschedule(queue: ThreadQueue) -> None:
    """Take back a wake of the worker that the hub has not run yet: the next dispatch comes
    to ``_wake`` again (in an event loop's thread, to move its event to its request)."""
    wake = queue.wake
    if wake is not None and wake.pending:
        wake.stop()
        queue.idle = True


def request_started_in_a_loop(**kwargs: object) -> None:
    """``request_started`` receiver: under ASGI it runs in Django's sync thread for the
    request, called from the event loop's thread. A worker wake that the loop's thread
    scheduled before its loop started (an event dispatched at import) will never run there,
    and would keep that thread's next events from reaching their requests: the loop's
    thread takes it back, before the request goes on (once per loop)."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is not None and loop not in _loops_seen:
        _loops_seen.add(loop)
        loop.call_soon_threadsafe(_in_the_loops_thread)  # (runs before the request resumes)


def _in_the_loops_thread() -> None:
    queue = getattr(_local, "queue", None)
    if queue is not None:
        _unschedule(queue)


#: How long interpreter exit waits for a drain under way in another greenlet of its thread
#: (a handler doing I/O) before it takes the rest of the queue over, in seconds.
EXIT_WAIT = 2.0


def _wait_for(queue: ThreadQueue) -> bool:
    """Wait for the drain under way in another greenlet of this thread, at most
    ``EXIT_WAIT`` seconds; False when it did not end (a handler stuck while other greenlets
    keep the hub busy) or nothing can ever run it (the hub has nothing else to do)."""
    done = queue.done = queue.done or gevent.event.Event()
    try:
        return done.wait(EXIT_WAIT)
    except LoopExit:
        return False


def _stop(queue: ThreadQueue, drainer: greenlet) -> bool:
    """At exit, end a drain that did not end in time: ``GreenletExit`` in its greenlet, whose
    ``run`` puts the rest of its event back first in the queue and lets go. A handler's
    cleanup that yields (a rollback, a socket closed) gets ``EXIT_WAIT`` more. Whether it
    let go (a handler that swallows the exception and blocks again keeps it)."""
    gevent.kill(drainer, GreenletExit)  # thrown in its greenlet from the hub, which then
    gevent.sleep(0)  # goes on to this one (a dying greenlet switches to its parent, the hub)
    if queue.lock.locked():
        _wait_for(queue)
    if queue.lock.locked():
        logger.error(
            "exit took the queue over from a drain that did not end within %s s of GreenletExit "
            "(a handler that swallows it or blocks in its cleanup): the rest of the event it "
            "was running is lost; the later events run",
            EXIT_WAIT,
        )
        return False
    return True


def _take_over(queue: ThreadQueue) -> Any:
    """A new lock for a queue whose drain can never resume (its thread ended, or the hub has
    nothing left that could resume it), held by the caller; None when the queue is not
    stranded (or another caller took it first). The events move to a new deque: should the
    old drain resume after all, it finds nothing left to take."""
    with _lock:
        if not queue.stranded:
            return None
        queue.stranded = False
        lock = queue.lock = _allocate_lock()
        lock.acquire()
        old, queue.items = queue.items, deque(queue.items)
        old.clear()
        return lock


def _own() -> list[ThreadQueue]:
    """The calling thread's queue and its ASGI request's."""
    return [queue for queue in (getattr(_local, "queue", None), _current_request()) if queue is not None]


def _orphaned() -> list[ThreadQueue]:
    """The queues of threads and requests that ended with events left."""
    if _gone:
        with _lock:
            while _gone:
                _orphans.append(_gone.popleft())
    if not _orphans:
        return []
    with _lock:
        return list(_orphans)


def draining() -> bool:
    """Whether a drain of the calling thread's queue (or its ASGI request's) is under way: an
    event queued now waits for that drain's current event (``yield_to_handlers`` does not
    run it)."""
    return any(queue.lock.locked() for queue in _own())


def drain(may_raise: bool) -> Exception | None:
    """Run the calling thread's queue (and its ASGI request's), then those of threads and
    requests that ended, again until nothing is left that this call may run (a handler
    dispatching on any dispatcher included). A queue that another greenlet is draining is
    left to it. An orphan's handler errors are logged, never raised: they are not the
    caller's."""
    error = None
    progressed = True
    while progressed:
        progressed = False
        for queue in _own():
            if queue.items:
                drained, error = _drain(queue, may_raise, error)
                progressed = progressed or drained
        for queue in _orphaned():
            if queue.items:
                drained, _error = _drain(queue, False)
                progressed = progressed or drained
    request = _current_request()
    if request is not None:
        _unlist([request])
    if _orphans:
        with _lock:
            done = [q for q in _orphans if not q.items and q.drainer is None]
            _orphans[:] = [q for q in _orphans if q not in done]
            _queues[:] = [q for q in _queues if q not in done]
    return error


def _run_held(held: list[Item], may_raise: bool, error: Exception | None) -> Exception | None:
    """Run the events in ``held``, and those their handlers add to it, in order."""
    while held:
        items = deque(held)
        held.clear()
        sink, name, args, kwargs, waiting, context = items.popleft()
        try:
            error = run(sink, None, name, args, kwargs, context, waiting, may_raise, error, items)
        except BaseException:  # (cut short: the rest, first the interrupted event's, waits
            token = diverted.set(None)  # in the queue, not in ``held``, which is dropped)
            try:
                _requeue([*items, *held])
            finally:
                diverted.reset(token)
            raise
    return error


def then_settle(call: Callable[..., Exception | None], *args: Any) -> Exception | None:
    """In Django's sync thread, for ``adispatch``: ``call`` (sync handlers, or the hand-over
    to the after-commit and task strategies), then the events it queued in gevent mode
    (that its handlers dispatched, after-commit handlers delivered at once), and theirs,
    until none is left, so that ``adispatch`` returns once they ran, as in a request (whose
    end would run them). Nothing else: not its request's other events, no orphan."""
    held: list[Item] = []
    token = diverted.set(held)  # (what a thread without a hub would give its request)
    try:
        error = _run_held(held, True, call(*args))
    finally:
        diverted.reset(token)
    queue = getattr(_local, "queue", None)
    if queue is not None and queue.items:  # a thread with a hub keeps them in its own queue
        _drained, error = _drain(queue, True, error)
    return error


def yield_to_handlers() -> None:
    """Let the calling thread's queued events run now, as the original yielded to the hub
    after each model event: give the hub a turn (the worker runs what is queued unless a
    drain is under way), or in a thread without a hub (or in the hub itself) drain its
    queue here. Never waits for another greenlet; errors are logged.

    Never drained in the caller's greenlet when there is a hub: the queue holds every
    greenlet's events (other requests'), whose handlers must not run inside this
    greenlet's transaction, under its timeouts, or hold up its save."""
    if asyncio._get_running_loop() is not None:
        return  # async code: its events run at the end of its request (or at clear_queue())
    hub = get_hub_if_exists()
    if hub is not None and getcurrent() is not hub:
        gevent.sleep(0)
        return
    held = diverted.get()
    if held:  # (what adispatch's sync handlers dispatch, which it holds: this save's too)
        _run_held(held, False, None)
    for queue in _own():  # sync code of an async caller queues in its request's
        if queue.items:
            _drain(queue, False)


def pending(sink: Sink) -> int:
    """How many of ``sink``'s events wait in any thread's queue."""
    with _lock:
        queues = list(_queues)
    return sum(1 for queue in queues for item in list(queue.items) if _sink(item) is sink)


def _sink(item: Item) -> object:
    owner: object = item[0]
    return owner.sink if isinstance(owner, Rest) else owner


def drain_at_exit() -> None:
    """Run every thread's queue here, again until all are empty; errors are logged.

    A drain under way in another greenlet of this thread (a handler that yielded) is waited
    for, so the hub finishes it; if it cannot (the hub has nothing else to do), its queue
    is taken over.
    """
    with exiting():
        progressed = True
        while progressed:
            progressed = False
            with _lock:
                queues = list(_queues)
            for queue in queues:
                if queue.items or queue.lock.locked():
                    drained, _error = _drain(queue, False, exiting=True)
                    progressed = progressed or drained
    if _terminating:  # pragma: no cover - SIGTERM: die of it now, not wait for other threads
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)


def register_process_hooks() -> None:
    """Drain every queue at interpreter exit, and in a forked child forget the events queued
    before the fork (once; ``AppConfig.ready()`` and the first queued event both ask, so that
    a script without Django's app registry is covered too)."""
    global _process_hooks_registered
    with _lock:
        if _process_hooks_registered:
            return
        _process_hooks_registered = True
    # Once before the executors of concurrent.futures shut down (threading's own exit hooks
    # run first, in reverse order of registration: an async handler run at exit may still
    # call sync_to_async), and once more after the other non-daemon threads ended (atexit:
    # what they queued meanwhile).
    getattr(threading, "_register_atexit", atexit.register)(drain_at_exit)
    atexit.register(drain_at_exit)
    os.register_at_fork(after_in_child=_forget_inherited)


def exit_on_sigterm() -> bool:
    """When SIGTERM has Python's default action (die at once, skipping the exit drain),
    handle it: with events still queued (in gevent mode: one dispatched at start-up under
    uvicorn, which raises SIGTERM again after its graceful shutdown), exit (``SystemExit``)
    so that the exit drain runs them, then die of the signal without waiting for other
    threads; with none, die of it at once, as before. A server or worker that handles
    SIGTERM itself (gunicorn, Celery) installs its own over it, or already has. Only from
    the main thread (at ``ready()``); returns whether it was set."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False
    signal.signal(signal.SIGTERM, _on_sigterm)
    if is_module_patched("socket"):  # a gevent process: its main thread waits in the hub
        _wake_for_signals()
    return True


#: The hub timer of ``_wake_for_signals`` (kept: a watcher lives while referenced).
_signal_timer: Any = None
#: How often a gevent process's hub wakes up to run a pending SIGTERM handler, in seconds.
SIGNAL_CHECK_INTERVAL = 0.3


def _wake_for_signals() -> None:
    """In a gevent process the main thread sleeps in its hub's loop, and CPython runs a
    Python signal handler in the main thread only, once it runs Python code again: a
    SIGTERM the kernel delivers to another OS thread (one of gevent's thread pool) would go
    unnoticed until something else woke the hub. A timer that keeps nothing alive wakes it
    every ``SIGNAL_CHECK_INTERVAL`` seconds (gevent's libuv loop does the same)."""
    global _signal_timer
    _signal_timer = gevent.get_hub().loop.timer(SIGNAL_CHECK_INTERVAL, SIGNAL_CHECK_INTERVAL, ref=False)
    _signal_timer.start(_checks_signals)


def _checks_signals() -> None:
    """Python code: CPython runs the pending signal handlers before it."""


def _on_sigterm(signum: int, frame: object) -> None:
    # No lock here: the signal may come while this thread holds it (list() copies at once).
    # The process dies of the signal (as with the default action, in both cases): after the
    # exit drain when events are queued, at once when none are. It runs only in a process
    # that dies of it, whose coverage data dies too: tests/test_async.py and
    # tests/test_gevent_server.py check it from outside.
    if any(queue.items or queue.lock.locked() for queue in list(_queues)):  # pragma: no cover
        global _terminating
        _terminating = True  # drain_at_exit raises the signal again once it ran
        current, hub = getcurrent(), get_hub_if_exists()
        if current.parent is None or hub is None:
            raise SystemExit(128 + signum)
        # A Python signal handler runs in whichever greenlet runs: a handler in the worker,
        # a request. The exit begins in the main greenlet at the hub's next turn instead,
        # once the code running now yields; nothing is cut half-way.
        main = current
        while main.parent is not None:
            main = main.parent
        hub.loop.run_callback(main.throw, SystemExit(128 + signum))
        return
    signal.signal(signum, signal.SIG_DFL)  # pragma: no cover
    signal.raise_signal(signum)  # pragma: no cover


def _forget_inherited() -> None:
    """In a forked child (gunicorn --preload): the events queued before the fork are the
    parent's to run, not one more time in every child."""
    global _lock
    _lock = _allocate_lock()  # (held by another thread at the fork, it would stay held here)
    for queue in _queues:
        queue.items.clear()
        queue.lock = _allocate_lock()
        queue.drainer, queue.drainer_thread, queue.stranded, queue.done = None, 0, False, None
        queue.exit_waits = False
        queue.worker = queue.hub = queue.schedule = queue.wake = None
        queue.idle = True
    _orphans.clear()
