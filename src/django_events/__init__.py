"""Typed, regex-routed events for Django.

Modern API first, then the names of django-event-system 1.0.1, each an alias of a
modern one, so that a project migrates by changing ``from events import`` to
``from django_events import``.
"""

from __future__ import annotations

from ._bulk import (
    BulkCreated,
    BulkEvent,
    BulkEventsManager,
    BulkEventsQuerySet,
    BulkUpdated,
    QuerySetDeleted,
    QuerySetUpdated,
)
from ._decorators import off, on
from ._dispatcher import EventDispatcher, dispatcher
from ._events import Event, path_from_class
from ._legacy import (
    Dispatcher,
    EventListener,
    GetPathFromClass,
    Observer,
    RegisterSignalsFor,
    SignalToEvent,
    dispatch,
)
from ._model_events import Created, Creating, Deleted, Deleting, ModelEvent, Updated, Updating
from ._models import ModelObserver, changes, model_event_name, observe_model, observes
from ._options import HandlerOptions
from ._signals import signal_to_event
from .exceptions import InvalidPattern, PayloadError

__all__ = [
    # modern
    "BulkCreated",
    "BulkEvent",
    "BulkEventsManager",
    "BulkEventsQuerySet",
    "BulkUpdated",
    "Created",
    "Creating",
    "Deleted",
    "Deleting",
    "Event",
    "EventDispatcher",
    "HandlerOptions",
    "InvalidPattern",
    "ModelEvent",
    "ModelObserver",
    "PayloadError",
    "QuerySetDeleted",
    "QuerySetUpdated",
    "Updated",
    "Updating",
    "changes",
    "dispatcher",
    "model_event_name",
    "observe_model",
    "observes",
    "off",
    "on",
    "path_from_class",
    "signal_to_event",
    # legacy (django-event-system 1.0.1)
    "Dispatcher",
    "EventListener",
    "GetPathFromClass",
    "Observer",
    "RegisterSignalsFor",
    "SignalToEvent",
    "dispatch",
]
