from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from django_events import dispatcher


def dispatch_event(request: HttpRequest, name: str) -> HttpResponse:
    """Dispatches ``name`` and responds before any handler had a chance to run."""
    dispatcher.dispatch(name, request.GET.get("value", ""))
    return HttpResponse(f"pending={dispatcher.pending()}")
