"""Typed model events: ``Created[Order]`` and the five others, built from the save's dispatch.

A save dispatches one name (``events::db::...::Order::created``) with the instance, once;
string-pattern handlers get ``(name, instance)`` as always, and a handler registered with
``on(Created[Order])`` gets a ``Created[Order]`` event built from that same dispatch (with
its database alias, whether the save was raw, and on updates the save's changes), in
registration order among the others. Registering one observes the model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, TypeVar

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model

from ._dispatcher import live_dispatchers
from ._events import Event
from ._live import on_added
from ._models import TRACKING_ACTIONS, Action, model_event_name, observe_model
from ._models import _fresh as fresh_changes
from ._models import _live_changes as live_changes
from ._models import _Save as Save
from ._routing import is_async
from ._running import current_context
from .exceptions import describe

if TYPE_CHECKING:
    from ._routing import HandlerTable, Registration

__all__ = ["Created", "Creating", "Deleted", "Deleting", "ModelEvent", "ProducedEvent", "Updated", "Updating"]

_M = TypeVar("_M", bound=Model)

_lock = threading.Lock()
#: ``(event class, model) -> Created[Model]``: one class per pair, made on first use.
_made: dict[tuple[type, type[Model]], type[ProducedEvent[Any]]] = {}


_NOT_QUEUEABLE: Final = (
    "a worker loads the instance again by primary key when it runs, so only Created and "
    "Updated can be queued (before a save or after a delete there is no row to load)"
)


class ProducedEvent(Event, Generic[_M]):
    """A typed event that a model's operations dispatch (saves, deletes, bulk calls), never
    code: ``Created[Order]`` is a subclass made once per model, named after the model's
    event, whose handlers get an event built from what the operation dispatched."""

    #: The model of a parameterized class (``Created[Order].model is Order``).
    model: ClassVar[type[Model]]
    #: The action its name ends with.
    action: ClassVar[str]

    def __post_init__(self) -> None:
        if "model" not in type(self).__dict__:
            name = type(self).__qualname__
            raise TypeError(f"{name} is generic: name its model, as in {name}[Order]")

    def __class_getitem__(cls, model: Any) -> Any:
        if isinstance(model, TypeVar) or "action" not in cls.__dict__:
            return super().__class_getitem__(model)  # type: ignore[misc]  # typing's own
        return _parameterized(cls, model)

    @classmethod
    def _handler_adapter(cls, handler: Callable[..., object]) -> Callable[..., object]:  # type: ignore[override]
        """Registering a handler of the generic class itself (``Created``, not
        ``Created[Order]``); a parameterized class has an adapter of its own."""
        raise TypeError(f"{cls.__qualname__} is generic: name its model, as in {cls.__qualname__}[Order]")

    @classmethod
    def _event_name(cls, model: type[Model]) -> str:
        """The name the operation dispatches for ``model``."""
        raise NotImplementedError

    @classmethod
    def _dispatch_fits(cls, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """Whether a dispatch of its name carries what the operation dispatches."""
        raise NotImplementedError

    @classmethod
    def _from_dispatch(cls, *args: Any, **kwargs: Any) -> ProducedEvent[Any]:
        """The event, from what the operation dispatched (after the name)."""
        raise NotImplementedError


class ModelEvent(ProducedEvent[_M]):
    """What the typed model events have: the instance, the database alias of the save or
    delete, and whether it was raw (``loaddata``). Subscribe to ``Created[Order]`` and the
    others; a save dispatches them (code cannot: ``dispatch()`` of one is a TypeError)."""

    action: ClassVar[Action]

    instance: _M
    using: str
    raw: bool

    @classmethod
    def _event_name(cls, model: type[Model]) -> str:
        return model_event_name(model, cls.action)

    @classmethod
    def _dispatch_fits(cls, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        return len(args) == 1 and not kwargs and isinstance(args[0], cls.model)

    @classmethod
    def _from_dispatch(cls, *args: Any, **kwargs: Any) -> ModelEvent[Any]:
        """The event of the save (or delete) being delivered; in a task worker, where the
        instance was loaded again, its database and no changes."""
        (instance,) = args
        save = current_context.get()
        if isinstance(save, Save) and save.instance is instance:
            using, raw = save.database or DEFAULT_DB_ALIAS, save.raw
        else:
            using, raw, save = instance._state.db or DEFAULT_DB_ALIAS, False, None
        if cls.action not in TRACKING_ACTIONS:
            return cls(instance=instance, using=using, raw=raw)
        if save is None:
            found: dict[str, tuple[Any, Any]] = {}
        elif save.changes is not None:
            found = fresh_changes(save.changes)
        else:
            found = live_changes(instance, save)
        return cls(instance=instance, using=using, raw=raw, changes=found)  # type: ignore[call-arg]  # (Updating, Updated)


class Creating(ModelEvent[_M]):
    """Before a new row is inserted (``instance._state.adding``): the instance can still change."""

    action = "creating"
    _not_queueable = _NOT_QUEUEABLE


class Created(ModelEvent[_M]):
    """After Django's ``post_save`` with ``created=True``."""

    action = "created"


