"""Regressions of async code: sync code that async views run, ASGI requests, cancelled
async handlers, queued handlers and ensure_queue_is_cleared from async code. Each docstring
describes the defect as it was found (in the present tense of that moment: what a user
saw, why, and what README.md promises); each test asserts the behaviour since its fix.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from typing import Any

import gevent
import pytest
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, override_settings
from django.urls import path

from django_events import Event, EventDispatcher, dispatcher, observes
from tests.test_async import _asgi_get
from tests.testapp.models import Customer

HANDLED: list[tuple[str, tuple[Any, ...]]] = []


def record(name: str, *args: Any) -> None:
    HANDLED.append((name, args))


# -- views of this module's URLconf ---------------------------------------------------------


def sync_view(request: HttpRequest, name: str) -> HttpResponse:
    """A plain sync view (Django runs it in its thread for sync code under ASGI)."""
    dispatcher.dispatch(name, "v")
    return HttpResponse("ok")


async def async_view_saving_through_sync_to_async(request: HttpRequest, name: str) -> HttpResponse:
    """The usual async view: the ORM work, and its event, in a function run by sync_to_async."""

    def create_and_dispatch() -> None:
        dispatcher.dispatch(name, "v")

    await sync_to_async(create_and_dispatch)()
    return HttpResponse("ok")


async def async_view_offloading(request: HttpRequest, name: str) -> HttpResponse:
    """An async view that runs blocking non-ORM code in a thread pool, as asgiref's docs
    suggest for code that is not thread-sensitive."""

    def blocking_work() -> None:
        dispatcher.dispatch(name, "v")

    await sync_to_async(blocking_work, thread_sensitive=False)()
    return HttpResponse("ok")


class InvoiceRequested(Event):
    order_id: int


def email_invoice(event: InvoiceRequested) -> None:
    """A queued handler (module level: a worker finds it by dotted path)."""


async def async_view_dispatching_to_a_queued_handler(request: HttpRequest, name: str) -> HttpResponse:
    InvoiceRequested(order_id=1).dispatch()
    return HttpResponse("ok")


urlpatterns = [
    path("sync/<str:name>/", sync_view),
    path("async-sync-to-async/<str:name>/", async_view_saving_through_sync_to_async),
    path("offload/<str:name>/", async_view_offloading),
    path("queued/<str:name>/", async_view_dispatching_to_a_queued_handler),
]


def _run_leftovers() -> None:
    """Events a failing test left in another thread's queue: run them here, so that they do
    not spill into the next test (the conftest counts every thread's pending events)."""
    from django_events.delivery.gevent import drain_at_exit

    drain_at_exit()


@pytest.fixture
def gevent_site() -> Iterator[None]:
    """The default dispatcher in gevent mode (the default), with this module's views."""
    HANDLED.clear()
    with override_settings(DJANGO_EVENTS={"MODE": "gevent"}, ROOT_URLCONF=__name__):
        yield
    _run_leftovers()


# -- sync code under AsyncClient -----------------------------------------------------------


@pytest.mark.parametrize("view", ["sync", "async-sync-to-async"])
def test_async_client_runs_the_events_of_sync_code_by_the_end_of_the_request(
    gevent_site: None, view: str
) -> None:
    """Under Django's AsyncClient, in gevent mode, an event dispatched by a sync view (or by
    the sync_to_async function an async view does its ORM work in) is not handled by the
    end of the request: the handler never ran, and the event stays pending until some
    later drain of that thread, or exit.

    README, "Async handlers and ASGI": under an ASGI server "or Django's AsyncClient",
    "every event of a request is handled exactly once by the end of that request ... Sync
    views under ASGI already run in that thread, and their events are drained at the same
    moment". AsyncClient sends request_finished from
    ``sync_to_async(response.close, thread_sensitive=False)``, another thread than the one
    the sync code ran in; ``gevent.drain`` only runs the caller's thread queue and the
    task's request queue (``_own()``), so the events in the sync thread's queue are missed.
    """
    dispatcher.register("ev::.*", record)

    async def request() -> tuple[int, list[tuple[str, tuple[Any, ...]]]]:
        response = await AsyncClient().get(f"/{view}/ev::paid/")
        return response.status_code, list(HANDLED)

    status, handled_by_then = asyncio.run(request())
    assert status == 200
    assert handled_by_then == [("ev::paid", ("v",))], f"pending after the request: {dispatcher.pending()}"


# -- pool threads during an ASGI request ---------------------------------------------------


def test_events_dispatched_in_a_thread_pool_during_an_asgi_request_run_by_its_end(gevent_site: None) -> None:
    """Through Django's own ASGIHandler (what uvicorn calls), an async view that runs a
    function with ``sync_to_async(..., thread_sensitive=False)`` (or ``asyncio.to_thread``)
    that dispatches: in gevent mode the event is not handled by the end of the request,
    nor by any later request; it waits in the pool thread's queue until exit.

    README: "every event of a request is handled exactly once by the end of that request".
    The pool thread carries the request's context (its ThreadSensitiveContext), but
    ``delivery/gevent.py`` ``send``/``_wake`` route an event to its request's queue only
    when the dispatching thread runs an event loop; in a pool thread it stays in that
    thread's own queue (no hub there: ``_wake`` returns), which the request end, run in
    the request's sync thread, never drains.
    """
    dispatcher.register("ev::.*", record)
    handler = ASGIHandler()

    async def serve() -> list[tuple[str, tuple[Any, ...]]]:
        await _asgi_get(handler, "/offload/ev::first/")
        await _asgi_get(handler, "/sync/ev::second/")  # a later request: still not run
        return list(HANDLED)

    handled_by_then = asyncio.run(serve())
    assert ("ev::first", ("v",)) in handled_by_then, f"pending after the requests: {dispatcher.pending()}"


async def notify_cancelled_under_it(name: str) -> None:
    """An async handler whose request (a task it awaits) is cancelled under it."""
    request = asyncio.ensure_future(asyncio.sleep(10))
    request.cancel()
    await request


# -- a cancelled async handler -------------------------------------------------------------


def test_an_async_handler_raising_cancelled_error_stops_neither_the_event_nor_the_worker() -> None:
    """gevent mode: an ``async def`` handler whose awaited task was cancelled (an HTTP
    client's request cancelled under it) raises ``asyncio.CancelledError``. The worker
    greenlet dies with it (the hub prints "failed with CancelledError", nothing on the
    django_events logger), the event's other handlers never run and never will (the event
    left the queue), and the next event waits until some later dispatch makes a new worker.

    README, "Error policy": "A handler that raises never stops the other handlers of that
    event, nor the worker greenlet, nor later events ... Nothing stalls behind a failing
    handler", and only KeyboardInterrupt and SystemExit are never caught. The cause was:
    ``_running.run`` caught ``Exception`` only, and ``CancelledError`` is a
    ``BaseException`` (the handler ran in a loop of its own, through ``async_to_sync``: no
    caller was cancelled); it is now that handler's failure, a ``RuntimeError``.
    """
    d = EventDispatcher(mode="gevent")
    seen: list[str] = []

    d.register("shop::paid", notify_cancelled_under_it)
    d.register("shop::paid", lambda name: seen.append("receipt for paid"))
    d.register("shop::shipped", lambda name: seen.append("shipped"))
    d.dispatch("shop::paid")
    d.dispatch("shop::shipped")
    gevent.sleep(0)  # the hub's turn: the worker runs the queue
    gevent.sleep(0.01)
    assert (seen, d.pending()) == (["receipt for paid", "shipped"], 0)


# -- queued handlers from async code -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_dispatch_in_an_async_view_with_a_queued_handler(gevent_site: None) -> None:
    """gevent mode, an async view calling ``InvoiceRequested(...).dispatch()`` while a
    ``queue=True`` handler listens: the request fails with ``SynchronousOnlyOperation: You
    cannot call this from an async context``, because the task row is inserted right
    there, in the event loop's thread.

    README's table "dispatch() and async handlers": from async code in gevent mode "the
    event waits in its request's own queue and runs at the end of that request, in
    Django's sync thread"; handlers may be async or queued; ``adispatch`` hands queued
    handlers over "from that thread". ``dispatch()`` hands the task group to
    ``delivery/tasks.py`` ``TaskDelivery.send`` -> ``tasks.enqueue`` in the caller's thread
    whatever the thread, so an ORM-backed task backend refuses it in async code.
    """
    dispatcher.register(InvoiceRequested, email_invoice, queue=True)

    async def request() -> int:
        response = await AsyncClient().get("/queued/x/")
        return response.status_code

    assert asyncio.run(request()) == 200


# -- ensure_queue_is_cleared on async code -------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_ensure_queue_is_cleared_on_an_async_function_runs_orm_handlers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """gevent mode: an async background job decorated with
    ``@dispatcher.ensure_queue_is_cleared`` (as README advises for work outside a request)
    dispatches an event whose handler writes a row. The handler fails with
    ``SynchronousOnlyOperation`` (logged on django_events) and the row is never written:
    the decorator drains in the event loop's thread, running sync handlers there (and
    blocking the loop meanwhile).

    README: ``ensure_queue_is_cleared(func)``: "run func (sync or async), then
    clear_queue()"; in gevent mode the events of async code run "in Django's sync thread",
    where the ORM works, as ``await adispatch()`` runs sync handlers through
    ``sync_to_async``. The cause was: ``ensure_queue_is_cleared``'s ``async_wrapper``
    called ``self.clear_queue()`` directly instead of awaiting it in Django's sync thread.
    """

    def create_customer(name: str, value: str) -> None:
        Customer.objects.create(name=value)

    dispatcher.register("job::.*", create_customer)

    @dispatcher.ensure_queue_is_cleared
    async def nightly_job() -> None:
        dispatcher.dispatch("job::done", "from the job")

    with override_settings(DJANGO_EVENTS={"MODE": "gevent"}):
        asyncio.run(nightly_job())
    assert "SynchronousOnlyOperation" not in caplog.text
    assert Customer.objects.filter(name="from the job").exists()


def test_adispatch_runs_what_its_sync_handlers_queued_in_a_sync_thread_with_a_hub() -> None:
    """A sync handler that made a gevent hub in Django's sync thread (some library did):
    what it dispatches in gevent mode waits for that hub's worker, which never gets a turn
    there; adispatch runs it before it returns all the same."""
    d = EventDispatcher(mode="gevent")
    seen: list[str] = []

    def with_a_hub(name: str) -> None:
        gevent.get_hub()
        d.dispatch("nested")

    d.register("outer", with_a_hub)
    d.register("nested", lambda name: seen.append(name))
    asyncio.run(d.adispatch("outer"))
    assert (seen, d.pending()) == (["nested"], 0)


@pytest.mark.skipif(
    sys.version_info < (3, 11), reason="Python 3.10 cannot tell a task's own cancellation apart (README)"
)
def test_adispatch_counts_an_async_handlers_own_cancelled_error_as_its_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A task the handler awaited was cancelled, not the caller's: the next handler runs,
    and the failure is logged as the handler's."""
    d = EventDispatcher(mode="sync")
    seen: list[str] = []

    d.register("shop::paid", notify_cancelled_under_it)
    d.register("shop::paid", lambda name: seen.append("receipt"))
    asyncio.run(d.adispatch("shop::paid"))
    assert seen == ["receipt"]
    assert "was cancelled" in caplog.text


