"""How pending events reach their handlers: inline (sync) or through a gevent queue.

Each OS thread has its own queue. A thread never touches another thread's hub, so a
dispatch from any thread returns at once (the original package hung there). A thread's
queue is drained by a worker greenlet in that thread's hub when the hub gets control,
by ``clear_queue()``, at the end of a request and at interpreter exit. When a thread ends
with events still queued, its queue becomes an orphan that the next drain in any thread
(or interpreter exit) empties: no event is left behind.

A queue has one consumer at a time, so events run in dispatch order even when a handler
yields: another greenlet of the thread that wants the queue drained waits for the
current drain; another thread leaves it to the drain under way.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, NamedTuple, TypeAlias

import gevent
import gevent.event
from gevent._hub_local import get_hub_if_exists
from gevent.monkey import get_original
from greenlet import getcurrent, greenlet

__all__ = ["Context", "Pending", "QueueSet", "SyncRunner", "current_context"]

logger = logging.getLogger("django_events")


class Context(NamedTuple):
    """What an event's producer attaches to one dispatch (model events: the save's changes).

    Handlers of that event can read it through ``current_context`` while they run. (A
    named tuple: one is made per model event, so it must be cheap to build.)
    """

    #: The database the event belongs to (a model event's ``using``), or None.
    database: str | None
    data: object


current_context: ContextVar[Context | None] = ContextVar("django_events_context", default=None)

#: One dispatched event: name, args, kwargs, then None (deliver to the immediate handlers)
#: or the database alias whose commit it waited for (deliver to those handlers), and the
#: producer's Context, if any.
Pending: TypeAlias = tuple[str, tuple[Any, ...], dict[str, Any], "str | None", "Context | None"]
#: Runs the events that ``pop`` hands out, in order, until it raises IndexError. Returns
#: the first handler error (the one passed in, if any) when ``may_raise`` and the raise
#: policy apply, after every event ran; the others are logged.
Deliver: TypeAlias = Callable[[Callable[[], Pending], bool, "Exception | None"], "Exception | None"]

# The real thread-local, lock and thread id, even under gevent's monkey-patching: queues
# belong to OS threads (whose greenlets share one hub), not to greenlets.
_ThreadLocal: type[Any] = get_original("_thread", "_local")
_allocate_lock = get_original("_thread", "allocate_lock")
_get_ident: Callable[[], int] = get_original("_thread", "get_ident")


class _ThreadQueue:
    __slots__ = (
        "drainer",
        "drainer_thread",
        "idle",
        "items",
        "lock",
        "orphaned",
        "stranded",
        "worker",
        "worker_hub",
    )

    def __init__(self) -> None:
        self.items: deque[Pending] = deque()
        self.worker: greenlet | None = None
        self.worker_hub: Any = None
        self.orphaned = False
        #: The thread ended while one of its greenlets was draining (a handler had yielded):
        #: that drain can never resume, so the next one takes the queue over.
        self.stranded = False
        self.lock = _allocate_lock()  # held by the one consumer
        self.drainer: greenlet | None = None
        self.drainer_thread = 0
        self.idle: gevent.event.Event | None = None  # set when a waited-for drain ends


class _Owner:
    """Lives in the owning thread's local storage: it dies with the thread."""


