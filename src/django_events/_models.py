"""Model events: Django's save/delete signals as ``events::db::...`` events, and observers."""

from __future__ import annotations

import asyncio
import copy
import functools
import logging
import marshal
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, TypeVar, get_args
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import JSONField, Manager, Model
from django.db.models.signals import (
    class_prepared,
    post_delete,
    post_save,
    pre_delete,
    pre_save,
)
from typing_extensions import Unpack

from ._dispatcher import EventDispatcher, get_dispatcher
from ._events import path_from_class
from ._live import on_added
from ._options import HandlerOptions, Options
from ._routing import is_async
from ._running import Context, afinish, current_context, finish
from .delivery import gevent
from .exceptions import describe

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django.apps import AppConfig
    from django.db.backends.base.base import BaseDatabaseWrapper

    from ._routing import HandlerTable, Registration

__all__ = [
    "ACTIONS",
    "ModelObserver",
    "register_observer",
    "changes",
    "model_event_name",
    "observe_model",
    "observed_models",
    "observes",
]

Action = Literal["creating", "created", "updating", "updated", "deleting", "deleted"]
ACTIONS: Final[tuple[Action, ...]] = get_args(Action)
#: What a queued observer may define: the worker loads the instance by pk, so the row must exist.
QUEUEABLE_ACTIONS: Final = ("created", "updated")
#: The events whose handlers read changes: a model with such a handler has its changes tracked.
TRACKING_ACTIONS: Final = ("updating", "updated")

logger = logging.getLogger("django_events")

_M = TypeVar("_M", bound=Model)
_C = TypeVar("_C", bound=type)

_SNAPSHOT: Final = "_django_events_snapshot"
#: The updating events' _Saves (a stack), which post_save completes with the save's diff.
_PENDING: Final = "_django_events_pending_save"
_UID: Final = "django_events.model_events"

#: Concrete models that emit events, and the event names of each (action -> name).
_observed: dict[type[Model], dict[str, str]] = {}
#: The dispatchers each concrete model's events go to (the default one, and any other an
#: observer was registered on), remembered weakly: a dropped dispatcher is freed.
_targets: dict[type[Model], list[weakref.ref[EventDispatcher]]] = {}
#: Per connected sender (a concrete model or a proxy): its event names and the dispatchers
#: they go to (the very list in ``_targets``).
_senders: dict[type[Model], tuple[dict[str, str], list[weakref.ref[EventDispatcher]]]] = {}
#: Per model class: field name -> attname of its concrete fields (looked up once).
_fields: dict[type[Model], tuple[dict[str, str], tuple[str, ...]]] = {}
#: Concrete models whose changes are tracked, for ``changes()``: the old values are those of
#: the row, read by primary key when first needed (the first save of a loaded instance, or
#: ``changes()``), then kept from each save. Loading rows takes no snapshot: nothing is
#: connected to ``post_init``, so it costs nothing, whether a model is tracked or not.
_tracked: set[type[Model]] = set()
#: Every observer class that was registered, with the model it observes (system checks);
#: weakly: a class its dispatcher no longer holds (the end of an isolate() block) is freed.
_observers: weakref.WeakKeyDictionary[type, type[Model]] = weakref.WeakKeyDictionary()


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


def observe_model(
    model: type[Model], *, dispatcher: EventDispatcher | None = None, track_changes: bool = False
) -> None:
    """Make a model's saves and deletes dispatch ``events::db::...`` events (idempotent).

    The model's signals are connected once, however often this is called and however many
    observers it has. Proxy models emit the events of their concrete model. Events go to
    ``dispatcher`` (the default one when None); observing again with another dispatcher
    adds it.

    Its changes (``changes()``) are tracked once something handles its ``updating`` or
    ``updated`` events (an observer method, or a handler whose pattern matches those names,
    on a dispatcher its events go to), or with ``track_changes=True``: the first save of a
    loaded instance then reads its row (loading rows costs nothing either way).
    """
    concrete = _concrete(model, "observe_model()")
    if not isinstance(track_changes, bool):
        raise TypeError(f"observe_model() track_changes must be True or False, got {describe(track_changes)}")
    target = get_dispatcher(dispatcher)
    targets = _targets.setdefault(concrete, [])
    if not any(ref() is target for ref in targets):
        targets.append(weakref.ref(target, functools.partial(_forget, targets)))
    if concrete not in _observed:
        _observed[concrete] = {action: model_event_name(concrete, action) for action in ACTIONS}
        _connect(concrete)
        connect_known_proxies()
        class_prepared.connect(_on_class_prepared, weak=False, dispatch_uid=_UID)
    if track_changes or _listened(concrete, _target_registrations(concrete)):
        _track(concrete)


