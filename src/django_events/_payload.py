"""Payloads of queued handlers: JSON text, signed, decoded by the handler's declared types.

Encoding runs in the caller, at dispatch, before any handler of the event runs. It walks
each value with the type that will read it in the worker (an Event by its fields'
annotations, a pattern handler's arguments as untyped values), and a value that does not
fit is a ``PayloadError`` there, naming its place (``OrderPaid.order``, ``event 'x'
args[0]``). JSON values pass as they are; the others become a one-key object whose key
names the form (``{"decimal": "9.50"}``).

Decoding, in the worker, starts from the registration that will run. A typed handler's
Event class and its fields' annotations say what each value may be: a model field only an
instance of that model (or of a subclass), loaded again by primary key; a dataclass field
only the declared class (or a subclass). The classes considered are the declared one and
its subclasses, compared with the names the payload gives: nothing is imported, and
nothing is looked up by a name found in the payload. A pattern handler declares no types:
it gets JSON values, the tagged scalars and containers, saved model instances (of the
event's model only, for a model event), and the dispatched Event itself (a class of the
event's name, or a subclass of one).

A task carries the handler's path, its target, the event name, the payload and the
attempt, and an HMAC of them all (``django.core.signing``: the project's ``SECRET_KEY``,
``SECRET_KEY_FALLBACKS`` honoured); the worker checks it before it reads anything else.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import inspect
import json
import math
import sys
import types
import typing
import uuid
import zoneinfo
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Final, TypeGuard

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.signing import BadSignature, Signer
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model

from ._events import Event, path_from_class
from .exceptions import MissingInstance, PayloadError, RefusedTask

__all__ = ["MAX_DEPTH", "SALT", "decode", "encode", "sign", "verify"]

#: The most lists, tuples, dicts and dataclasses (an Event is one) nested in a payload.
MAX_DEPTH: Final = 100
#: The salt of task signatures: a signature made by Django for anything else never fits.
SALT: Final = "django_events.tasks.deliver"

SUPPORTED: Final = (
    "None, bool, int, float, str, list, tuple, dict with str keys, Decimal, datetime, date, "
    "time, UUID, saved model instances, and dataclasses where a field declares their class"
)

_COMPACT: Final = (",", ":")


# -- signing ------------------------------------------------------------------------------


def _message(handler: object, target: object, name: object, payload: object, attempt: object) -> str:
    """What a task's signature covers: every other argument of the task, as one JSON text."""
    return json.dumps([handler, target, name, payload, attempt], separators=_COMPACT)


def sign(handler: str, target: str, name: str, payload: str, attempt: int) -> str:
    """The signature of one task (the project's ``SECRET_KEY``, this library's salt)."""
    return Signer(salt=SALT).signature(_message(handler, target, name, payload, attempt))


def verify(
    handler: object, target: object, name: object, payload: object, attempt: object, signature: object
) -> None:
    """A RefusedTask unless ``signature`` signs exactly these arguments with ``SECRET_KEY`` or
    one of ``SECRET_KEY_FALLBACKS``."""
    try:
        if type(signature) is not str:
            raise BadSignature(f"a signature must be a str, got {short(signature)}")
        Signer(salt=SALT).unsign(f"{_message(handler, target, name, payload, attempt)}:{signature}")
    except (BadSignature, TypeError, ValueError, RecursionError):  # (JSON could not write them)
        raise RefusedTask(
            f"refused a task for handler {short(handler)}, target {short(target)} and event "
            f"{short(name)}: its signature does not verify with this worker's SECRET_KEY or "
            "SECRET_KEY_FALLBACKS (a forged or altered task, or one signed with another key)"
        ) from None


def short(value: object) -> str:
    """A value's repr, cut short (values from a task may be of any size)."""
    shown = repr(value)
    return shown if len(shown) <= 120 else f"{shown[:117]}..."


# -- where a value does not fit -----------------------------------------------------------


