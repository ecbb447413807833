"""``run``: the one function that calls handlers (django_events._running)."""

from __future__ import annotations

import pytest

from django_events import EventDispatcher
from django_events._running import current_context


class Stop(BaseException):
    """Not an Exception: a handler raising it stops everything, as KeyboardInterrupt does."""


def test_a_base_exception_leaves_no_context_and_no_frame_behind(sync: EventDispatcher) -> None:
    from greenlet import getcurrent

    from django_events._running import _frames

    seen: list[object] = []

    def handler(name: str, instance: object) -> None:
        seen.append(current_context.get())
        raise Stop

    sync.register("saved", handler)
    with pytest.raises(Stop):
        sync.dispatch_with_context("saved", ("instance",), "default", lambda: "the save")
    assert [getattr(context, "data", None) for context in seen] == ["the save"]
    assert current_context.get() is None  # reset on the way out
    assert getcurrent() not in _frames  # this greenlet no longer counts as running handlers
    sync.unregister("saved", handler)
    sync.register("saved", lambda name, instance: seen.append(name))
    sync.dispatch("saved", "again")  # runs inline again, not queued behind a dead frame
    assert seen[-1] == "saved"
