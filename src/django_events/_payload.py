"""Event payloads as JSON, for handlers that run in a task worker (never pickle).

JSON values pass as they are; the other supported values become a one-key object whose
key names the type (a datetime in a ZoneInfo zone keeps its zone, a float its NaN or
infinity, a model instance its database). A value with no JSON form fails in the caller,
at dispatch, with the path of the value (``OrderPaid.attachment``) and its type.

Decoding never imports anything: a dataclass (an Event, or one nested in an event) is
rebuilt only when its module is already imported in the worker, and a model instance is
loaded again by primary key.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import inspect
import math
import sys
import uuid
import zoneinfo
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model

from ._events import Event
from .exceptions import MissingInstance, PayloadError

__all__ = ["decode", "encode"]

SUPPORTED = (
    "None, bool, int, float, str, list, tuple, dict with str keys, Decimal, datetime, date, "
    "time, UUID, dataclasses (Event instances among them) and saved model instances"
)


def encode(args: tuple[Any, ...], kwargs: dict[str, Any], *, where: str) -> dict[str, Any]:
    """``{"args": [...], "kwargs": {...}}`` in JSON types; ``where`` names the dispatch in errors."""
    try:
        if len(args) == 1 and not kwargs and isinstance(args[0], Event):
            event = args[0]
            return {"args": [_encode(event, type(event).__qualname__)], "kwargs": {}}
        return {
            "args": [_encode(value, f"{where} args[{i}]") for i, value in enumerate(args)],
            "kwargs": {key: _encode(value, f"{where} kwargs[{key!r}]") for key, value in kwargs.items()},
        }
    except RecursionError:
        raise PayloadError(
            f"cannot queue {where}: a value contains itself, or is nested too deeply for JSON"
        ) from None


def decode(payload: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return (
        tuple(_decode(value) for value in payload["args"]),
        {key: _decode(value) for key, value in payload["kwargs"].items()},
    )


def _encode(value: Any, path: str) -> Any:
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        # JSON has no NaN or infinity (a database backend refuses such a row): tag them.
        return value if math.isfinite(value) else {"float": repr(value)}
    if kind is list:
        return [_encode(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if kind is tuple:
        return {"tuple": [_encode(item, f"{path}[{i}]") for i, item in enumerate(value)]}
    if kind is dict:
        if not all(type(key) is str for key in value):
            raise PayloadError(f"cannot queue {path}: a dict with keys other than str ({value!r})")
        return {"dict": {key: _encode(item, f"{path}[{key!r}]") for key, item in value.items()}}
    if kind is decimal.Decimal:
        return {"decimal": str(value)}
    if kind is datetime.datetime:
        if isinstance(value.tzinfo, zoneinfo.ZoneInfo) or value.fold:
            # The zone itself (not just today's offset) and the fold, so arithmetic agrees.
            zone = value.tzinfo.key if isinstance(value.tzinfo, zoneinfo.ZoneInfo) else None
            return {"zoned": [value.replace(tzinfo=None).isoformat(), zone, value.fold]}
        return {"datetime": value.isoformat()}
    if kind is datetime.date:
        return {"date": value.isoformat()}
    if kind is datetime.time:
        return {"time": value.isoformat()}
    if kind is uuid.UUID:
        return {"uuid": str(value)}
    if isinstance(value, Model):
        if value.pk is None or value._state.adding:
            raise PayloadError(
                f"cannot queue {path}: an unsaved {kind.__qualname__} (a worker loads model "
                "instances again by primary key)"
            )
        pk = _encode(value.pk, f"{path}.pk")
        return {"model": [value._meta.label_lower, pk, value._state.db or DEFAULT_DB_ALIAS]}
    if isinstance(value, Event) and kind._legacy_init:
        raise PayloadError(
            f"cannot queue {path}: {kind.__qualname__} writes its own __init__, so it cannot be "
            "rebuilt from its fields; declare its fields instead (class E(Event): field: type)"
        )
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if "<locals>" in kind.__qualname__:
            raise PayloadError(f"cannot queue {path}: {kind.__qualname__} is defined inside a function")
        names = _init_fields(kind)
        if isinstance(names, str):
            raise PayloadError(f"cannot queue {path}: {kind.__qualname__} {names}")
        fields = {name: _encode(getattr(value, name), f"{path}.{name}") for name in names}
        return {"dataclass": [f"{kind.__module__}:{kind.__qualname__}", fields]}
    raise PayloadError(
        f"cannot queue {path}: {value!r} is a {kind.__module__}.{kind.__qualname__}, which has no JSON "
        f"form here; queued handlers take {SUPPORTED}"
    )


def _decode(value: Any) -> Any:
    if type(value) is list:
        return [_decode(item) for item in value]
    if type(value) is not dict:
        return value
    ((tag, data),) = value.items()
    if tag == "tuple":
        return tuple(_decode(item) for item in data)
    if tag == "dict":
        return {key: _decode(item) for key, item in data.items()}
    if tag == "decimal":
        return decimal.Decimal(data)
    if tag == "float":
        return float(data)
    if tag == "datetime":
        return datetime.datetime.fromisoformat(data)
    if tag == "zoned":
        naive, zone, fold = data
        tz = None if zone is None else zoneinfo.ZoneInfo(zone)
        return datetime.datetime.fromisoformat(naive).replace(tzinfo=tz, fold=fold)
    if tag == "date":
        return datetime.date.fromisoformat(data)
    if tag == "time":
        return datetime.time.fromisoformat(data)
    if tag == "uuid":
        return uuid.UUID(data)
    if tag == "model":
        return _load(data[0], _decode(data[1]), data[2])
    if tag == "dataclass":
        cls = _imported_class(data[0])
        return cls(**{key: _decode(item) for key, item in data[1].items()})
    raise PayloadError(f"unknown payload tag {tag!r}")


def _load(label: str, pk: Any, database: str) -> Model:
    """The row again, from the database it was saved to (the base manager: no default filters)."""
    from django.apps import apps

    model = apps.get_model(label)
    if database not in settings.DATABASES:
        raise MissingInstance(
            f"{model._meta.label} with pk={pk!r} was saved to database {database!r}, which this "
            "worker's DATABASES does not have"
        )
    try:
        instance: Model = model._base_manager.using(database).get(pk=pk)
    except model.DoesNotExist:
        raise MissingInstance(
            f"{model._meta.label} with pk={pk!r} no longer exists (database {database!r})"
        ) from None
    return instance


_init_fields_cache: dict[type, tuple[str, ...] | str] = {}


def _init_fields(cls: type) -> tuple[str, ...] | str:
    """The fields a dataclass's ``__init__`` takes, or why it cannot be rebuilt from them."""
    found = _init_fields_cache.get(cls)
    if found is None:
        names = tuple(f.name for f in dataclasses.fields(cls) if f.init)
        extra = [p for p in inspect.signature(cls).parameters if p not in names]
        found = _init_fields_cache[cls] = (
            f"takes {', '.join(extra)} in __init__ without keeping it as a field (an InitVar), "
            "so it cannot be rebuilt from its fields"
            if extra
            else names
        )
    return found


def _imported_class(path: str) -> type:
    """The dataclass at ``module:qualname``, from a module the worker already imported."""
    module_name, _, qualname = path.partition(":")
    found: Any = sys.modules.get(module_name)
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if not (isinstance(found, type) and dataclasses.is_dataclass(found)):
        raise PayloadError(
            f"payload names {path!r}, which is not a dataclass of a module this worker imported"
        )
    return found