class Mismatch(Exception):
    """A value that does not fit its type; each level adds its step to the place on the way
    out (``.order``, ``[2]``), so that the walk pays nothing for paths until one fails.
    ``shallow``: the value is not of the type's form at all (a union then says so itself)."""

    def __init__(self, reason: str, *, shallow: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.shallow = shallow
        self.steps: list[str] = []  # innermost first

    def at(self, step: str) -> Mismatch:
        self.steps.append(step)
        return self

    def place(self) -> str:
        steps = self.steps[::-1]
        return "".join(steps) if len(steps) <= 6 else f"{''.join(steps[:3])}..."


class Refusal(Mismatch):
    """A value that no type takes (too many digits, nested too deeply, unsaved): a union
    tries its next member after a Mismatch, never after a Refusal."""


def _too_deep() -> Refusal:
    return Refusal(
        f"values nested more than {MAX_DEPTH} levels deep (lists, tuples, dicts and dataclasses), "
        "or a value that contains itself"
    )


def _int(value: int) -> int:
    """An int that JSON can write and a worker can read (``sys.get_int_max_str_digits()``)."""
    limit = sys.get_int_max_str_digits()
    if limit and value.bit_length() > 3 * limit and abs(value) >= 10**limit:  # 8**n < 10**n
        raise Refusal(
            f"an int of more than {limit} digits (sys.get_int_max_str_digits()), which JSON cannot carry"
        )
    return value


# -- scalars ------------------------------------------------------------------------------


def _zone_key(tz: datetime.tzinfo | None) -> str | None:
    """The key of a ZoneInfo zone that a worker loads by that key, else None."""
    if isinstance(tz, zoneinfo.ZoneInfo) and tz.key is not None:
        try:
            zoneinfo.ZoneInfo(tz.key)  # (cached) a zone read from a file may carry any key
        except (ValueError, zoneinfo.ZoneInfoNotFoundError):
            return None
        return tz.key
    return None


def _encode_clock(tag: str) -> Callable[[Any], Any]:
    """A datetime or time as ``[isoformat, fold]``, or ``[isoformat without offset, fold,
    zone key]`` in a named zone (so that arithmetic agrees): any other tzinfo travels as the
    fixed offset its isoformat writes."""

    def encode_clock(value: datetime.datetime | datetime.time) -> Any:
        key = _zone_key(value.tzinfo)
        if key is None:
            return {tag: [value.isoformat(), value.fold]}
        return {tag: [value.replace(tzinfo=None).isoformat(), value.fold, key]}

    return encode_clock


_SCALARS: Final[dict[type, Callable[[Any], Any]]] = {
    decimal.Decimal: lambda value: {"decimal": str(value)},
    datetime.datetime: _encode_clock("datetime"),
    datetime.date: lambda value: {"date": value.isoformat()},
    datetime.time: _encode_clock("time"),
    uuid.UUID: lambda value: {"uuid": str(value)},
}


def _encode_scalar(value: Any, untyped: _Untyped) -> Any:
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        return _int(value)
    if kind is float:
        # JSON has no NaN or infinity (a database backend refuses such a row): tag them.
        return value if math.isfinite(value) else {"float": repr(value)}
    scalar = _SCALARS.get(kind)
    if scalar is None:
        raise Mismatch(untyped.no_form(value))
    return scalar(value)


def _decode_clock(parse: Callable[[str], Any]) -> Callable[[Any], Any]:
    def decode_clock(data: Any) -> Any:
        if not (type(data) is list and len(data) in (2, 3) and type(data[0]) is str and data[1] in (0, 1)):
            raise ValueError("expected [isoformat, fold] or [isoformat, fold, zone key]")
        value = parse(data[0])
        if len(data) == 3:
            if type(data[2]) is not str or value.tzinfo is not None:
                raise ValueError("expected a zone key after a time without offset")
            value = value.replace(tzinfo=zoneinfo.ZoneInfo(data[2]))
        return value.replace(fold=data[1])

    return decode_clock


def _decode_text(parse: Callable[[str], Any]) -> Callable[[Any], Any]:
    def decode_text(data: Any) -> Any:
        if type(data) is not str:
            raise ValueError("expected a str")
        return parse(data)

    return decode_text


def _decode_float(data: Any) -> float:
    if data not in ("nan", "inf", "-inf"):
        raise ValueError("expected 'nan', 'inf' or '-inf'")
    return float(data)


_SCALAR_TAGS: Final[dict[str, Callable[[Any], Any]]] = {
    "decimal": _decode_text(decimal.Decimal),
    "float": _decode_float,
    "datetime": _decode_clock(datetime.datetime.fromisoformat),
    "date": _decode_text(datetime.date.fromisoformat),
    "time": _decode_clock(datetime.time.fromisoformat),
    "uuid": _decode_text(uuid.UUID),
}
_OTHER_TAGS: Final = ("tuple", "dict", "model", "dataclass")


def _tagged(wire: Any) -> tuple[str, Any]:
    """The tag and the data of a one-key object."""
    if type(wire) is not dict or len(wire) != 1:
        raise Mismatch(f"{short(wire)} is not a value of a payload", shallow=True)
    ((tag, data),) = wire.items()
    return tag, data


def _decode_scalar(wire: Any) -> Any:
    """A JSON scalar, or a tagged one; never a container, a model or a dataclass."""
    if wire is None or type(wire) in (bool, int, float, str):
        return wire
    tag, data = _tagged(wire)
    parse = _SCALAR_TAGS.get(tag)
    if parse is None:
        reason = f"a {tag} where a scalar is declared" if tag in _OTHER_TAGS else f"unknown tag {tag!r}"
        raise Mismatch(reason, shallow=True)
    try:
        return parse(data)
    except (ValueError, TypeError, ArithmeticError, LookupError) as exc:  # LookupError: no such zone
        raise Mismatch(f"a {tag} that cannot be read from {short(data)}: {exc}") from None


# -- types --------------------------------------------------------------------------------


class _Type:
    """What one place of a payload may hold: how its values are written, and read back."""

    #: How messages name it.
    name = "any value"

    def encode(self, value: Any, depth: int) -> Any:
        raise NotImplementedError  # pragma: no cover

    def decode(self, wire: Any, depth: int) -> Any:
        raise NotImplementedError  # pragma: no cover

    def mismatch(self, value: object) -> Mismatch:
        """A value to encode that is not of this type."""
        return Mismatch(
            f"{short(value)} ({type(value).__name__}) is not {self.name}, the declared type", shallow=True
        )

    def wrong(self, wire: object) -> Mismatch:
        """Something to decode that is not of this type's form."""
        return Mismatch(f"{short(wire)} where {self.name} is declared", shallow=True)

    def tagged(self, wire: Any, tag: str) -> Any:
        """The data of ``{tag: data}``; anything else is wrong here."""
        if type(wire) is not dict or len(wire) != 1 or tag not in wire:
            raise self.wrong(wire)
        return wire[tag]


def _items(items: Sequence[Any], of: Callable[[int], _Type], depth: int, way: str) -> list[Any]:
    """Each item through its type's ``encode`` or ``decode`` (``way``); a Mismatch names the
    item's place."""
    if depth >= MAX_DEPTH:
        raise _too_deep()
    converted = []
    i = 0
    try:
        for i, item in enumerate(items):
            converted.append(getattr(of(i), way)(item, depth + 1))
    except Mismatch as exc:
        raise exc.at(f"[{i}]") from None
    return converted


def _encode_items(items: list[Any] | tuple[Any, ...], of: Callable[[int], _Type], depth: int) -> list[Any]:
    return _items(items, of, depth, "encode")


def _decode_items(wire: list[Any], of: Callable[[int], _Type], depth: int) -> list[Any]:
    return _items(wire, of, depth, "decode")


def _entries(mapping: dict[str, Any], item: _Type, depth: int, way: str) -> dict[str, Any]:
    """Each value through its type's ``encode`` or ``decode`` (``way``); a Mismatch names
    the key."""
    if depth >= MAX_DEPTH:
        raise _too_deep()
    converted = {}
    key = ""
    try:
        for key, entry in mapping.items():
            converted[key] = getattr(item, way)(entry, depth + 1)
    except Mismatch as exc:
        raise exc.at(f"[{key!r}]") from None
    return converted


def _encode_dict(value: dict[Any, Any], item: _Type, depth: int) -> dict[str, Any]:
    if depth < MAX_DEPTH and not all(type(key) is str for key in value):
        raise Refusal(f"a dict with keys other than str ({short(value)})")
    return _entries(value, item, depth, "encode")


def _decode_dict(data: Any, item: _Type, depth: int) -> dict[str, Any]:
    if type(data) is not dict:
        raise Mismatch(f"a dict of {short(data)}")
    return _entries(data, item, depth, "decode")


class _Untyped(_Type):
    """A place that declares no type (``Any``, ``object``, a pattern handler's argument):
    JSON values, the tagged scalars, and lists, tuples and dicts of them; model instances
    only with ``models`` (a pattern handler's arguments), dataclasses never."""

    def __init__(self, models: _ModelType | None, rule: str) -> None:
        self.models = models
        self.rule = rule  # why a dataclass (or a model instance) cannot go here

    def encode(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if kind is list:
            return _encode_items(value, self.of, depth)
        if kind is tuple:
            return {"tuple": _encode_items(value, self.of, depth)}
        if kind is dict:
            return {"dict": _encode_dict(value, self, depth)}
        if self.models is not None and isinstance(value, Model):
            return self.models.encode(value, depth)
        return _encode_scalar(value, self)

    def of(self, i: int) -> _Type:
        return self

    def decode(self, wire: Any, depth: int) -> Any:
        if type(wire) is list:
            return _decode_items(wire, self.of, depth)
        if type(wire) is dict and len(wire) == 1:
            tag, data = _tagged(wire)
            if tag == "tuple" and type(data) is list:
                return tuple(_decode_items(data, self.of, depth))
            if tag == "dict":
                return _decode_dict(data, self, depth)
            if tag == "model" and self.models is not None:
                return self.models.decode(wire, depth)
            if tag in ("model", "dataclass"):
                raise Mismatch(f"a {tag} where no class is declared", shallow=True)
        return _decode_scalar(wire)

    def no_form(self, value: object) -> str:
        kind = type(value)
        if isinstance(value, Model) or (dataclasses.is_dataclass(value) and not isinstance(value, type)):
            return f"{short(value)} is a {kind.__module__}.{kind.__qualname__}: {self.rule}"
        # (a SafeString, an IntEnum's member, freezegun's datetime...: it would come back plain)
        plain = next((base for base in (*_SUBCLASSED, *_SCALARS) if isinstance(value, base)), None)
        if plain is not None:
            name = plain.__name__
            if isinstance(value, enum.Enum):
                what, convert = "an Enum member", "its .value"
            else:
                what = f"{'an' if name[0] == 'i' else 'a'} {name} subclass"
                convert = f"{name}(value)" if plain in _SUBCLASSED else f"a plain {name}"
            return (
                f"{short(value)} is a {kind.__module__}.{kind.__qualname__}, {what}, which would reach "
                f"the handler as a plain {name}; pass {convert} to queue it"
            )
        return (
            f"{short(value)} is a {kind.__module__}.{kind.__qualname__}, which has no JSON form here; "
            f"queued handlers take {SUPPORTED}"
        )


#: Types whose subclasses' instances are refused (the worker could only build the base class).
_SUBCLASSED: Final = (str, int, float, list, tuple, dict)


#: ``Any`` and ``object`` in an Event: no model instance, no dataclass (no class is declared).
ANY: Final = _Untyped(
    None,
    "an Event carries model instances and dataclasses only in fields whose type declares their class",
)


class _ScalarType(_Type):
    """``int``, ``str``, ``Decimal``, ``datetime``, ``None``...: an instance of the class (an
    int where a float is declared, a datetime where a date is, as typing allows)."""

    def __init__(self, name: str, accepts: tuple[type, ...]) -> None:
        self.name = name
        self.accepts = accepts

    def encode(self, value: Any, depth: int) -> Any:
        if not isinstance(value, self.accepts):
            raise self.mismatch(value)
        return _encode_scalar(value, ANY)

    def decode(self, wire: Any, depth: int) -> Any:
        value = _decode_scalar(wire)
        if not isinstance(value, self.accepts):
            raise self.mismatch(value)
        return value


class _ClassType(_Type):
    """Another class (``Sequence``, an ABC...): an untyped value that is an instance of it."""

    def __init__(self, cls: type) -> None:
        self.name = cls.__qualname__
        self.cls = cls

    def encode(self, value: Any, depth: int) -> Any:
        if not isinstance(value, self.cls):
            raise self.mismatch(value)
        return ANY.encode(value, depth)

    def decode(self, wire: Any, depth: int) -> Any:
        value = ANY.decode(wire, depth)
        if not isinstance(value, self.cls):
            raise self.mismatch(value)
        return value


class _LiteralType(_Type):
    def __init__(self, values: tuple[Any, ...]) -> None:
        self.name = f"one of {', '.join(map(repr, values))}"
        self.values = values

    def _fits(self, value: object) -> bool:
        return any(type(value) is type(v) and value == v for v in self.values)

    def encode(self, value: Any, depth: int) -> Any:
        if not self._fits(value):
            raise self.mismatch(value)
        return _encode_scalar(value, ANY)

    def decode(self, wire: Any, depth: int) -> Any:
        value = _decode_scalar(wire)
        if not self._fits(value):
            raise self.mismatch(value)
        return value


class _ListType(_Type):
    def __init__(self, item: _Type, name: str) -> None:
        self.item = item
        self.name = name

    def of(self, i: int) -> _Type:
        return self.item

    def encode(self, value: Any, depth: int) -> Any:
        if type(value) is not list:
            raise self.mismatch(value)
        return _encode_items(value, self.of, depth)

    def decode(self, wire: Any, depth: int) -> Any:
        if type(wire) is not list:
            raise self.wrong(wire)
        return _decode_items(wire, self.of, depth)


class _TupleType(_Type):
    """``tuple[X, ...]`` (``items`` None: every item is ``rest``) or ``tuple[X, Y]``."""

    def __init__(self, items: tuple[_Type, ...] | None, rest: _Type, name: str) -> None:
        self.items = items
        self.rest = rest
        self.name = name

    def of(self, i: int) -> _Type:
        return self.rest if self.items is None else self.items[i]

    def _fits(self, size: int) -> bool:
        return self.items is None or len(self.items) == size

    def encode(self, value: Any, depth: int) -> Any:
        if type(value) is not tuple or not self._fits(len(value)):
            raise self.mismatch(value)
        return {"tuple": _encode_items(value, self.of, depth)}

    def decode(self, wire: Any, depth: int) -> Any:
        data = self.tagged(wire, "tuple")
        if type(data) is not list or not self._fits(len(data)):
            raise self.wrong(wire)
        return tuple(_decode_items(data, self.of, depth))


class _DictType(_Type):
    def __init__(self, item: _Type, name: str) -> None:
        self.item = item
        self.name = name

    def encode(self, value: Any, depth: int) -> Any:
        if type(value) is not dict:
            raise self.mismatch(value)
        return {"dict": _encode_dict(value, self.item, depth)}

    def decode(self, wire: Any, depth: int) -> Any:
        return _decode_dict(self.tagged(wire, "dict"), self.item, depth)


class _UnionType(_Type):
    """``X | Y``: the first member that takes the value, in the order declared."""

    def __init__(self, members: tuple[_Type, ...], name: str) -> None:
        self.members = members
        self.name = name

    def encode(self, value: Any, depth: int) -> Any:
        return self._first(lambda member: member.encode(value, depth), lambda: self.mismatch(value))

    def decode(self, wire: Any, depth: int) -> Any:
        return self._first(lambda member: member.decode(wire, depth), lambda: self.wrong(wire))

    def _first(self, call: Callable[[_Type], Any], none: Callable[[], Mismatch]) -> Any:
        """The first member's result; when none takes the value, the error of a member whose
        form it has (``Positive(...) raised ...``), else the union's own."""
        deep: Mismatch | None = None
        for member in self.members:
            try:
                return call(member)
            except Refusal:
                raise
            except Mismatch as exc:
                deep = deep or (None if exc.shallow else exc)
        raise deep or none()


def _subclasses(cls: type) -> Iterator[type]:
    """``cls`` and every subclass of it defined so far."""
    seen = {cls}
    todo = [cls]
    while todo:
        found = todo.pop()
        yield found
        sub: type
        for sub in type.__subclasses__(found):
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)


class _ModelType(_Type):
    """A model class: a saved instance of it or of a subclass, written as label, primary
    key and database alias, and loaded again by primary key from that database."""

    def __init__(self, model: type[Model]) -> None:
        self.model = model
        self.name = "a model" if model is Model else model._meta.label

    def encode(self, value: Any, depth: int) -> Any:
        if not isinstance(value, self.model):
            raise self.mismatch(value)
        kind = type(value)
        if value.pk is None or value._state.adding:
            raise Refusal(
                f"an unsaved {kind.__qualname__} (a worker loads model instances again by primary key)"
            )
        try:
            pk = ANY.encode(value.pk, depth)
        except Mismatch as exc:
            raise exc.at(".pk") from None
        return {"model": [kind._meta.label_lower, pk, value._state.db or DEFAULT_DB_ALIAS]}

    def decode(self, wire: Any, depth: int) -> Any:
        data = self.tagged(wire, "model")
        if not (type(data) is list and len(data) == 3 and type(data[0]) is str and type(data[2]) is str):
            raise Mismatch(f"a model of {short(data)}; expected [label, primary key, database alias]")
        label, pk, database = data
        return _load(self._model(label), ANY.decode(pk, depth), database)

    def _model(self, label: str) -> type[Model]:
        """The model of that label among the declared one and its subclasses."""
        from django.apps import apps

        for model in _subclasses(self.model):
            meta = getattr(model, "_meta", None)  # (Model itself has none)
            # Migrations' historical models share the label: only the registry's count.
            if meta is not None and meta.label_lower == label and meta.apps is apps and not meta.abstract:
                return model
        raise Mismatch(f"a {label!r} instance where {self.name} (or a subclass) is declared", shallow=True)


def _load(model: type[Model], pk: Any, database: str) -> Model:
    """The row again, from the database it was saved to (the base manager: no default filters)."""
    if database not in settings.DATABASES:
        raise MissingInstance(
            f"{model._meta.label} with pk={pk!r} was saved to database {database!r}, which this "
            "worker's DATABASES does not have"
        )
    try:
        instance: Model = model._base_manager.using(database).get(pk=pk)
    except ObjectDoesNotExist:
        raise MissingInstance(
            f"{model._meta.label} with pk={pk!r} no longer exists (database {database!r})"
        ) from None
    except (ValueError, TypeError, ValidationError) as exc:
        raise Mismatch(f"a primary key {short(pk)} that {model._meta.label} does not take: {exc}") from None
    return instance


def _path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


class _DataclassType(_Type):
    """A dataclass (an Event among them): an instance of it or of a subclass, written as its
    class's path and its fields, each written and read by its own declared type."""

    def __init__(self, cls: type) -> None:
        self.cls = cls
        self.name = cls.__qualname__

    def encode(self, value: Any, depth: int) -> Any:
        if not isinstance(value, self.cls):
            raise self.mismatch(value)
        if depth >= MAX_DEPTH:
            raise _too_deep()
        path, fields = _fields(type(value))
        encoded = {}
        name = ""
        try:
            for name, field in fields:
                encoded[name] = field.encode(getattr(value, name), depth + 1)
        except Mismatch as exc:
            raise exc.at(f".{name}") from None
        return {"dataclass": [path, encoded]}

    def decode(self, wire: Any, depth: int) -> Any:
        data = self.tagged(wire, "dataclass")
        if not (type(data) is list and len(data) == 2 and type(data[0]) is str and type(data[1]) is dict):
            raise Mismatch(f"a dataclass of {short(data)}; expected [class path, fields]")
        if depth >= MAX_DEPTH:
            raise _too_deep()
        path, values = data
        cls = self._class(path)
        _, fields = _fields(cls)
        names = {name for name, _ in fields}
        # A field with a default may be missing: the task was written before the class
        # gained it (a deploy while tasks wait); the class's own default fills it.
        if not (values.keys() <= names and names - values.keys() <= _defaulted(cls)):
            raise Mismatch(
                f"{cls.__qualname__} takes the fields {', '.join(name for name, _ in fields) or 'none'}; "
                f"the payload gives {', '.join(map(repr, values)) or 'none'}"
            )
        kwargs = {}
        name = ""
        try:
            for name, field in fields:
                if name in values:
                    kwargs[name] = field.decode(values[name], depth + 1)
        except Mismatch as exc:
            raise exc.at(f".{name}") from None
        try:
            return cls(**kwargs)
        except Exception as exc:  # its __post_init__ refused the values
            raise Mismatch(f"{cls.__qualname__}(...) raised {type(exc).__name__}: {exc}") from exc

    def candidates(self) -> Iterator[type]:
        return _subclasses(self.cls)

    def _class(self, path: str) -> type:
        for cls in self.candidates():
            if dataclasses.is_dataclass(cls) and _path(cls) == path:
                return cls
        raise Mismatch(f"a {path!r} where {self.name} (or a subclass) is declared", shallow=True)


class _NamedEventType(_DataclassType):
    """What a pattern handler may get as the event: an Event class of the event's name (the
    dispatched instance's class, or a base of it), or a subclass of one."""

    def __init__(self, event_name: str) -> None:
        super().__init__(Event)
        self.event_name = event_name
        self.name = f"an Event named {event_name!r}"

    def candidates(self) -> Iterator[type]:
        for root in _subclasses(Event):
            if root is not Event and root.event_name == self.event_name:  # type: ignore[attr-defined]
                yield from _subclasses(root)


_fields_cache: dict[type, tuple[str, tuple[tuple[str, _Type], ...]] | str] = {}
_defaulted_cache: dict[type, frozenset[str]] = {}


def _defaulted(cls: type) -> frozenset[str]:
    """The fields of a dataclass's ``__init__`` that have a default (or a default factory)."""
    found = _defaulted_cache.get(cls)
    if found is None:
        found = _defaulted_cache[cls] = frozenset(
            f.name
            for f in dataclasses.fields(cls)
            if f.init
            and (f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING)
        )
    return found


def _fields(cls: type) -> tuple[str, tuple[tuple[str, _Type], ...]]:
    """A dataclass's path, and the fields its ``__init__`` takes with their types."""
    found = _fields_cache.get(cls)
    if found is None:
        found = _fields_cache[cls] = _plan(cls)
    if isinstance(found, str):
        raise Refusal(f"{cls.__qualname__} {found}")
    return found


def _plan(cls: type) -> tuple[str, tuple[tuple[str, _Type], ...]] | str:
    """The path and the typed fields of a dataclass, or why it cannot be rebuilt from them."""
    if issubclass(cls, Event) and cls._legacy_init:
        return (
            "writes its own __init__, so it cannot be rebuilt from its fields; declare its fields "
            "instead (class E(Event): field: type)"
        )
    names = tuple(f.name for f in dataclasses.fields(cls) if f.init)
    extra = [p for p in inspect.signature(cls).parameters if p not in names]
    if extra:
        return (
            f"takes {', '.join(extra)} in __init__ without keeping it as a field (an InitVar), "
            "so it cannot be rebuilt from its fields"
        )
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except Exception as exc:  # a NameError: a type imported only under TYPE_CHECKING
        return (
            f"has field types that cannot be resolved at run time ({type(exc).__name__}: {exc}); "
            "a worker reads each field by its declared type"
        )
    return _path(cls), tuple((name, type_of(hints[name])) for name in names)


_types_cache: dict[Any, _Type] = {}


def type_of(annotation: Any) -> _Type:
    """The type that writes and reads the values of an annotation."""
    try:
        found = _types_cache.get(annotation)
    except TypeError:  # unhashable: Annotated[...] with a list in it
        return _type_of(annotation)
    if found is None:
        found = _types_cache[annotation] = _type_of(annotation)
    return found


_SCALAR_CLASSES: Final[dict[Any, tuple[type, ...]]] = {
    type(None): (type(None),),
    bool: (bool,),
    int: (int,),
    float: (float, int),
    str: (str,),
    decimal.Decimal: (decimal.Decimal,),
    datetime.datetime: (datetime.datetime,),
    datetime.date: (datetime.date,),
    datetime.time: (datetime.time,),
    uuid.UUID: (uuid.UUID,),
}


def _type_of(annotation: Any) -> _Type:
    if annotation is Any or annotation is object:
        return ANY
    name = _annotation_name(annotation)
    accepts = _SCALAR_CLASSES.get(annotation) if _is_class(annotation) else None
    if accepts is not None:
        return _ScalarType(name, accepts)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_of(args[0])
    if origin is typing.Union or origin is types.UnionType:
        return _UnionType(tuple(map(type_of, args)), name)
    if origin is typing.Literal:
        return _LiteralType(args)
    if annotation is list or origin is list:
        return _ListType(type_of(args[0]) if args else ANY, name)
    if annotation is dict or origin is dict:
        return _DictType(type_of(args[1]) if args else ANY, name)
    if annotation is tuple or origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _TupleType(None, type_of(args[0]), name)
        if args:
            return _TupleType(tuple(type_of(arg) for arg in args if arg != ()), ANY, name)
        return _TupleType(None, ANY, name)
    if isinstance(annotation, typing.NewType):
        return type_of(annotation.__supertype__)
    if _is_class(annotation):
        if issubclass(annotation, Model):
            return _ModelType(annotation)
        if dataclasses.is_dataclass(annotation):
            return _DataclassType(annotation)
        return _ClassType(annotation)
    if isinstance(origin, type):  # Sequence[int], set[str]...: the class, its items untyped
        return _ClassType(origin)
    return ANY  # a TypeVar...


def _is_class(annotation: Any) -> TypeGuard[type]:
    """A plain class (on Python 3.10, ``list[int]`` is an instance of ``type`` too)."""
    return isinstance(annotation, type) and typing.get_origin(annotation) is None


def _annotation_name(annotation: Any) -> str:
    """``Order | None``, ``list[Decimal]``: as the annotation was written, short names."""
    if annotation is type(None):
        return "None"
    if annotation is Ellipsis:
        return "..."
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(map(_annotation_name, args))
    if _is_class(annotation):
        return annotation.__qualname__
    if isinstance(origin, type) and args:
        return f"{origin.__qualname__}[{', '.join(map(_annotation_name, args))}]"
    return repr(annotation).replace("typing.", "")


# -- the payload --------------------------------------------------------------------------

#: A pattern handler's arguments: untyped values, and model instances of any model.
ARGUMENT: Final = _Untyped(
    _ModelType(Model),
    "a queued pattern handler declares no types, so it gets no dataclass but the Event "
    "dispatched; dispatch an Event whose field declares the class",
)

_event_types: dict[type, _DataclassType] = {}
_model_types: dict[type, _ModelType] = {}
#: The actions of model events (``_models.ACTIONS``: that module sits above this one).
MODEL_ACTIONS: Final = ("creating", "created", "updating", "updated", "deleting", "deleted")
#: Concrete models by the prefix of their events' names, ``events::db::<model path>``.
_model_events: dict[str, type[Model]] = {}


def _event_type(cls: type) -> _DataclassType:
    found = _event_types.get(cls)
    if found is None:
        found = _event_types[cls] = _DataclassType(cls)
    return found


def _model_of(name: str) -> _ModelType | None:
    """The type of the one argument of a model event (``events::db::...::Order::created``):
    an instance of that model."""
    if not name.startswith("events::db::"):
        return None
    prefix, _, action = name.rpartition("::")
    if action not in MODEL_ACTIONS:
        return None
    found = _model_events.get(prefix)
    if found is None:
        from django.apps import apps

        for model in apps.get_models():  # the installed models, by the names they emit
            if model._meta.concrete_model is model:
                _model_events[f"events::db::{path_from_class(model)}"] = model
        found = _model_events.get(prefix)
        if found is None:
            return None
    model_type = _model_types.get(found)
    if model_type is None:
        model_type = _model_types[found] = _ModelType(found)
    return model_type


def _event_of(args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any], name: str) -> type[Event] | None:
    """The class of the one Event instance dispatched under the name of its class or of one
    of its bases (what typed handlers get, and pattern handlers too), else None."""
    if len(args) != 1 or kwargs or not isinstance(args[0], Event):
        return None
    cls = type(args[0])
    if cls.event_name == name or any(
        issubclass(base, Event) and base.__dict__.get("event_name") == name for base in cls.__mro__
    ):
        return cls
    return None


