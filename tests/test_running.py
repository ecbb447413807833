"""``run``: the one function that calls handlers (django_events._running)."""

from __future__ import annotations

import pytest

from django_events import EventDispatcher
from django_events._running import Context, current_context


class Stop(BaseException):
    """Not an Exception: a handler raising it stops everything, as KeyboardInterrupt does."""


def test_a_base_exception_leaves_no_context_behind(sync: EventDispatcher) -> None:
    seen: list[object] = []
    the_save = Context("default")

    def handler(name: str, instance: object) -> None:
        seen.append(current_context.get())
        raise Stop

    sync.register("saved", handler)
    with pytest.raises(Stop):
        sync.dispatch_with_context("saved", ("instance",), lambda: the_save, ())
    assert seen == [the_save]
    assert current_context.get() is None  # reset on the way out
    sync.unregister("saved", handler)
    sync.register("saved", lambda name, instance: seen.append(name))
    sync.dispatch("saved", "again")
    assert seen[-1] == "saved"
