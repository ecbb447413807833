"""``django_events.events``: the import path of django-event-system 1.0.1's ``events.events``.

``from events.events import Dispatcher, Event`` becomes
``from django_events.events import Dispatcher, Event``; the names are the package's own.
"""

from __future__ import annotations

from .._events import Event
from .._legacy import Dispatcher, EventListener, Observer
from .utils import GetPathFromClass, RegisterSignalsFor, SignalToEvent, dispatch, events

__all__ = [
    "Dispatcher",
    "Event",
    "EventListener",
    "GetPathFromClass",
    "Observer",
    "RegisterSignalsFor",
    "SignalToEvent",
    "dispatch",
    "events",
]