def _live_targets(concrete: type[Model]) -> list[EventDispatcher]:
    """The dispatchers the model's events go to (none that was dropped)."""
    return [target for target in (ref() for ref in list(_targets[concrete])) if target is not None]


def _target_registrations(concrete: type[Model]) -> Iterable[Registration]:
    """The registrations of the dispatchers the model's events go to."""
    for target in _live_targets(concrete):
        yield from target.registrations


def _listened(concrete: type[Model], registrations: Iterable[Registration]) -> bool:
    """Whether any of ``registrations`` handles the model's updating or updated events."""
    names = [_observed[concrete][action] for action in TRACKING_ACTIONS]
    return any(registration.matches(name) for registration in registrations for name in names)


def _track(concrete: type[Model]) -> None:
    """Track a model's changes from now on (its proxies' too)."""
    _tracked.add(concrete)


def _track_listened(table: HandlerTable, registrations: Sequence[Registration]) -> None:
    """New handlers on ``table``: track the changes of each observed model whose updating
    or updated events they handle, on a dispatcher those events go to (from then on:
    tracking, once on, stays on for the process)."""
    for concrete in list(_observed):
        if (
            concrete not in _tracked
            and any(target._table is table for target in _live_targets(concrete))
            and _listened(concrete, registrations)
        ):
            _track(concrete)


on_added(_track_listened)


def _forget(targets: list[weakref.ref[EventDispatcher]], ref: weakref.ref[EventDispatcher]) -> None:
    targets.remove(ref)  # a dispatcher was dropped


def observed_models() -> list[type[Model]]:
    """The concrete models that emit events, in the order they were observed."""
    return list(_observed)


def connect_known_proxies() -> None:
    """Connect the registered proxies of observed models (again at ``ready()``: a model
    observed while models were still loading may have proxies defined before it)."""
    from django.apps import apps

    if not apps.models_ready:
        return  # later proxies are connected by class_prepared or at ready()
    for model in apps.get_models():
        if model._meta.proxy and model._meta.concrete_model in _observed and model not in _senders:
            _connect(model)


def _on_class_prepared(sender: type[Model], **kwargs: Any) -> None:
    if sender._meta.proxy and sender._meta.concrete_model in _observed:
        _connect(sender)


def _connect(sender: type[Model]) -> None:
    concrete = sender._meta.concrete_model
    assert concrete is not None
    _senders[sender] = (_observed[concrete], _targets[concrete])
    for signal, receiver in (
        (pre_save, _pre_save),
        (post_save, _post_save),
        (pre_delete, _pre_delete),
        (post_delete, _post_delete),
    ):
        signal.connect(receiver, sender=sender, weak=False, dispatch_uid=_UID)


# -- receivers ----------------------------------------------------------------------------

_MISSING: Final = object()
_MUTABLE: Final = (dict, list, set)


def _attnames(model: type[Model], update_fields: Iterable[str] | None = None) -> Sequence[str]:
    """The concrete fields' attnames (only those named in ``update_fields``, if given)."""
    try:
        fields, attnames = _fields[model]
    except KeyError:
        concrete = model._meta.concrete_fields
        attnames = tuple(f.attname for f in concrete)
        # update_fields may name a field or its attname (Django's own, for a deferred load)
        fields = {**{f.attname: f.attname for f in concrete}, **{f.name: f.attname for f in concrete}}
        _fields[model] = fields, attnames
    if update_fields is None:
        return attnames
    return [fields[name] for name in update_fields if name in fields]


