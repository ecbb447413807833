"""How pending events reach their handlers: inline (sync) or through a gevent queue.

Each OS thread has its own queue. A thread never touches another thread's hub, so a
dispatch from any thread returns at once (the original package hung there). A thread's
queue is drained by a worker greenlet in that thread's hub when the hub gets control,
by ``clear_queue()``, at the end of a request and at interpreter exit. When a thread ends
with events still queued, its queue becomes an orphan that the next drain in any thread
(or interpreter exit) empties: no event is left behind.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, TypeAlias

import gevent
from gevent._hub_local import get_hub_if_exists
from gevent.monkey import get_original
from greenlet import getcurrent, greenlet

from ._routing import Registration

__all__ = ["Pending", "QueueSet", "SyncRunner"]

logger = logging.getLogger("django_events")

#: One dispatched event: name, args, kwargs and the registrations it resolved to.
Pending: TypeAlias = tuple[str, tuple[Any, ...], dict[str, Any], tuple[Registration, ...]]
Deliver: TypeAlias = Callable[[Pending], None]

# The real thread-local and lock, even under gevent's monkey-patching: queues belong to
# OS threads (whose greenlets share one hub), not to greenlets.
_ThreadLocal: type[Any] = get_original("_thread", "_local")
_allocate_lock = get_original("_thread", "allocate_lock")


class _ThreadQueue:
    __slots__ = ("items", "orphaned", "worker")

    def __init__(self) -> None:
        self.items: deque[Pending] = deque()
        self.worker: gevent.Greenlet[[_ThreadQueue], None] | None = None
        self.orphaned = False


class _Owner:
    """Lives in the owning thread's local storage: it dies with the thread."""


class QueueSet:
    """The per-thread queues of one dispatcher (gevent mode)."""

    def __init__(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._local = _ThreadLocal()
        self._lock = _allocate_lock()
        self._queues: list[_ThreadQueue] = []
        # Greenlets that are draining right now: a handler calling clear_queue() must not
        # drain re-entrantly (the rest of its event's handlers would run after later events).
        self._draining: set[greenlet] = set()

    def put(self, item: Pending) -> None:
        try:
            queue: _ThreadQueue = self._local.queue
        except AttributeError:
            queue = self._adopt()
        queue.items.append(item)
        if queue.worker is None:
            self._start_worker(queue)

    def pending(self) -> int:
        with self._lock:
            return sum(len(q.items) for q in self._queues)

    def drain(self) -> None:
        """Run the calling thread's pending events and those of threads that ended."""
        me = getcurrent()
        if me in self._draining:
            return
        self._draining.add(me)
        try:
            queue = getattr(self._local, "queue", None)
            if queue is not None:
                self._run(queue)
            self._drain_where(lambda q: q.orphaned)
        finally:
            self._draining.discard(me)

    def drain_all(self) -> None:
        """Run every thread's pending events here (interpreter exit)."""
        self._drain_where(lambda q: True)

    def _drain_where(self, select: Callable[[_ThreadQueue], bool]) -> None:
        with self._lock:
            chosen = [q for q in self._queues if select(q)]
        for queue in chosen:
            self._run(queue)
        with self._lock:
            self._queues = [q for q in self._queues if q.items or not q.orphaned]

    def _run(self, queue: _ThreadQueue) -> None:
        pop = queue.items.popleft
        while True:
            try:
                item = pop()
            except IndexError:  # empty: atomic, so no event is taken twice by two threads
                return
            self._deliver(item)

    def _adopt(self) -> _ThreadQueue:
        queue = _ThreadQueue()
        owner = _Owner()
        self._local.queue = queue
        self._local.owner = owner
        weakref.finalize(owner, _orphan, queue)
        with self._lock:
            self._queues.append(queue)
        return queue

    def _start_worker(self, queue: _ThreadQueue) -> None:
        if get_hub_if_exists() is None and threading.current_thread() is not threading.main_thread():
            # No hub in this thread: creating one per thread would leak an event loop per
            # thread (runserver starts a thread per request). Its queue is drained at the
            # end of the request, by clear_queue(), or when the thread ends.
            return
        queue.worker = gevent.Greenlet.spawn(self._work, queue)

    def _work(self, queue: _ThreadQueue) -> None:
        me = getcurrent()
        self._draining.add(me)
        try:
            self._run(queue)
        finally:
            self._draining.discard(me)
            queue.worker = None


def _orphan(queue: _ThreadQueue) -> None:
    queue.orphaned = True


class SyncRunner:
    """Runs events inline; an event dispatched by a handler waits for the current event.

    That keeps the queue order of gevent mode (handlers of one event run before the
    events they dispatch) while the outermost ``dispatch`` returns only when all ran.
    """

    def __init__(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._frames: dict[greenlet, deque[Pending]] = {}

    def run(self, item: Pending) -> None:
        me = getcurrent()
        frame = self._frames.get(me)
        if frame is not None:
            frame.append(item)
            return
        frame = self._frames[me] = deque((item,))
        error: Exception | None = None
        try:
            while frame:
                try:
                    self._deliver(frame.popleft())
                except Exception as exc:  # RAISE_HANDLER_ERRORS: finish the frame first
                    if error is not None:
                        logger.error("another handler error while raising %r", error, exc_info=exc)
                    else:
                        error = exc
        finally:
            del self._frames[me]
        if error is not None:
            raise error
