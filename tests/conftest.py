from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import coverage
import gevent
import pytest
from django.test import override_settings

from django_events import EventDispatcher, dispatcher

#: The project's root (pyproject.toml).
ROOT = Path(__file__).resolve().parent.parent


def measured() -> list[str]:
    """``-m coverage run`` when this test run is measured: a subprocess's code counts too."""
    run = ["-m", "coverage", "run", "--rcfile", str(ROOT / "pyproject.toml")]
    return run if coverage.Coverage.current() is not None else []


class Recorder:
    """A handler that remembers every call it gets."""

    def __init__(self, label: str = "recorder") -> None:
        self.label = label
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append((*args, kwargs) if kwargs else args)


def finish_drains(timeout: float = 5) -> None:
    """Give the hub turns until no greenlet of this thread is draining its gevent queue, then
    drain what is left: ``clear_queue()`` never waits for a drain under way elsewhere (a
    handler that yielded), since that drain may be waiting for the caller."""
    from django_events.delivery import gevent as delivery

    queue = getattr(delivery._local, "queue", None)
    with gevent.Timeout(timeout):
        while queue is not None and queue.lock.locked():
            gevent.sleep(0.001)
    dispatcher.clear_queue()


@pytest.fixture(autouse=True)
def isolated_default_dispatcher() -> Iterator[EventDispatcher]:
    """Every test leaves the default dispatcher's registry and queue as it found them."""
    with dispatcher.isolate():
        yield dispatcher
        finish_drains()
    assert dispatcher.pending() == 0


@pytest.fixture
def sync_mode() -> Iterator[None]:
    """The default dispatcher in sync mode: handlers run inside dispatch() and save()."""
    with override_settings(DJANGO_EVENTS={"MODE": "sync"}):
        yield


@pytest.fixture
def sync() -> EventDispatcher:
    return EventDispatcher(mode="sync")


@pytest.fixture
def queued() -> Iterator[EventDispatcher]:
    d = EventDispatcher(mode="gevent")
    yield d
    finish_drains()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