class _Frozen:
    """A mutable value as it was (a JSONField's dict or list): its ``marshal`` bytes, about
    ten times cheaper to take than a deep copy; thawed only when a save compares it."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


#: Types of field values that are never a query expression (the common ones: a fast path).
_PLAIN: Final = frozenset(
    {str, int, float, bool, bytes, type(None), Decimal, datetime, date, time, UUID, _Frozen}
)


def _values(loaded: Mapping[str, Any], attnames: Iterable[str]) -> dict[str, Any]:
    """The values of those fields in ``loaded`` (an instance's ``__dict__``, where deferred
    ones are absent, or a row); mutable ones frozen (or deep-copied, when they hold what
    ``marshal`` cannot write)."""
    values = {}
    for attname in attnames:
        value = loaded.get(attname, _MISSING)
        if value is not _MISSING:
            if type(value) not in _PLAIN and isinstance(value, _MUTABLE):
                try:
                    value = _Frozen(marshal.dumps(value))
                except ValueError:  # a subclass (OrderedDict), an object inside
                    value = copy.deepcopy(value)
            values[attname] = value
    return values


def _thaw(value: Any) -> Any:
    return marshal.loads(value.data) if type(value) is _Frozen else value


_NUMBERS: Final = (bool, int, float)


def _same(old: Any, new: Any) -> bool:
    """Whether two thawed values (a JSONField's dicts and lists) are the same JSON: ``1``,
    ``1.0`` and ``true`` compare equal in Python, and are three values in a row.

    Python's ``==`` (in C) first: what it tells apart differs as JSON too. Only values it
    calls equal are walked, without recursion (a value nested hundreds of levels deep, which
    ``json.loads`` and ``==`` take, would exceed the recursion limit), for a number that
    stands where another type of number does."""
    if old != new:
        return False
    pairs = [(old, new)]
    while pairs:
        a, b = pairs.pop()
        if type(a) is not type(b) and (isinstance(a, _NUMBERS) or isinstance(b, _NUMBERS)):
            return False
        items: Iterable[tuple[Any, Any]]
        if isinstance(a, dict):  # (equal: a mapping with the same keys)
            items = zip(a.values(), map(b.__getitem__, a), strict=True)
        elif isinstance(a, list):  # (equal: as long)
            items = zip(a, b, strict=True)
        else:
            continue  # equal values that are no numbers, of two types (a str and a str subclass)
        # (two scalars of one type, equal: nothing to see)
        pairs.extend((x, y) for x, y in items if type(x) is not type(y) or isinstance(x, (dict, list)))
    return True


def _diff(before: dict[str, Any], now: dict[str, Any], json: frozenset[str]) -> dict[str, tuple[Any, Any]]:
    """``{attname: (old, new)}`` of the values that differ, as they are kept (frozen, or the
    values themselves): ``_fresh`` gives each reader copies of its own. ``json``: the
    JSONFields' attnames, whose ``1``, ``1.0`` and ``true`` differ (an IntegerField's do not)."""
    changed = {}
    for name, old in before.items():
        new = now.get(name, _MISSING)
        if new is old or new is _MISSING:
            continue
        if type(old) is _Frozen or type(new) is _Frozen:
            if type(old) is type(new) and old.data == new.data:
                continue  # the same bytes: the same value
            if not _same(_thaw(old), _thaw(new)):
                changed[name] = (old, new)
        elif new != old or (name in json and not _same(old, new)):  # (1 -> true; an OrderedDict's)
            changed[name] = (old, new)
    return changed


def _json_attnames(model: type[Model]) -> frozenset[str]:
    """The attnames of ``model``'s JSONFields."""
    found = _json_fields.get(model)
    if found is None:
        found = _json_fields[model] = frozenset(
            field.attname for field in model._meta.concrete_fields if isinstance(field, JSONField)
        )
    return found


