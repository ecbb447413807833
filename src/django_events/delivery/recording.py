"""What the testing helpers install: every dispatch is shown to the recorders first.

A recorder gets ``(name, args, kwargs)`` and returns True to keep the event from its
handlers (``fake_events``). Installed, it wraps the dispatcher's mode (``send``); the
dispatcher also asks ``kept`` before sending a route with after-commit or queued handlers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .._running import Context, Step
from . import MODE_RANK, SendingDelivery, Sink

__all__ = ["Recorder", "RecordingDelivery", "kept"]

#: Sees a dispatch (name, args, kwargs) before it is delivered; True keeps it from handlers.
Recorder = Callable[[str, tuple[Any, ...], dict[str, Any]], bool]


def kept(recorders: Sequence[Recorder], name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Show the dispatch to every recorder; True when one of them keeps it from handlers."""
    keep = False
    for recorder in list(recorders):
        keep = recorder(name, args, kwargs) or keep
    return keep


class RecordingDelivery:
    """The mode ``inner``, behind the recorders."""

    rank = MODE_RANK

    def __init__(self, recorders: Sequence[Recorder], inner: SendingDelivery) -> None:
        self.recorders = recorders
        self.inner = inner

    def send(
        self,
        sink: Sink,
        steps: Sequence[Step] | None,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        context: Context | None,
    ) -> Exception | None:
        if kept(self.recorders, name, args, kwargs):
            return None
        return self.inner.send(sink, steps, name, args, kwargs, context)

    def check_handler(self, handler: Callable[..., object], label: str) -> None:
        """Any callable the mode takes (a mode takes any)."""
