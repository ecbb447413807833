"""Views: ``/<view>/<key>/?...``, each a way of dispatching with the request's ``key``."""

from __future__ import annotations

import time

import gevent
from django.http import HttpRequest, HttpResponse

from django_events import Dispatcher, dispatcher

from .handlers import Pinged
from .models import make


def route(request: HttpRequest, view: str, key: str) -> HttpResponse:
    started = time.monotonic()
    body = VIEWS[view](request, key) or ""
    return HttpResponse(f"{body}\t{time.monotonic() - started:.3f}")


def plain(request: HttpRequest, key: str) -> None:
    dispatcher.dispatch("gs::plain", key)


def slow(request: HttpRequest, key: str) -> None:
    """Some I/O (the client may be gone meanwhile), then a dispatch and a save."""
    gevent.sleep(float(request.GET.get("s", "0.3")))
    dispatcher.dispatch("gs::plain", key)
    make(key)


def event(request: HttpRequest, key: str) -> None:
    Pinged(key=key).dispatch()


def legacy(request: HttpRequest, key: str) -> None:
    Dispatcher.Dispatch("gs::legacy", key)
    Pinged.Dispatch(key=f"{key}-legacy")


def save(request: HttpRequest, key: str) -> None:
    thing = make(key)
    thing.save()


def spawn_saves(request: HttpRequest, key: str) -> None:
    n = int(request.GET.get("n", "5"))
    gevent.joinall([gevent.spawn(make, f"{key}-{i}") for i in range(n)], raise_error=True)


def sleep(request: HttpRequest, key: str) -> None:
    dispatcher.dispatch("gs::sleep", key, float(request.GET.get("s", "0.2")))
    if "io" in request.GET:  # more I/O in the view after the dispatch: the worker starts on it
        gevent.sleep(float(request.GET["io"]))


def spin(request: HttpRequest, key: str) -> None:
    dispatcher.dispatch("gs::spin", key, float(request.GET.get("s", "1")))


def sock(request: HttpRequest, key: str) -> None:
    dispatcher.dispatch("gs::socket", key, int(request.GET["port"]))


def fanout(request: HttpRequest, key: str) -> None:
    dispatcher.dispatch("gs::fanout", key, int(request.GET.get("n", "5")))


def fail(request: HttpRequest, key: str) -> None:
    dispatcher.dispatch("gs::fail", key)


def many(request: HttpRequest, key: str) -> None:
    for i in range(int(request.GET.get("n", "1000"))):
        dispatcher.dispatch("gs::many", f"{key}-{i}")


@dispatcher.ensure_queue_is_cleared
def ensure(request: HttpRequest, key: str) -> None:
    dispatcher.dispatch("gs::plain", key)


def clear(request: HttpRequest, key: str) -> str:
    dispatcher.dispatch("gs::plain", key)
    dispatcher.clear_queue()
    return "cleared"


def timeout(request: HttpRequest, key: str) -> str:
    """The request's work under a gevent.Timeout that cuts a slow handler's drain short."""
    dispatcher.dispatch("gs::sleep", key, float(request.GET.get("s", "0.5")))
    try:
        with gevent.Timeout(float(request.GET.get("t", "0.05"))):
            dispatcher.clear_queue()
    except gevent.Timeout:
        return "timed out"
    return "not timed out"


def pending(request: HttpRequest, key: str) -> str:
    return str(dispatcher.pending())


VIEWS = {
    "plain": plain,
    "slow": slow,
    "event": event,
    "legacy": legacy,
    "save": save,
    "spawn-saves": spawn_saves,
    "sleep": sleep,
    "socket": sock,
    "spin": spin,
    "fanout": fanout,
    "fail": fail,
    "many": many,
    "ensure": ensure,
    "clear": clear,
    "timeout": timeout,
    "pending": pending,
}
