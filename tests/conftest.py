from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import coverage
import pytest

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


@pytest.fixture(autouse=True)
def isolated_default_dispatcher() -> Iterator[EventDispatcher]:
    """Every test leaves the default dispatcher's registry and queue as it found them."""
    with dispatcher.isolate():
        yield dispatcher
        dispatcher.clear_queue()
    assert dispatcher.pending() == 0


@pytest.fixture
def sync() -> EventDispatcher:
    return EventDispatcher(mode="sync")


@pytest.fixture
def queued() -> Iterator[EventDispatcher]:
    d = EventDispatcher(mode="gevent")
    yield d
    d.clear_queue()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()
