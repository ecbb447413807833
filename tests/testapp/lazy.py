"""A module whose ``__getattr__`` leaves a trace: decoding a payload must never call it.

tests/testapp/queued.py imports it, so it is in the worker's ``sys.modules`` (as
``concurrent.futures`` and ``gevent.monkey`` are in any worker: their ``__getattr__``
imported modules when a payload named them).
"""

from __future__ import annotations


def __getattr__(name: str) -> object:  # pragma: no cover - only when a test fails
    from tests.testapp.models import HandlerRun

    HandlerRun.objects.create(handler="lazy.__getattr__", event=name)
    raise AttributeError(name)
