"""Model events: Django's save/delete signals as ``events::db::...`` events, and observers."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, Literal, TypeVar, get_args

from django.db.models import Model
from django.db.models.signals import (
    class_prepared,
    post_delete,
    post_init,
    post_save,
    pre_delete,
    pre_save,
)

from ._dispatcher import EventDispatcher
from ._dispatcher import dispatcher as default_dispatcher
from ._events import path_from_class
from ._routing import describe

if TYPE_CHECKING:
    from django.apps import AppConfig

__all__ = [
    "ACTIONS",
    "ModelObserver",
    "Observer",
    "changes",
    "model_event_name",
    "observe_model",
    "observed_models",
    "observes",
]

Action = Literal["creating", "created", "updating", "updated", "deleting", "deleted"]
ACTIONS: Final[tuple[Action, ...]] = get_args(Action)

_M = TypeVar("_M", bound=Model)
_C = TypeVar("_C", bound=type)

_SNAPSHOT: Final = "_django_events_snapshot"
_CHANGES: Final = "_django_events_changes"
_UID: Final = "django_events.model_events"

#: Concrete models that emit events, and the event names of each (action -> name).
_observed: dict[type[Model], dict[str, str]] = {}
#: Per connected sender (a concrete model or a proxy): its names and its concrete fields'
#: attnames, looked up once so that a save does not walk _meta.
_senders: dict[type[Model], tuple[dict[str, str], tuple[str, ...]]] = {}
#: Every observer class that was registered, with the model it observes (system checks).
_observers: list[tuple[type, type[Model]]] = []


def _concrete(model: object, what: str) -> type[Model]:
    if not (isinstance(model, type) and issubclass(model, Model)):
        raise TypeError(f"{what} expects a Django model class, got {describe(model)}")
    if model is Model or model._meta.abstract:
        raise TypeError(
            f"{what}: {model.__qualname__} is abstract and is never saved; observe its concrete subclasses"
        )
    concrete = model._meta.concrete_model
    assert concrete is not None  # set for every non-abstract model
    return concrete


def model_event_name(model: type[Model], action: str) -> str:
    """``events::db::<module with ::>::<Model>::<action>`` for a model's concrete class."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, got {action!r}")
    return f"events::db::{path_from_class(_concrete(model, 'model_event_name()'))}::{action}"


def observe_model(model: type[Model]) -> None:
    """Make a model's saves and deletes dispatch ``events::db::...`` events (idempotent).

    The model's signals are connected once, however often this is called and however many
    observers it has. Proxy models emit the events of their concrete model.
    """
    concrete = _concrete(model, "observe_model()")
    if concrete in _observed:
        return
    _observed[concrete] = {action: model_event_name(concrete, action) for action in ACTIONS}
    _connect(concrete)
    for proxy in _known_proxies(concrete):
        _connect(proxy)
    class_prepared.connect(_on_class_prepared, weak=False, dispatch_uid=_UID)


def observed_models() -> list[type[Model]]:
    """The concrete models that emit events, in the order they were observed."""
    return list(_observed)


def _known_proxies(concrete: type[Model]) -> list[type[Model]]:
    from django.apps import apps

    if not apps.models_ready:
        return []  # later proxies are connected by class_prepared
    return [m for m in apps.get_models() if m._meta.proxy and m._meta.concrete_model is concrete]


def _on_class_prepared(sender: type[Model], **kwargs: Any) -> None:
    if sender._meta.proxy and sender._meta.concrete_model in _observed:
        _connect(sender)


def _connect(sender: type[Model]) -> None:
    concrete = sender._meta.concrete_model
    assert concrete is not None
    _senders[sender] = (_observed[concrete], tuple(f.attname for f in sender._meta.concrete_fields))
    for signal, receiver in (
        (post_init, _snapshot),
        (pre_save, _pre_save),
        (post_save, _post_save),
        (pre_delete, _pre_delete),
        (post_delete, _post_delete),
    ):
        signal.connect(receiver, sender=sender, weak=False, dispatch_uid=_UID)


# -- receivers ----------------------------------------------------------------------------


_MISSING: Final = object()
_MUTABLE: Final = (dict, list, set)


def _values(instance: Model) -> dict[str, Any]:
    """The loaded concrete field values (deferred ones are absent); mutable ones copied."""
    loaded = instance.__dict__
    values = {}
    for attname in _senders[type(instance)][1]:
        value = loaded.get(attname, _MISSING)
        if value is not _MISSING:
            values[attname] = copy.deepcopy(value) if isinstance(value, _MUTABLE) else value
    return values


