"""Views that dispatch one ``asgi::<view>`` event with the request id from the URL."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from django_events import dispatcher


async def async_dispatch(request: HttpRequest, rid: str) -> HttpResponse:
    """An async view that dispatches as sync code does (queued in gevent mode)."""
    dispatcher.dispatch("asgi::async-dispatch", rid)
    return HttpResponse(rid)


async def async_adispatch(request: HttpRequest, rid: str) -> HttpResponse:
    """An async view that awaits its handlers."""
    await dispatcher.adispatch("asgi::async-adispatch", rid)
    return HttpResponse(rid)


def sync_dispatch(request: HttpRequest, rid: str) -> HttpResponse:
    """A sync view (run in the request's thread for sync code under ASGI)."""
    dispatcher.dispatch("asgi::sync-dispatch", rid)
    return HttpResponse(rid)