class Updating(ModelEvent[_M]):
    """Before an existing row is saved; ``changes`` is what is about to be saved."""

    action = "updating"
    _not_queueable = _NOT_QUEUEABLE
    #: ``{attname: (old, new)}``, as ``changes(instance)`` returns it.
    changes: dict[str, tuple[Any, Any]]


class Updated(ModelEvent[_M]):
    """After Django's ``post_save`` with ``created=False``; ``changes`` is what was saved."""

    action = "updated"
    changes: dict[str, tuple[Any, Any]]


class Deleting(ModelEvent[_M]):
    """Before the row is deleted."""

    action = "deleting"
    _not_queueable = _NOT_QUEUEABLE


class Deleted(ModelEvent[_M]):
    """After the row was deleted."""

    action = "deleted"
    _not_queueable = _NOT_QUEUEABLE


def _parameterized(cls: type[ProducedEvent[Any]], model: object) -> type[ProducedEvent[Any]]:
    """``Created[Order]``: a subclass named after the model's event, made once."""
    name = cls.__qualname__
    if not (isinstance(model, type) and issubclass(model, Model)):
        raise TypeError(f"{name}[...] takes a concrete Django model class, got {describe(model)}")
    if model._meta.abstract:
        raise TypeError(
            f"{name}[{model.__qualname__}]: {model.__qualname__} is abstract and is never "
            f"saved; use {name}[...] of its concrete subclasses"
        )
    if model._meta.proxy:
        concrete = model._meta.concrete_model
        assert concrete is not None
        raise TypeError(
            f"{name}[{model.__qualname__}]: {model.__qualname__} is a proxy, whose saves "
            f"emit the events of {concrete.__qualname__}; use {name}[{concrete.__qualname__}]"
        )
    with _lock:
        made = _made.get((cls, model))
        if made is None:
            qualname = f"{name}[{model.__qualname__}]"
            namespace = {
                "__module__": model.__module__,  # two apps' Order: two paths (tasks, manage.py events)
                "__qualname__": qualname,
                "event_name": cls._event_name(model),
                "model": model,
            }
            made = _made[(cls, model)] = type(qualname, (cls,), namespace)
            made._handler_adapter = _adapter_for(made)  # type: ignore[method-assign, assignment]
    return made


def _adapter_for(cls: type[ProducedEvent[Any]]) -> Callable[[Callable[..., object]], Callable[..., object]]:
    def adapt(handler: Callable[..., Any]) -> Callable[..., object]:
        """``handler(event)`` as the operation's dispatch calls it: ``(name, *args, **kwargs)``."""
        if is_async(handler):

            async def ahandler(name: str, *args: Any, **kwargs: Any) -> object:
                return await handler(cls._from_dispatch(*args, **kwargs))

            return ahandler

        def call(name: str, *args: Any, **kwargs: Any) -> object:
            return handler(cls._from_dispatch(*args, **kwargs))

        return call

    return adapt


def _observe_typed(table: HandlerTable, registrations: Sequence[Registration]) -> None:
    """A handler of ``Created[Order]`` being registered: its dispatcher observes Order (with
    its changes tracked for Updating and Updated), before the handler is live."""
    wanted = [
        r.target for r in registrations if isinstance(r.target, type) and issubclass(r.target, ModelEvent)
    ]
    if not wanted:
        return
    for owner in [d for d in live_dispatchers() if d._table is table]:  # (one, or none: a bare table)
        for target in wanted:
            observe_model(target.model, dispatcher=owner, track_changes=target.action in TRACKING_ACTIONS)


on_added(_observe_typed)
