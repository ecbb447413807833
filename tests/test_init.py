from __future__ import annotations

import django_events

DOCUMENTED = {
    # modern
    "Event",
    "EventDispatcher",
    "HandlerOptions",
    "InvalidPattern",
    "PayloadError",
    "dispatcher",
    "off",
    "on",
    "path_from_class",
    "ModelObserver",
    "ModelEvent",
    "Creating",
    "Created",
    "Updating",
    "Updated",
    "Deleting",
    "Deleted",
    "BulkEvent",
    "BulkCreated",
    "BulkUpdated",
    "QuerySetUpdated",
    "QuerySetDeleted",
    "BulkEventsManager",
    "BulkEventsQuerySet",
    "changes",
    "model_event_name",
    "observe_model",
    "observes",
    "signal_to_event",
    # legacy
    "Dispatcher",
    "EventListener",
    "GetPathFromClass",
    "Observer",
    "RegisterSignalsFor",
    "SignalToEvent",
    "dispatch",
}


def test_exported_members() -> None:
    assert set(django_events.__all__) == DOCUMENTED
    assert len(django_events.__all__) == len(DOCUMENTED)


def test_every_exported_name_imports() -> None:
    namespace: dict[str, object] = {}
    exec("from django_events import *", namespace)
    assert namespace.keys() >= DOCUMENTED


def test_legacy_names_that_are_aliases() -> None:
    assert django_events.Dispatcher is django_events.dispatcher
    assert django_events.GetPathFromClass is django_events.path_from_class