def _arguments(name: str, args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any]) -> _Type:
    """The type of every argument of a dispatch by name (a model event: its model's)."""
    model = _model_of(name)
    if model is None:
        return ARGUMENT
    if len(args) != 1 or kwargs:
        raise Mismatch(f"a model event carries one argument, {model.name}; got {len(args) + len(kwargs)}")
    return model


def encode(args: tuple[Any, ...], kwargs: dict[str, Any], *, name: str) -> str:
    """The payload of a dispatch, ``{"args": [...], "kwargs": {...}}`` as JSON text; a
    PayloadError names the place of a value that cannot go there."""
    cls = _event_of(args, kwargs, name)
    root = f"event {name!r}" if cls is None else cls.__qualname__
    try:
        if cls is not None:
            wire: dict[str, Any] = {"args": [_event_type(cls).encode(args[0], 0)], "kwargs": {}}
        else:
            argument = _arguments(name, args, kwargs)
            root = f"event {name!r} args"
            encoded = _encode_items(args, lambda i: argument, -1)
            root = f"event {name!r} kwargs"
            wire = {"args": encoded, "kwargs": _encode_dict(kwargs, argument, -1)}
    except RecursionError:
        raise PayloadError(f"cannot queue {root}: {_too_deep().reason}") from None
    except Mismatch as exc:
        raise PayloadError(f"cannot queue {root}{exc.place()}: {exc.reason}") from None
    return json.dumps(wire, separators=_COMPACT)