_json_fields: dict[type[Model], frozenset[str]] = {}


def _fresh(changes: dict[str, tuple[Any, Any]]) -> dict[str, tuple[Any, Any]]:
    """A save's kept changes, with mutable values as copies of their own (a handler that
    edits one leaves the next handler's, and the next call's, as the save made them)."""
    return {name: (_copied(old), _copied(new)) for name, (old, new) in changes.items()}


def _copied(value: Any) -> Any:
    if type(value) is _Frozen:
        return marshal.loads(value.data)
    if type(value) not in _PLAIN and isinstance(value, _MUTABLE):
        return copy.deepcopy(value)  # (what marshal cannot write: kept as a deep copy)
    return value


#: This thread's database connections by alias, as ``django.db.connections`` gives them (one
#: per thread, made on first use): looking one up there costs about a microsecond, which a
#: tracked save would pay twice.
_here = threading.local()


def _connection(using: str) -> BaseDatabaseWrapper:
    if asyncio._get_running_loop() is not None:  # (there Django's are per task: ask it)
        return connections[using]
    known: dict[str, BaseDatabaseWrapper] = _here.__dict__
    found = known.get(using)
    if found is None:
        found = known[using] = connections[using]
    return found


#: Per connection: its ``run_on_commit`` list when last asked, and a token standing for it.
#: Django gives a connection a new list at each commit, rollback, savepoint rollback and
#: close, so while the list is the same, nothing kept with its token was rolled back.
_hooks: weakref.WeakKeyDictionary[BaseDatabaseWrapper, tuple[list[Any], object]] = weakref.WeakKeyDictionary()


def _token(connection: BaseDatabaseWrapper) -> object:
    """The token of the connection's current transaction state (kept values hold with it:
    a plain object, so an instance still pickles; one unpickled never holds)."""
    hooks = connection.run_on_commit
    known = _hooks.get(connection)
    if known is None or known[0] is not hooks:
        known = _hooks[connection] = (hooks, object())
    return known[1]


class _Kept:
    """The old values of an instance (attname -> value, mutable ones frozen): what its row
    held, as read by primary key or as its last save wrote it, on one database and primary
    key. Kept in autocommit mode, they hold until the instance is saved elsewhere; kept in
    a transaction, only until it ends or any savepoint of it is rolled back (then the row is
    read again), which is what ``token`` tells (see ``_hooks``)."""

    __slots__ = ("found", "pk", "token", "using", "values")

    def __init__(self, values: dict[str, Any], using: str, pk: Any, found: bool = True) -> None:
        self.values, self.using, self.pk = values, using, pk
        self.found = found  # False: the row was looked for and is gone
        connection = _connection(using)
        if connection.autocommit and not connection.in_atomic_block:
            self.token: object | None = None  # committed already: nothing can undo them
        else:
            self.token = _token(connection)

    def of(self, using: str, pk: Any) -> bool:
        """Whether they are of the row a save or a comparison on ``using`` with ``pk`` is of."""
        return self.using == using and self.pk == pk

    def holds(self, using: str, pk: Any) -> bool:
        """Whether they are that row's values still (nothing rolled back since)."""
        return self.of(using, pk) and (self.token is None or self.token is _token(_connection(using)))


def _old_values(instance: Model, using: str, attnames: Iterable[str]) -> dict[str, Any]:
    """The old values of a tracked instance that is not new, for ``attnames``: those kept
    from its last save or an earlier read while they hold, else its row's in ``using``,
    read now by primary key for the fields loaded on it and kept. A row that is gone gives
    none."""
    loaded = instance.__dict__
    pk = instance.pk
    kept: _Kept | None = loaded.get(_SNAPSHOT)
    if pk is None:
        return {}  # not new, yet no row to compare with
    values: dict[str, Any] = {}
    if kept is not None and kept.holds(using, pk):
        values = kept.values
        if not kept.found or len(values) == len(_attnames(type(instance))):
            return values  # (values of its fields only: none is missing)
    missing = [attname for attname in attnames if attname in loaded and attname not in values]
    if not missing:
        return values
    model = instance._meta.concrete_model
    assert model is not None
    row = _read_row(model, using, pk, tuple(missing))
    # Kept anew, with what was kept before: as of now, in this transaction or savepoint.
    if row is None:
        loaded[_SNAPSHOT] = _Kept(values, using, pk, found=False)
        return values
    values = {**values, **_values(row, missing)}
    loaded[_SNAPSHOT] = _Kept(values, using, pk)
    return values


