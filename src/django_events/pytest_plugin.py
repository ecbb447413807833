"""pytest plugin (entry point ``pytest11``): the ``events`` and ``fake_events`` fixtures.

Works with pytest-django and without it: nothing here needs Django settings.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._dispatcher import dispatcher
from .testing import Capture, capture_events
from .testing import fake_events as _fake_events

__all__ = ["events", "fake_events"]


@pytest.fixture
def events() -> Iterator[Capture]:
    """Records every event of the default dispatcher (sync mode); handlers still run.

    Handlers the test registers are removed afterwards, and the mode is restored.
    """
    with dispatcher.isolate(), capture_events() as capture:
        yield capture


@pytest.fixture
def fake_events() -> Iterator[Capture]:
    """Records every event of the default dispatcher and keeps it from its handlers."""
    with dispatcher.isolate(), _fake_events() as capture:
        yield capture
