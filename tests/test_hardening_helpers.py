"""Regressions of the checks, the decorators on async views and the testing helpers, found
by using them as users do. Each docstring describes the defect as it was found (in the
present tense of that moment); each test asserts the behaviour since its fix.
"""

from __future__ import annotations

import asyncio

from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.views import View

from django_events import Event, EventDispatcher, dispatcher, on
from django_events.checks import check_costly_patterns
from django_events.testing import capture_events

# -- manage.py check: W001 misses a wildcard inside an unbounded repeat ----------------------


def test_w001_warns_about_a_wildcard_repeated_without_bound() -> None:
    """A user registers ``@on("events::(?:.*::)+updated")`` ("any number of parts, then
    updated"). Matching it is exponential in the number of ``::`` parts of a name that does
    not end in ``updated``: on this machine about 0.15 s for 22 parts, doubling every part
    or two, so a 40-part name (120 characters, which users can choose) takes hours. Yet
    ``manage.py check`` says nothing, while it warns about the far cheaper
    ``events::.*::.*::updated``.

    README, Settings: W001 is "a pattern has two or more unbounded wildcards ... matching a
    name costs time in the square of its length ..., and event names can come from users".
    A ``.*`` inside a ``+`` / ``*`` repeat is that many unbounded wildcards on one path.

    The cause was: ``checks._wildcards`` counted the body of an unbounded repeat once
    instead of as two or more when the body holds a wildcard; ``events::(.*::)*updated``
    was missed the same way, and ``[\\s\\S]*`` or ``(.)*`` were not counted at all.
    """
    d = EventDispatcher(mode="sync")

    def audit_repeated(name: str) -> None: ...

    d.register("events::(?:.*::)+updated", audit_repeated)
    messages = [m for m in check_costly_patterns() if "audit_repeated" in m.msg]
    assert [m.id for m in messages] == ["django_events.W001"]


# -- ensure_queue_is_cleared on an async class-based view (Python 3.10 / 3.11) ---------------


class _PingView(View):
    async def get(self, request: HttpRequest) -> HttpResponse:
        dispatcher.dispatch("helpers::view::ping")
        return HttpResponse("ok")


def test_ensure_queue_is_cleared_runs_after_an_async_class_based_view() -> None:
    """``dispatcher.ensure_queue_is_cleared(SomeAsyncView.as_view())`` (or
    ``Dispatcher.EnsureQueueIsCleared``): the README says the decorator runs ``func`` (sync or
    ``async``), then ``clear_queue()``, for an async one in Django's thread for sync code.

    What a user sees on Python 3.10 and 3.11 (supported, README: Install): ``as_view()`` of
    an async view is a plain function that Django marks as a coroutine function
    (``asgiref.sync.markcoroutinefunction``). ``inspect.iscoroutinefunction`` does not see the
    mark before 3.12, so the sync wrapper is used: it calls the view (which only builds a
    coroutine), runs ``clear_queue()`` at once, before the view's body ran, and returns the
    coroutine. Django awaits it (``functools.wraps`` copied the mark), the view dispatches,
    and its event is left queued when the request returns: the handler has not run.
    A plain ``async def`` view works.

    The cause was: ``ensure_queue_is_cleared`` (and ``mocks_dispatch``) used
    ``inspect.iscoroutinefunction``, which before Python 3.12 does not see asgiref's
    ``markcoroutinefunction`` that Django puts on ``as_view()``; they use asgiref's now.
    """
    got: list[str] = []
    on("helpers::view::ping")(got.append)
    wrapped = dispatcher.ensure_queue_is_cleared(_PingView.as_view())
    response: HttpResponse = asyncio.run(wrapped(RequestFactory().get("/")))  # type: ignore[arg-type]
    assert response.status_code == 200
    ran_by_then, pending = list(got), dispatcher.pending()
    dispatcher.clear_queue()  # leave nothing behind for the next test
    assert (ran_by_then, pending) == (["helpers::view::ping"], 0)


# -- a testing helper's sync mode overtakes events already queued ----------------------------


class QueuedInOrder(Event):
    step: int


def test_events_queued_before_a_capture_are_not_overtaken_by_those_inside_it() -> None:
    """A test in gevent mode (the default) dispatches an event, then opens
    ``capture_events()`` (or ``fake_events()``, the pytest fixtures started later, an
    ``override_settings(DJANGO_EVENTS={"MODE": "sync"})`` block) and dispatches a second one.
    The second event's handlers run at once, inside the block; the first one's still wait in
    the thread's queue and run afterwards (at the next hub turn or ``clear_queue()``), so
    the handlers see the events in reverse order: a handler of the second event that relies
    on what the first one's did finds nothing.

    README, Order: "Events from one thread are handled in dispatch order." README, Testing:
    every helper switches the dispatcher to sync mode while it is active. Switching modes
    does not first run what the old mode had queued.

    The cause was: ``EventDispatcher.settle`` swapped the delivery to inline without
    first running what the thread's gevent queue held; it now runs it first.
    """
    seen: list[int] = []
    on(QueuedInOrder)(lambda event: seen.append(event.step))
    QueuedInOrder(1).dispatch()  # gevent mode: queued
    with capture_events():
        QueuedInOrder(2).dispatch()
    dispatcher.clear_queue()
    assert seen == [1, 2]