#: Per (concrete model, database alias, attnames): the SQL that reads those columns of one
#: row by primary key, and its columns; None where it must be built each time through the
#: ORM (a base manager of the model's own, a CompositePrimaryKey).
_reads: dict[tuple[type[Model], str, tuple[str, ...]], tuple[str, list[Any]] | None] = {}
_READS_AT_MOST = 1024


def _read_row(model: type[Model], using: str, pk: Any, attnames: tuple[str, ...]) -> dict[str, Any] | None:
    """``attnames`` -> values in the row of ``pk`` in ``using`` (None when it is gone), as
    ``values()`` reads them, with the query compiled once (building it is 85 % of a read)."""
    manager = model._base_manager
    key = (model, using, attnames)
    try:
        plan = _reads[key]
    except KeyError:
        if len(_reads) >= _READS_AT_MOST:
            _reads.clear()  # (bounded: only the subsets of fields it is asked for vary)
        compiler = manager.db_manager(using).filter(pk=pk).values(*attnames).query.get_compiler(using)
        sql, params = compiler.as_sql()
        columns = [column for column, _sql, _alias in compiler.select]
        # A base manager of its own may filter by the moment (a tenant), or select more
        # than the fields (distinct() with an ordering): its query is built each time.
        plain = type(manager) is Manager and len(params) == 1
        plan = _reads[key] = (sql, columns) if plain else None
    if plan is None:
        return next(iter(manager.db_manager(using).filter(pk=pk).values(*attnames)[:1]), None)
    sql, columns = plan
    connection = _connection(using)
    with connection.cursor() as cursor:
        cursor.execute(sql, [model._meta.pk.get_db_prep_value(pk, connection)])
        row = cursor.fetchone()
    if row is None:
        return None
    values = {}
    for attname, value, column in zip(attnames, row, columns, strict=True):
        for convert in connection.ops.get_db_converters(column) + column.get_db_converters(connection):
            value = convert(value, column, connection)
        values[attname] = value
    return values


def _live_changes(instance: Model, save: _Save | None = None) -> dict[str, tuple[Any, Any]]:
    """What changed: outside a save since the instance was loaded or saved (its row read if
    needed); in ``save``'s handlers, what that save is about to write (no query)."""
    if instance._state.adding:
        return {}
    model = type(instance)
    if model._meta.concrete_model not in _tracked:
        raise ValueError(
            f"changes() needs the changes of {model.__qualname__} to be tracked: they are once "
            "something handles its updating or updated events (an observer method or a "
            f"handler), or with observe_model({model.__qualname__}, track_changes=True)"
        )
    if instance.pk is None:
        return {}  # not new, yet no row to compare with
    if save is None:
        attnames = _attnames(model)
        before = _old_values(instance, instance._state.db or DEFAULT_DB_ALIAS, attnames)
    else:  # what its pre_save established, without a query (the handler may be async, or
        # in another greenlet or thread, which does not see that transaction's state)
        attnames = _attnames(model, save.update_fields)
        kept: _Kept | None = instance.__dict__.get(_SNAPSHOT)
        before = {} if kept is None else kept.values
    return _fresh(_diff(before, _values(instance.__dict__, attnames), _json_attnames(model)))


