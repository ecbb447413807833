"""Handlers of the ``gs::`` events and the observer of Thing, autodiscovered at start-up.

Each appends ``handler<TAB>key`` to the file named by ``DJANGO_EVENTS_GSERVER_LOG`` once
per event it handles (opened, written and closed each time: one write per line).
"""

from __future__ import annotations

import os
import socket
import time

import gevent

from django_events import Event, ModelObserver, observes, on

from . import read_line
from .models import Thing, make


def record(handler: str, key: str) -> None:
    fd = os.open(os.environ["DJANGO_EVENTS_GSERVER_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{handler}\t{key}\n".encode())
    finally:
        os.close(fd)


class Pinged(Event):
    key: str


@on(Pinged)
def pinged(event: Pinged) -> None:
    record("pinged", event.key)


@on(r"gs::plain")
def plain(name: str, key: str) -> None:
    record("plain", key)


@on(r"gs::plain")
def plain_second(name: str, key: str) -> None:
    record("plain-second", key)


@on(r"gs::legacy")
def legacy(name: str, key: str) -> None:
    record("legacy", key)


@on(r"gs::sleep")
def sleeps(name: str, key: str, seconds: float) -> None:
    """I/O: yields to the hub for ``seconds``."""
    record("sleep-start", key)
    gevent.sleep(seconds)
    record("sleep", key)


@on(r"gs::sleep")
def after_sleep(name: str, key: str, seconds: float) -> None:
    record("after-sleep", key)


@on(r"gs::spin")
def spins(name: str, key: str, seconds: float) -> None:
    """Busy in Python code for ``seconds`` (no yield)."""
    record("spin-start", key)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    record("spin", key)


@on(r"gs::spin")
def after_spin(name: str, key: str, seconds: float) -> None:
    record("after-spin", key)


@on(r"gs::socket")
def talks(name: str, key: str, port: int) -> None:
    """I/O on a (monkey-patched) socket to the echo server of serve.py."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(key.encode() + b"\n")
        answer = read_line(sock)
    record("socket", answer.decode().strip())


@on(r"gs::fanout")
def fans_out(name: str, key: str, n: int) -> None:
    """Greenlets that save observed models, joined."""
    greenlets = [gevent.spawn(make, f"{key}-{i}") for i in range(n)]
    gevent.joinall(greenlets, raise_error=True)
    record("fanout", key)


@on(r"gs::fail")
def fails(name: str, key: str) -> None:
    record("fail", key)
    raise RuntimeError(f"handler failed for {key}")


@on(r"gs::fail")
def after_fail(name: str, key: str) -> None:
    record("after-fail", key)


@on(r"gs::many")
def many(name: str, key: str) -> None:
    record("many", key)


@on(r"gs::startup")
def startup(name: str, key: str) -> None:
    record("startup", key)


@observes(Thing)
class ThingObserver(ModelObserver[Thing]):
    def created(self, instance: Thing) -> None:
        record("created", instance.key)

    def updated(self, instance: Thing) -> None:
        record("updated", instance.key)
