from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from django_events import dispatcher


def dispatch_event(request: HttpRequest, name: str) -> HttpResponse:
    """Dispatches ``name`` and responds before any handler had a chance to run."""
    dispatcher.dispatch(name, request.GET.get("value", ""))
    return HttpResponse(f"pending={dispatcher.pending()}")


async def dispatch_event_async(request: HttpRequest, name: str) -> HttpResponse:
    """An async view that dispatches with the sync API (as code written for WSGI does)."""
    dispatcher.dispatch(name, request.GET.get("value", ""))
    return HttpResponse(f"pending={dispatcher.pending()}")


async def adispatch_event(request: HttpRequest, name: str) -> HttpResponse:
    """An async view that awaits the handlers."""
    await dispatcher.adispatch(name, request.GET.get("value", ""))
    return HttpResponse(f"pending={dispatcher.pending()}")