class _Save(Context):
    """The Context of one model event: the instance, whether the save is raw (fixtures),
    and that save's changes."""

    __slots__ = ("changes", "instance", "raw", "update_fields")

    def __init__(
        self,
        database: str,
        instance: Model,
        changes: dict[str, tuple[Any, Any]] | None,
        update_fields: Iterable[str] | None = None,
        raw: bool = False,
    ) -> None:
        self.database = database  # (Context's one field, set here: one call less per event)
        self.instance = instance
        self.changes = changes  # None: not saved yet (or not tracked), compare live
        self.update_fields = update_fields
        self.raw = raw

    @classmethod
    def pending(
        cls, database: str, instance: Model, update_fields: Iterable[str] | None, raw: bool, made: list[_Save]
    ) -> _Save:
        """An updating event's: it compares live until post_save gives it the save's diff,
        for handlers that run later (after the commit, or queued behind the current event).
        Made once per save (``made``), whatever the number of dispatchers; kept on a stack,
        as an updating handler may save the same instance again."""
        if not made:
            made.append(cls(database, instance, None, update_fields, raw))
            instance.__dict__.setdefault(_PENDING, []).append(made[0])
        return made[0]


class _Deleted(_Save):
    """The Context of a ``deleted`` event: its after-commit handlers get a copy of the
    instance, which keeps the primary key Django sets to None once the delete is done
    (before the transaction commits)."""

    __slots__ = ()

    def after_commit(self, args: tuple[Any, ...]) -> tuple[tuple[Any, ...], _Save]:
        kept = _copy_of(self.instance)
        return (kept,), _Deleted(self.database or DEFAULT_DB_ALIAS, kept, {})


def _copy_of(instance: Model) -> Model:
    """A shallow copy of a model instance as Django's own ``copy.copy`` makes it (its
    ``__dict__``, its state and related-object cache copied), without the model's
    ``__copy__`` (which may make a duplicate to save, without primary key) or its
    ``__getstate__`` (which may refuse pickling): the delete must not fail for it."""
    kept = Model.__new__(type(instance))
    kept.__dict__.update(instance.__dict__)
    kept._state = copy.copy(instance._state)
    kept._state.fields_cache = dict(instance._state.fields_cache)
    return kept


def _emit(
    sender: type[Model],
    action: Action,
    instance: Model,
    make: Callable[..., _Save],
    make_args: tuple[Any, ...],
) -> None:
    """Dispatch a model event to each dispatcher of the model; its _Save is made by
    ``make(*make_args)`` only for a dispatcher where something listens."""
    # Sync mode runs the handlers before save() or delete() goes on, and gevent mode gives
    # the hub a turn, as the original did: `creating` can still change the row (unless a
    # drain is under way in gevent mode; see README, "Model events").
    names, targets = _senders[sender]
    name = names[action]
    error: Exception | None = None
    for ref in tuple(targets):  # a handler may drop a dispatcher: the list then changes
        target = ref()
        if target is not None:  # (a dispatcher may be dropped meanwhile)
            try:
                target.dispatch_with_context(name, (instance,), make, make_args)
            except Exception as exc:  # raised by a dispatcher whose policy raises: every
                if error is not None:  # dispatcher still gets the event, the first is raised
                    logger.error(
                        "a handler failed for event %r (raised through a second dispatcher)",
                        name,
                        exc_info=exc,
                        extra={"event_name": name, "handler": None},
                    )
                error = error or exc
    if error is not None:
        raise error


def _pre_save(
    sender: type[Model],
    instance: Model,
    raw: bool,
    using: str,
    update_fields: Iterable[str] | None,
    **kwargs: Any,
) -> None:
    if instance._state.adding:
        # A snapshot of what a new instance was built with compares with no row: Django may
        # still UPDATE an existing one (a primary key given), whose old values are unknown.
        instance.__dict__.pop(_SNAPSHOT, None)
        _emit(sender, "creating", instance, _Save, (using, instance, {}, None, raw))
    else:
        if sender._meta.concrete_model in _tracked:  # the row before the UPDATE, unless kept
            _old_values(instance, using, _attnames(sender, update_fields))
        _emit(sender, "updating", instance, _Save.pending, (using, instance, update_fields, raw, []))


