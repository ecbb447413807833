"""Bulk events: one batch event per ``bulk_create``, ``bulk_update``, ``QuerySet.update()``
and ``QuerySet.delete()`` call, for models that opt in with ``BulkEventsQuerySet``.

Django sends no model signal for bulk operations (and this library never monkey-patches),
so a model opts in through its manager: ``objects = BulkEventsManager()``, or a QuerySet of
its own that mixes ``BulkEventsQuerySet`` in. Each call dispatches one event, never one
per row, to every dispatcher where something listens to it:

============================  =======================================================
name (``...::Order::<action>``)  string handlers get / typed event
============================  =======================================================
``bulk_created``              ``(name, instances, using=alias)`` / ``BulkCreated[Order]``
``bulk_updated``              ``(name, instances, fields, using=alias)`` / ``BulkUpdated[Order]``
``queryset_updated``          ``(name, pks, values, using=alias)`` / ``QuerySetUpdated[Order]``
``queryset_deleted``          ``(name, pks, using=alias)`` / ``QuerySetDeleted[Order]``
============================  =======================================================
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any, Final, TypeVar

from django.db import connections, models, transaction

from ._dispatcher import live_dispatchers
from ._events import path_from_class
from ._model_events import ProducedEvent
from ._payload import encode
from ._running import Context
from .exceptions import PayloadError

__all__ = [
    "BULK_ACTIONS",
    "BulkCreated",
    "BulkEvent",
    "BulkEventsManager",
    "BulkEventsQuerySet",
    "BulkUpdated",
    "QuerySetDeleted",
    "QuerySetUpdated",
    "bulk_event_name",
    "opted_in",
]

_M = TypeVar("_M", bound=models.Model)

BULK_ACTIONS: Final = ("bulk_created", "bulk_updated", "queryset_updated", "queryset_deleted")


def bulk_event_name(model: type[models.Model], action: str) -> str:
    """``events::db::<module with ::>::<Model>::<action>`` of a bulk action."""
    if action not in BULK_ACTIONS:
        raise ValueError(f"action must be one of {', '.join(BULK_ACTIONS)}, got {action!r}")
    return f"events::db::{path_from_class(model)}::{action}"


def _dispatched_name(model: type[models.Model], action: str) -> str:
    """The name a bulk call on ``model`` dispatches (a proxy's: its concrete model's)."""
    return bulk_event_name(model._meta.concrete_model or model, action)


def _send(model: type[models.Model], action: str, args: tuple[Any, ...], using: str) -> None:
    """Dispatch one batch event to every dispatcher where something listens to it or records
    it (a proxy's are its concrete model's, as for saves), with the call's database: an
    after-commit handler waits for the commit of that database. A call that touched no row
    dispatches nothing."""
    if not args[0]:
        return
    name = _dispatched_name(model, action)
    for target in live_dispatchers():
        if target.recorded or target.resolve(name):
            target.dispatch_in(name, args, {"using": using}, Context(using))


def _listened(model: type[models.Model], action: str) -> bool:
    name = _dispatched_name(model, action)
    return any(target.recorded or target.resolve(name) for target in live_dispatchers())


def _queued_handler(name: str) -> str | None:
    """The label of a queued handler ``name`` reaches on some dispatcher, or None."""
    for target in live_dispatchers():
        for registration in target.resolve(name):
            if registration.queue is not None:
                return registration.label
    return None


def _check_update(model: type[models.Model], values: dict[str, Any], using: str) -> None:
    """Before the write: a queued handler of the call's event needs the values' JSON form
    (an expression such as ``F("n") + 1`` has none), so the call fails before it wrote."""
    name = _dispatched_name(model, "queryset_updated")
    if _queued_handler(name) is not None:
        encode(([], values), {"using": using}, name=name)


def _check_create(model: type[models.Model], objs: list[Any], using: str, args: Any, kwargs: Any) -> None:
    """Before the INSERT: a queued handler of the call's event gets each instance by primary
    key, which rows whose keys the database does not hand back cannot give."""
    if all(obj.pk is not None for obj in objs):
        return
    name = _dispatched_name(model, "bulk_created")
    handler = _queued_handler(name)
    if handler is None:
        return
    try:
        call = inspect.signature(models.QuerySet.bulk_create).bind(None, objs, *args, **kwargs).arguments
    except TypeError:  # a QuerySet mixed in after this one takes arguments of its own
        call = kwargs
    if call.get("ignore_conflicts"):
        why = "bulk_create(ignore_conflicts=True) leaves the primary keys of the rows it creates unset"
    elif not connections[using].features.can_return_rows_from_bulk_insert:
        vendor = connections[using].vendor
        why = f"the database {using!r} ({vendor}) does not return the primary keys of a bulk insert"
    else:
        return
    raise PayloadError(
        f"{why}, and queued handler {handler} of {name!r} gets each {model.__qualname__} by primary "
        "key: set the primary keys before the call, or register the handler without queue= "
        "(nothing was written)"
    )


#: Set while ``bulk_update`` runs: its batches' ``update()`` calls are part of it.
_updating_in_bulk: ContextVar[bool] = ContextVar("django_events_bulk_update", default=False)


def _transaction(using: str) -> contextlib.AbstractContextManager[object]:
    """The call's own transaction in autocommit mode (the primary keys are read just before
    the write, in its transaction), nothing inside one: an error the caller catches must not
    mark its transaction for rollback."""
    if transaction.get_connection(using).in_atomic_block:
        return contextlib.nullcontext()
    return transaction.atomic(using=using)


class BulkEventsQuerySet(models.QuerySet[_M]):
    """A QuerySet whose bulk operations dispatch batch events (mix it into your own)."""

    def bulk_create(self, objs: Iterable[_M], *args: Any, **kwargs: Any) -> list[_M]:
        objs = list(objs)
        _check_create(self.model, objs, self.db, args, kwargs)
        created = super().bulk_create(objs, *args, **kwargs)
        _send(self.model, "bulk_created", (list(created),), self.db)
        return created

    def bulk_update(self, objs: Iterable[_M], fields: Iterable[str], *args: Any, **kwargs: Any) -> int:
        objs, fields = list(objs), list(fields)
        token = _updating_in_bulk.set(True)  # (Django updates each batch with update())
        try:
            updated = super().bulk_update(objs, fields, *args, **kwargs)
        finally:
            _updating_in_bulk.reset(token)
        if updated:  # (rows that are gone: no row touched, nothing dispatched)
            _send(self.model, "bulk_updated", (objs, fields), self.db)
        return updated

    def update(self, **kwargs: Any) -> int:
        if _updating_in_bulk.get() or not _listened(self.model, "queryset_updated"):
            return super().update(**kwargs)
        self._for_write = True
        using = self.db
        _check_update(self.model, kwargs, using)
        with _transaction(using):
            pks = list(self.values_list("pk", flat=True))
            updated = super().update(**kwargs)
        _send(self.model, "queryset_updated", (pks, kwargs), using)
        return updated

    def delete(self) -> tuple[int, dict[str, int]]:
        if not _listened(self.model, "queryset_deleted"):
            return super().delete()
        self._for_write = True
        using = self.db
        with _transaction(using):
            pks = list(self.values_list("pk", flat=True))
            deleted = super().delete()
        _send(self.model, "queryset_deleted", (pks,), using)
        return deleted

    delete.alters_data = True  # type: ignore[attr-defined]
    delete.queryset_only = True  # type: ignore[attr-defined]
    update.alters_data = True  # type: ignore[attr-defined]


class BulkEventsManager(models.Manager.from_queryset(BulkEventsQuerySet)):  # type: ignore[misc]
    """``objects = BulkEventsManager()``: the model's bulk operations dispatch batch events."""