def _snapshot(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    instance.__dict__[_SNAPSHOT] = _values(instance)
    instance.__dict__.pop(_CHANGES, None)


def _diff(before: dict[str, Any], now: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {name: (old, now[name]) for name, old in before.items() if name in now and now[name] != old}


def _pre_save(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    instance.__dict__.pop(_CHANGES, None)  # changes() now means this save's, computed live
    adding = instance._state.adding
    default_dispatcher.dispatch(_senders[sender][0]["creating" if adding else "updating"], instance)


def _post_save(sender: type[Model], instance: Model, created: bool, **kwargs: Any) -> None:
    # The values just saved are both this save's "new" values and the next snapshot.
    loaded = instance.__dict__
    now = _values(instance)
    loaded[_CHANGES] = {} if created else _diff(loaded.get(_SNAPSHOT, {}), now)
    loaded[_SNAPSHOT] = now
    default_dispatcher.dispatch(_senders[sender][0]["created" if created else "updated"], instance)


def _pre_delete(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    default_dispatcher.dispatch(_senders[sender][0]["deleting"], instance)


def _post_delete(sender: type[Model], instance: Model, **kwargs: Any) -> None:
    default_dispatcher.dispatch(_senders[sender][0]["deleted"], instance)


def changes(instance: Model) -> dict[str, tuple[Any, Any]]:
    """Which concrete fields a save changed: ``{attname: (old, new)}``.

    After a save it is that save's changes (empty for a create), so queued ``updated``
    handlers see the save they are about. During a save (an ``updating`` handler in sync
    mode) and before one, it is what changed since the instance was loaded or last saved;
    empty for an instance that was never saved. Old values come from a snapshot taken when
    the instance was loaded or last saved: no query. Foreign keys appear under their
    attname (``customer_id``), and fields that were deferred at load are not compared.
    """
    if not isinstance(instance, Model):
        raise TypeError(f"changes() expects a model instance, got {describe(instance)}")
    if type(instance)._meta.concrete_model not in _observed:
        raise ValueError(
            f"changes() needs {type(instance).__qualname__} to be observed "
            "(an observer, observe_model() or RegisterSignalsFor())"
        )
    loaded = instance.__dict__
    recorded: dict[str, tuple[Any, Any]] | None = loaded.get(_CHANGES)
    if recorded is not None:
        return dict(recorded)
    if instance._state.adding:
        return {}
    return _diff(loaded.get(_SNAPSHOT, {}), _values(instance))


# -- observers ----------------------------------------------------------------------------


class ModelObserver(Generic[_M]):
    """Optional typed base for ``@observes`` classes.

    ``class OrderObserver(ModelObserver[Order])`` lets mypy check each method against
    the model: a ``created(self, instance: Customer)`` is an override error. Only the
    methods a subclass defines are registered.
    """

    def creating(self, instance: _M) -> None: ...
    def created(self, instance: _M) -> None: ...
    def updating(self, instance: _M) -> None: ...
    def updated(self, instance: _M) -> None: ...
    def deleting(self, instance: _M) -> None: ...
    def deleted(self, instance: _M) -> None: ...


def _defined_actions(cls: type, ignore: type) -> list[Action]:
    return [
        action
        for action in ACTIONS
        if callable(getattr(cls, action, None)) and getattr(cls, action) is not getattr(ignore, action, None)
    ]


def _register_observer(
    cls: type,
    model: type[Model],
    call: Callable[[object, Action, str, Model], object],
    *,
    base: type,
    what: str,
    after_commit: bool,
    using: str | None,
    dispatcher: EventDispatcher | None,
) -> None:
    concrete = _concrete(model, what)
    actions = _defined_actions(cls, base)
    if not actions:
        raise TypeError(
            f"{cls.__qualname__} observes {model.__qualname__} but defines none of {', '.join(ACTIONS)}"
        )
    observer = cls()
    target = dispatcher or default_dispatcher
    observe_model(concrete)
    for action in actions:

        def handler(name: str, instance: Model, _action: Action = action) -> None:
            call(observer, _action, name, instance)

        handler.__module__ = cls.__module__
        handler.__qualname__ = f"{cls.__qualname__}.{action}"
        target.register(
            re.escape(model_event_name(concrete, action)), handler, after_commit=after_commit, using=using
        )
    _observers.append((cls, model))


def observes(
    model: type[_M],
    *,
    after_commit: bool = False,
    using: str | None = None,
    dispatcher: EventDispatcher | None = None,
) -> Callable[[_C], _C]:
    """Class decorator: call the class's ``creating`` ... ``deleted`` methods for a model.

    The class is instantiated once; each of the six methods it defines is called as
    ``method(instance)``. ``after_commit=True`` calls them only when the transaction
    commits (on the ``using`` database alias).
    """
    _concrete(model, "observes()")

    def decorate(cls: _C) -> _C:
        _register_observer(
            cls,
            model,
            lambda observer, action, name, instance: getattr(observer, action)(instance),
            base=ModelObserver,
            what="observes()",
            after_commit=after_commit,
            using=using,
            dispatcher=dispatcher,
        )
        return cls

    return decorate


class Observer:
    """Legacy model observer: ``observes = Model`` and methods ``(self, eventName, instance)``.

    Registered when the class is defined, like the original.
    """

    observes: ClassVar[type[Model]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        model = cls.__dict__.get("observes", getattr(cls, "observes", None))
        if model is None:
            raise TypeError(f"{cls.__qualname__} must set observes = SomeModel")
        _register_observer(
            cls,
            model,
            lambda observer, action, name, instance: getattr(observer, action)(name, instance),
            base=Observer,
            what=f"{cls.__qualname__}.observes",
            after_commit=False,
            using=None,
            dispatcher=None,
        )


def observer_app_problems(installed: list[AppConfig]) -> list[tuple[type, type[Model]]]:
    """Observers whose model's app is not in INSTALLED_APPS."""
    labels = {config.label for config in installed}
    return [(cls, model) for cls, model in _observers if model._meta.app_label not in labels]