def _post_save(
    sender: type[Model],
    instance: Model,
    created: bool,
    raw: bool,
    using: str,
    update_fields: Iterable[str] | None,
    **kwargs: Any,
) -> None:
    loaded = instance.__dict__
    changed: dict[str, tuple[Any, Any]] | None = {}
    if sender._meta.concrete_model in _tracked:
        # The values just saved are both this save's "new" values and the next old ones.
        now = _values(loaded, _attnames(sender, None if created else update_fields))
        pk = instance.pk
        # What pre_save established: a savepoint rolled back since (by an updating handler,
        # or another app's pre_save receiver) did not undo it; the UPDATE came after.
        kept: _Kept | None = loaded.get(_SNAPSHOT)
        before = kept.values if kept is not None and kept.of(using, pk) else {}
        if not created:
            changed = _diff(before, now, _json_attnames(sender))
        # Kept: what the row holds now (after update_fields, the other fields as before); not
        # an expression (F("total") + 1): the row has its result, read when needed.
        row = now if created or update_fields is None else {**before, **now}
        for name in [name for name, value in row.items() if type(value) not in _PLAIN]:
            if hasattr(row[name], "resolve_expression"):
                del row[name]
        loaded[_SNAPSHOT] = _Kept(row, using, pk)
    elif not created:
        changed = None  # not tracked: nothing to compare against
    pending: list[_Save] | None = loaded.get(_PENDING)
    if pending:
        pending.pop().changes = changed
    _emit(sender, "created" if created else "updated", instance, _Save, (using, instance, changed, None, raw))


def _pre_delete(sender: type[Model], instance: Model, using: str, **kwargs: Any) -> None:
    _emit(sender, "deleting", instance, _Save, (using, instance, {}))


def _post_delete(sender: type[Model], instance: Model, using: str, **kwargs: Any) -> None:
    if gevent.draining():  # its handlers run after delete() returned: Django cleared the pk
        instance = _copy_of(instance)  # (not the model's __copy__ or __getstate__)
    _emit(sender, "deleted", instance, _Deleted, (using, instance, {}))


def changes(instance: Model) -> dict[str, tuple[Any, Any]]:
    """Which concrete fields changed: ``{attname: (old, new)}``.

    In the handlers of a model event it is that save's changes, even when they run later
    (after-commit handlers): empty for ``creating``/``created`` and deletes; in
    ``updating`` what is about to be saved; in ``updated`` what was saved (and in sync
    mode, in the handlers of events those handlers dispatch). Anywhere else it is what
    changed since the instance was loaded or last saved. Old values are those of the last
    save, or else of the row, read by primary key the first time they are needed (here or
    in the save's ``pre_save``: one query; loading rows takes no snapshot). Foreign keys
    appear under their attname (``customer_id``); a field deferred at load counts once it
    is loaded or set.

    Only for models whose changes are tracked (something handles their ``updating`` or
    ``updated`` events, or ``observe_model(..., track_changes=True)``); for a saved
    instance of another model this raises ValueError.
    """
    if not isinstance(instance, Model):
        raise TypeError(f"changes() expects a model instance, got {describe(instance)}")
    if type(instance)._meta.concrete_model not in _observed:
        raise ValueError(
            f"changes() needs {type(instance).__qualname__} to be observed "
            "(an observer, observe_model() or RegisterSignalsFor())"
        )
    context = current_context.get()
    if isinstance(context, _Save) and context.instance is instance:
        save = context
        if save.changes is not None:
            return _fresh(save.changes)
        return _live_changes(instance, save)
    return _live_changes(instance)


# -- observers ----------------------------------------------------------------------------


class ModelObserver(Generic[_M]):
    """Optional typed base for ``@observes`` classes.

    ``class OrderObserver(ModelObserver[Order])`` lets mypy check each method against
    the model: a ``created(self, instance: Customer)`` is an override error. Only the
    methods a subclass defines are registered; each may be ``async def``.
    """

    def creating(self, instance: _M) -> object: ...
    def created(self, instance: _M) -> object: ...
    def updating(self, instance: _M) -> object: ...
    def updated(self, instance: _M) -> object: ...
    def deleting(self, instance: _M) -> object: ...
    def deleted(self, instance: _M) -> object: ...


