from __future__ import annotations

from django.db import models


class Thing(models.Model):
    """Observed by tests/gevent_server/handlers.py: each save records its key."""

    key = models.CharField(max_length=100)


def make(key: str) -> Thing:
    """Save a new Thing (an INSERT: its observer's ``created``)."""
    thing = Thing(key=key)
    thing.save()
    return thing