def opted_in(model: type[models.Model]) -> bool:
    """Whether one of the model's managers makes BulkEventsQuerySets."""
    return any(_makes_bulk_querysets(manager) for manager in model._meta.managers)


def _makes_bulk_querysets(manager: models.Manager[Any]) -> bool:
    try:
        return isinstance(manager.get_queryset(), BulkEventsQuerySet)
    except Exception:  # a manager that needs a request's state (a scope, a tenant): its class says
        return issubclass(getattr(manager, "_queryset_class", models.QuerySet), BulkEventsQuerySet)


# -- typed bulk events -------------------------------------------------------------------------


class BulkEvent(ProducedEvent[_M]):
    """What the typed bulk events have: the database alias. Subscribe to
    ``BulkCreated[Order]`` and the others; bulk operations dispatch them."""

    using: str

    @classmethod
    def _event_name(cls, model: type[models.Model]) -> str:
        return bulk_event_name(model, cls.action)

    @classmethod
    def _dispatch_fits(cls, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        return len(args) == len(_FIELDS[cls.action]) and set(kwargs) == {"using"}

    @classmethod
    def _from_dispatch(cls, *args: Any, **kwargs: Any) -> BulkEvent[Any]:
        return cls(**dict(zip(_FIELDS[cls.action], args, strict=True)), **kwargs)


class BulkCreated(BulkEvent[_M]):
    """``bulk_create()``: the created instances (with primary keys where the database returns them)."""

    action = "bulk_created"
    instances: list[_M]


class BulkUpdated(BulkEvent[_M]):
    """``bulk_update()``: the instances and the names of the fields it wrote."""

    action = "bulk_updated"
    instances: list[_M]
    fields: list[str]


class QuerySetUpdated(BulkEvent[_M]):
    """``QuerySet.update()``: the primary keys it matched (read in its transaction, before
    the UPDATE) and the values it set (expressions such as ``F()`` as given)."""

    action = "queryset_updated"
    _not_queueable = (
        "its values may be expressions (F(), Case()), which have no JSON form; queue a handler "
        "of your own Event, dispatched from an in-process QuerySetUpdated handler"
    )
    pks: list[Any]
    values: dict[str, Any]


class QuerySetDeleted(BulkEvent[_M]):
    """``QuerySet.delete()``: the primary keys it deleted (Django's per-row delete signals,
    and so ``deleting``/``deleted``, still come for the rows it loads)."""

    action = "queryset_deleted"
    pks: list[Any]


_FIELDS: Final = {
    "bulk_created": ("instances",),
    "bulk_updated": ("instances", "fields"),
    "queryset_updated": ("pks", "values"),
    "queryset_deleted": ("pks",),
}
