"""Exceptions raised by django_events."""

from __future__ import annotations

import re
from typing import TypeGuard

__all__ = ["InvalidPattern", "MissingInstance", "PayloadError", "RefusedTask"]


class InvalidPattern(re.error, ValueError):
    """An event pattern is not a valid regular expression (raised at registration; a
    ``re.error``, as the original raised, and a ``ValueError``)."""

    def __init__(self, pattern: str, reason: str) -> None:
        super().__init__(f"invalid event pattern {pattern!r}: {reason}")
        self.pattern = pattern
        self.reason = reason


class PayloadError(TypeError):
    """A value dispatched to a queued handler has no JSON form (raised at dispatch)."""


class MissingInstance(LookupError):
    """A queued event names a model instance whose row is gone (raised in the worker)."""


class RefusedTask(LookupError):
    """A task names a handler that this worker process did not register as queued."""


def describe(value: object) -> str:
    """``'x' (str)``: a value and its type, for error messages."""
    return f"{value!r} ({type(value).__name__})"


def is_whole(value: object) -> TypeGuard[int]:
    """An int, and not a bool (``True`` is an int to Python, never a count to a user)."""
    return isinstance(value, int) and not isinstance(value, bool)