class QueueSet:
    """The per-thread queues of one dispatcher (gevent mode)."""

    def __init__(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self.local = _ThreadLocal()
        self._lock = _allocate_lock()
        self._queues: list[_ThreadQueue] = []

    def put(self, item: Pending) -> None:
        """Queue ``item`` in the calling thread's queue (EventDispatcher.dispatch inlines this)."""
        try:
            queue: _ThreadQueue = self.local.queue
        except AttributeError:
            queue = self.adopt()
        queue.items.append(item)
        if queue.worker is None or queue.worker_hub.loop is None:  # none yet, or its hub destroyed
            self.start_worker(queue)

    def pending(self) -> int:
        with self._lock:
            return sum(len(q.items) for q in self._queues)

    def drain(self, may_raise: bool) -> Exception | None:
        """Run the calling thread's pending events and those of threads that ended.

        Returns the first handler error when ``may_raise`` and the policy raise; every
        event is run first.
        """
        error = None
        queue = getattr(self.local, "queue", None)
        if queue is not None:
            error = self._drain(queue, may_raise, wait=True)
        with self._lock:
            orphans = [q for q in self._queues if q.orphaned]
        for orphan in orphans:
            found = self._drain(orphan, may_raise, wait=False)
            error = error or found
        if orphans:
            with self._lock:
                self._queues = [q for q in self._queues if q.items or not q.orphaned]
        return error

    def drain_all(self) -> None:
        """Run every thread's pending events here (interpreter exit); errors are logged.

        A drain under way in another greenlet of this thread (a handler that yielded) is
        waited for, and the hub finishes it: nothing is left at exit.
        """
        with self._lock:
            queues = list(self._queues)
        for queue in queues:
            self._drain(queue, may_raise=False, wait=True)

    def _drain(self, queue: _ThreadQueue, may_raise: bool, wait: bool) -> Exception | None:
        me = getcurrent()
        while not queue.lock.acquire(False):
            mine = queue.drainer_thread == _get_ident()
            if wait and mine and queue.drainer is not me:
                # Another greenlet of this thread is draining (its handler yielded): wait.
                if queue.idle is None:
                    queue.idle = gevent.event.Event()
                queue.idle.wait()
            elif queue.stranded and not mine and self._take_over(queue):
                break  # the holder's thread ended: the lock is this drain's now
            else:
                # A handler calling clear_queue(), or another thread's drain: that drain
                # runs the rest, in order.
                return None
        queue.drainer, queue.drainer_thread = me, _get_ident()
        try:
            return self._deliver(queue.items.popleft, may_raise, None)
        finally:
            queue.drainer, queue.drainer_thread, queue.stranded = None, 0, False
            queue.lock.release()
            idle, queue.idle = queue.idle, None
            if idle is not None:
                idle.set()

    def _take_over(self, queue: _ThreadQueue) -> bool:
        """Claim a stranded queue, whose holder can never run again; True for one caller only."""
        with self._lock:
            taken, queue.stranded = queue.stranded, False
        return taken

    def adopt(self) -> _ThreadQueue:
        queue = _ThreadQueue()
        owner = _Owner()
        self.local.queue = queue
        self.local.owner = owner
        weakref.finalize(owner, _orphan, queue)
        with self._lock:
            self._queues.append(queue)
        return queue

    def start_worker(self, queue: _ThreadQueue) -> None:
        hub = get_hub_if_exists()
        if hub is None:
            if threading.current_thread() is not threading.main_thread():
                # Creating a hub per thread would leak an event loop per thread (runserver
                # starts one per request). This queue is drained at the end of the
                # request, by clear_queue(), when the thread ends, or at exit.
                return
            hub = gevent.get_hub()
        queue.worker_hub = hub
        queue.worker = gevent.Greenlet.spawn(self._work, queue)

    def _work(self, queue: _ThreadQueue) -> None:
        # A worker is replaced only when its hub is gone, and then it never runs: so the
        # worker that finishes here is always queue.worker.
        try:
            self._drain(queue, may_raise=False, wait=False)
        finally:
            queue.worker = None


def _orphan(queue: _ThreadQueue) -> None:
    # Runs in the ending thread, as its local storage goes.
    queue.stranded = queue.drainer is not None and queue.drainer_thread == _get_ident()
    queue.orphaned = True


class SyncRunner:
    """Runs events inline; an event dispatched by a handler waits for the current event.

    That keeps the queue order of gevent mode (handlers of one event run before the
    events they dispatch) while the outermost ``dispatch`` returns only when all ran.
    """

    def __init__(self, deliver: Deliver) -> None:
        self._deliver = deliver
        #: The greenlets running handlers now, each with the events its handlers dispatched
        #: (None until there is one).
        self.frames: dict[greenlet, deque[Pending] | None] = {}

    def run(self, item: Pending) -> None:
        me = getcurrent()
        if me in self.frames:
            frame = self.frames[me]
            if frame is None:
                self.frames[me] = deque((item,))
            else:
                frame.append(item)
            return
        frame = self.frames[me] = deque((item,))
        try:
            error = self.finish(frame, None)
        finally:
            del self.frames[me]
        if error is not None:
            raise error

    def finish(self, frame: deque[Pending], error: Exception | None) -> Exception | None:
        """Run a frame's events in order; return the first error (RAISE_HANDLER_ERRORS)."""
        return self._deliver(frame.popleft, True, error)