def test_adispatch_cancelled_from_outside_is_cancelled() -> None:
    """The caller's own task cancelled while an async handler awaits: adispatch does not
    swallow it (the handlers after it do not run)."""
    d = EventDispatcher(mode="sync")
    seen: list[str] = []
    started = asyncio.Event()

    async def slow(name: str) -> None:
        started.set()
        await asyncio.sleep(10)

    d.register("shop::paid", slow)
    d.register("shop::paid", lambda name: seen.append("after"))

    async def main() -> None:
        task = asyncio.ensure_future(d.adispatch("shop::paid"))
        await started.wait()
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(main())
    assert seen == []


@pytest.mark.django_db(transaction=True)
def test_a_save_in_an_adispatch_sync_handler_runs_its_gevent_mode_handlers_at_the_save() -> None:
    """adispatch holds what its sync handlers dispatch in gevent mode; a model save among
    them still runs its handlers before ``save()`` returns, as in any thread without a hub."""
    d = EventDispatcher(mode="gevent")
    seen: list[str] = []

    @observes(Customer, dispatcher=d)
    class Customers:
        def creating(self, instance: Customer) -> None:
            instance.name = instance.name.upper()

    def save(name: str) -> None:
        d.dispatch("before")  # held until the save, which runs it first
        customer = Customer.objects.create(name="ada")
        seen.append(customer.name)

    d.register("signup", save)
    d.register("before", lambda name: seen.append(name))
    asyncio.run(d.adispatch("signup"))
    assert seen == ["before", "ADA"]
    assert Customer.objects.get().name == "ADA"
