"""Exceptions raised by django_events."""

from __future__ import annotations

__all__ = ["InvalidPattern"]


class InvalidPattern(ValueError):
    """An event pattern is not a valid regular expression (raised at registration)."""

    def __init__(self, pattern: str, reason: str) -> None:
        super().__init__(f"invalid event pattern {pattern!r}: {reason}")
        self.pattern = pattern
        self.reason = reason