def _no_constant(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


def decode(
    payload: str, target: str | type[Event], name: str, *, handler: str
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments for the handler registered for ``target``, from a verified payload; a
    RefusedTask names the place of what does not fit (``handler`` names it)."""
    where = "the payload"
    try:
        try:
            data = json.loads(payload, parse_constant=_no_constant)
        except ValueError as exc:  # an int longer than this worker reads, among others
            raise Mismatch(f"not JSON that this worker reads ({exc})") from None
        if not (type(data) is dict and data.keys() == {"args", "kwargs"}):
            raise Mismatch(f"{short(data)} is not {{'args': [...], 'kwargs': {{...}}}}")
        args, kwargs = data["args"], data["kwargs"]
        if type(args) is not list:
            raise Mismatch(f"its args must be a list, got {short(args)}")
        if type(kwargs) is not dict:
            raise Mismatch(f"its kwargs must be a dict, got {short(kwargs)}")
        where = "args"
        if not isinstance(target, str) and target._handler_adapter is None:
            # (Model and bulk events, typed as Created[Order], carry what their operation
            # dispatched under the name, as for the name's pattern handlers.)
            if len(args) != 1 or kwargs:
                raise Mismatch(
                    f"the handler takes one {target.__qualname__}, the payload gives {len(args)} args "
                    f"and {len(kwargs)} kwargs"
                )
            event_type = _event_type(target)
            return tuple(_decode_items(args, lambda i: event_type, -1)), {}
        if len(args) == 1 and not kwargs and type(args[0]) is dict and "dataclass" in args[0]:
            named = _NamedEventType(name)
            return tuple(_decode_items(args, lambda i: named, -1)), {}
        argument = _arguments(name, args, kwargs)
        decoded = tuple(_decode_items(args, lambda i: argument, -1))
        where = "kwargs"
        return decoded, _decode_dict(kwargs, argument, -1)
    except RecursionError:
        raise RefusedTask(f"refused a task for handler {handler}: {where}: {_too_deep().reason}") from None
    except Mismatch as exc:
        raise RefusedTask(
            f"refused a task for handler {handler}: {where}{exc.place()}: {exc.reason}"
        ) from None
