"""Event payloads as JSON, for handlers that run in a task worker (never pickle).

JSON values pass as they are; the other supported values become a one-key object whose
key names the type. A value with no JSON form fails in the caller, at dispatch, with the
path of the value (``OrderPaid.attachment``) and its type.

Decoding never imports anything: a dataclass (an Event, or one nested in an event) is
rebuilt only when its module is already imported in the worker, and a model instance is
loaded again by primary key.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import sys
import uuid
from typing import Any

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
    if len(args) == 1 and not kwargs and dataclasses.is_dataclass(args[0]):
        event = args[0]
        return {"args": [_encode(event, type(event).__qualname__)], "kwargs": {}}
    return {
        "args": [_encode(value, f"{where} args[{i}]") for i, value in enumerate(args)],
        "kwargs": {key: _encode(value, f"{where} kwargs[{key!r}]") for key, value in kwargs.items()},
    }


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
        return value
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
        return {"datetime": value.isoformat()}
    if kind is datetime.date:
        return {"date": value.isoformat()}
    if kind is datetime.time:
        return {"time": value.isoformat()}
    if kind is uuid.UUID:
        return {"uuid": str(value)}
    if isinstance(value, Model):
        if value.pk is None:
            raise PayloadError(f"cannot queue {path}: an unsaved {kind.__qualname__} (its pk is None)")
        return {"model": [value._meta.label_lower, _encode(value.pk, f"{path}.pk")]}
    if isinstance(value, Event) and kind._legacy_init:
        raise PayloadError(
            f"cannot queue {path}: {kind.__qualname__} writes its own __init__, so it cannot be "
            "rebuilt from its fields; declare its fields instead (class E(Event): field: type)"
        )
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if "<locals>" in kind.__qualname__:
            raise PayloadError(f"cannot queue {path}: {kind.__qualname__} is defined inside a function")
        fields = {
            f.name: _encode(getattr(value, f.name), f"{path}.{f.name}")
            for f in dataclasses.fields(value)
            if f.init
        }
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
    if tag == "datetime":
        return datetime.datetime.fromisoformat(data)
    if tag == "date":
        return datetime.date.fromisoformat(data)
    if tag == "time":
        return datetime.time.fromisoformat(data)
    if tag == "uuid":
        return uuid.UUID(data)
    if tag == "model":
        return _load(data[0], _decode(data[1]))
    if tag == "dataclass":
        cls = _imported_class(data[0])
        return cls(**{key: _decode(item) for key, item in data[1].items()})
    raise PayloadError(f"unknown payload tag {tag!r}")


def _load(label: str, pk: Any) -> Model:
    from django.apps import apps

    model = apps.get_model(label)
    try:
        instance: Model = model._default_manager.get(pk=pk)
    except model.DoesNotExist:
        raise MissingInstance(f"{model._meta.label} with pk={pk!r} no longer exists") from None
    return instance


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