def _defined_actions(cls: type, ignore: type) -> list[Action]:
    return [
        action
        for action in ACTIONS
        if callable(getattr(cls, action, None)) and getattr(cls, action) is not getattr(ignore, action, None)
    ]


def register_observer(
    cls: type,
    model: type[Model],
    legacy: bool,
    *,
    base: type,
    what: str,
    options: Options,
    dispatcher: EventDispatcher | None,
) -> None:
    concrete = _concrete(model, what)
    target = get_dispatcher(dispatcher)
    actions = _defined_actions(cls, base)
    if not actions:
        raise TypeError(
            f"{cls.__qualname__} observes {model.__qualname__} but defines none of {', '.join(ACTIONS)}"
        )
    unqueueable = [action for action in actions if action not in QUEUEABLE_ACTIONS]
    if options.queue is not None and unqueueable:
        raise TypeError(
            f"{cls.__qualname__} cannot be queued: it defines {', '.join(unqueueable)}, and a worker "
            "loads the instance again by primary key when it runs, so only created and updated can "
            "be queued (before a save or after a delete there is no row to load); observe the "
            "others in a second observer without queue="
        )
    observer = cls()
    observe_model(concrete, dispatcher=target)
    for action in actions:
        label = f"{cls.__qualname__}.{action}"
        handler = _method_handler(observer, action, legacy, label, is_async(getattr(cls, action)))
        handler.__module__ = cls.__module__
        handler.__qualname__ = label
        target.add((re.escape(model_event_name(concrete, action)),), handler, options)
    _observers[cls] = model


def _method_handler(
    observer: object, action: Action, legacy: bool, label: str, awaited: bool
) -> Callable[[str, Model], object]:
    """The handler of one observer method: ``method(instance)`` (legacy: ``(name, instance)``),
    looked up at each event, so a test can replace it on the class; async when the method is.
    (A sync one whose replacement returns a coroutine, an ``AsyncMock``, runs it through.)"""
    if awaited:

        async def ahandler(name: str, instance: Model) -> None:
            method = getattr(observer, action)
            await afinish(method(name, instance) if legacy else method(instance))

        return ahandler

    if legacy:

        def legacy_handler(name: str, instance: Model) -> None:
            result = getattr(observer, action)(name, instance)
            if result is not None:
                finish(result, label)

        return legacy_handler

    def handler(name: str, instance: Model) -> None:
        result = getattr(observer, action)(instance)
        if result is not None:
            finish(result, label)

    return handler


def observes(
    model: type[_M], *, dispatcher: EventDispatcher | None = None, **options: Unpack[HandlerOptions]
) -> Callable[[_C], _C]:
    """Class decorator: call the class's ``creating`` ... ``deleted`` methods for a model.

    The class is instantiated once; each of the six methods it defines is called as
    ``method(instance)``. ``after_commit=True`` calls them only when the transaction
    commits (on the ``using`` database alias). ``queue=True`` runs them in a task worker,
    which loads the instance again by primary key (see README, "Queued handlers").
    """
    _concrete(model, "observes()")
    get_dispatcher(dispatcher)  # bad options fail here, before any class is decorated
    parsed = Options.parse(options)

    def decorate(cls: _C) -> _C:
        if not isinstance(cls, type):
            raise TypeError(f"@observes({model.__qualname__}) decorates a class, got {describe(cls)}")
        register_observer(
            cls,
            model,
            legacy=False,
            base=ModelObserver,
            what="observes()",
            options=parsed,
            dispatcher=dispatcher,
        )
        return cls

    return decorate


def observer_app_problems(installed: list[AppConfig]) -> list[tuple[type, type[Model]]]:
    """Observers whose model's app is not in INSTALLED_APPS."""
    labels = {config.label for config in installed}
    return [(cls, model) for cls, model in list(_observers.items()) if model._meta.app_label not in labels]
