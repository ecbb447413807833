"""Payloads of queued handlers: JSON both ways, exact round trips, errors that name the value."""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import uuid
import zoneinfo
from decimal import Decimal
from typing import Any

import pytest

from django_events import Event, PayloadError
from django_events._payload import decode, encode
from django_events.exceptions import MissingInstance
from tests.testapp.models import Customer, Ticket


@dataclasses.dataclass(frozen=True)
class Address:
    street: str
    zip_code: str


@dataclasses.dataclass
class WithDerived:
    base: int
    double: int = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.double = self.base * 2


@dataclasses.dataclass
class WithInitVar:
    value: int
    scale: dataclasses.InitVar[int] = 1

    def __post_init__(self, scale: int) -> None:
        self.value *= scale


class Shipped(Event, frozen=True):
    address: Address
    weight: float
    at: datetime.time


class Attached(Event):
    attachment: object


class LegacyPayload(Event):
    def __init__(self, value: int) -> None:
        self.value = value


def round_trip(args: tuple[Any, ...], kwargs: dict[str, Any] | None = None) -> tuple[Any, ...]:
    """Encode, pass through real JSON text as a task backend stores it, decode."""
    payload = encode(args, kwargs or {}, where="event 'x'")
    decoded_args, decoded_kwargs = decode(json.loads(json.dumps(payload)))
    return decoded_args, decoded_kwargs


VALUES = [
    None,
    True,
    0,
    -7,
    2.5,
    "text",
    [1, [2, "three"]],
    (1, ("nested", None)),
    {"a": [1, {"b": Decimal("0.10")}]},
    {"tuple": 1},  # a dict whose key is a tag name stays a dict
    Decimal("12.3400"),
    datetime.datetime(2026, 11, 25, 9, 30, 1, 5, tzinfo=datetime.timezone.utc),
    datetime.datetime(2026, 11, 25, 9, 30),  # naive stays naive
    datetime.date(2026, 11, 25),
    datetime.time(23, 59, 58, 1),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    Address("Main St 1", "1000"),
]


@pytest.mark.parametrize("value", VALUES, ids=[repr(v) for v in VALUES])
def test_values_round_trip_exactly_with_their_types(value: object) -> None:
    (args, kwargs) = round_trip((value,), {"again": value})
    assert args == (value,)
    assert kwargs == {"again": value}
    assert type(args[0]) is type(value)
    assert repr(args[0]) == repr(value)  # Decimal("12.3400") keeps its exponent


def test_an_event_round_trips_with_nested_dataclasses() -> None:
    event = Shipped(Address("Main St 1", "1000"), 1.25, datetime.time(8, 0))
    (args, kwargs) = round_trip((event,))
    assert args == (event,)
    assert kwargs == {}
    assert type(args[0].address) is Address


def test_fields_outside_init_are_computed_again() -> None:
    (args, _) = round_trip((WithDerived(21),))
    assert args[0].double == 42


@pytest.mark.django_db
def test_model_instances_are_sent_by_primary_key_and_loaded_again() -> None:
    ada = Customer.objects.create(name="Ada")
    payload = encode((ada,), {}, where="event 'x'")
    assert payload == {"args": [{"model": ["testapp.customer", ada.pk, "default"]}], "kwargs": {}}
    Customer.objects.filter(pk=ada.pk).update(name="Ada Lovelace")
    ((loaded,), _) = decode(payload)
    assert (type(loaded), loaded.pk, loaded.name) == (Customer, ada.pk, "Ada Lovelace")


@pytest.mark.django_db(databases=["default", "other"])
def test_model_instances_come_back_from_their_own_database() -> None:
    here = Customer.objects.create(name="here")
    there = Customer.objects.using("other").create(pk=here.pk, name="there")  # the same pk
    ((loaded,), _) = round_trip((there,))
    assert (loaded.pk, loaded.name, loaded._state.db) == (here.pk, "there", "other")


def test_a_database_the_worker_does_not_have_is_a_clear_error() -> None:
    payload = {"args": [{"model": ["testapp.customer", 1, "replica"]}], "kwargs": {}}
    with pytest.raises(MissingInstance, match="saved to database 'replica', which this worker's DATABASES"):
        decode(payload)


def test_non_finite_floats_and_zoned_datetimes_round_trip() -> None:
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    before_dst = datetime.datetime(2026, 3, 28, 12, 0, tzinfo=paris)
    repeated = datetime.datetime(2026, 10, 25, 2, 30, tzinfo=paris, fold=1)  # the second 02:30
    (args, _) = round_trip((float("nan"), float("inf"), float("-inf"), before_dst, repeated))
    assert math.isnan(args[0])
    assert args[1:3] == (float("inf"), float("-inf"))
    assert args[3].tzinfo is paris  # the zone, not only the offset: arithmetic agrees
    assert (args[3] + datetime.timedelta(days=1)).utcoffset() == datetime.timedelta(hours=2)
    assert (args[4].fold, args[4].utcoffset()) == (1, datetime.timedelta(hours=1))


def test_an_unsaved_instance_with_a_default_key_is_refused() -> None:
    with pytest.raises(PayloadError, match=r"kwargs\['ticket'\]: an unsaved Ticket \(a worker loads"):
        encode((), {"ticket": Ticket()}, where="event 'x'")  # its UUID pk is set, but no row yet


def test_a_self_referential_value_is_refused() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(PayloadError, match="cannot queue event 'x': a value contains itself"):
        encode((loop,), {}, where="event 'x'")


def test_a_dataclass_with_init_only_values_is_refused() -> None:
    with pytest.raises(PayloadError, match=r"args\[0\]: WithInitVar takes scale in __init__ without keeping"):
        encode((WithInitVar(1, scale=3),), {}, where="event 'x'")


def test_a_dataclass_class_is_not_an_instance() -> None:
    with pytest.raises(
        PayloadError, match=r"args\[0\]: <class 'tests.test_payload.Address'> is a builtins.type"
    ):
        encode((Address,), {}, where="event 'x'")


@pytest.mark.django_db
def test_a_deleted_row_is_a_clear_error() -> None:
    ada = Customer.objects.create(name="Ada")
    payload = encode((), {"customer": ada}, where="event 'x'")
    ada.delete()
    with pytest.raises(
        MissingInstance, match=r"testapp.Customer with pk=\d+ no longer exists \(database 'default'\)"
    ):
        decode(payload)


def test_an_unsaved_instance_is_refused() -> None:
    with pytest.raises(PayloadError, match=r"cannot queue event 'x' args\[0\]: an unsaved Customer"):
        encode((Customer(name="Ada"),), {}, where="event 'x'")


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (
            (object(),),
            {},
            r"cannot queue event 'x' args\[0\]: <object object at .*> is a builtins.object, which has no "
            r"JSON form here; queued handlers take None, bool, int",
        ),
        ((), {"when": {1: "a"}}, r"cannot queue event 'x' kwargs\['when'\]: a dict with keys other than str"),
        (([1, {2}],), {}, r"cannot queue event 'x' args\[0\]\[1\]: \{2\} is a builtins.set"),
        (((b"raw",),), {}, r"cannot queue event 'x' args\[0\]\[0\]: b'raw' is a builtins.bytes"),
    ],
)
def test_values_without_a_json_form_name_their_place(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(PayloadError, match=message):
        encode(args, kwargs, where="event 'x'")


def test_an_event_field_without_a_json_form_names_the_class_and_the_field() -> None:
    with pytest.raises(PayloadError, match=r"cannot queue Attached.attachment: \{'a'\} is a builtins.set"):
        encode((Attached({"a"}),), {}, where="event 'x'")


def test_a_dataclass_defined_in_a_function_is_refused() -> None:
    @dataclasses.dataclass
    class Local:
        x: int

    with pytest.raises(PayloadError, match=r"Local is defined inside a function"):
        encode((Attached(Local(1)),), {}, where="event 'x'")


def test_an_event_with_its_own_init_is_refused() -> None:
    with pytest.raises(PayloadError, match=r"LegacyPayload writes its own __init__"):
        encode((LegacyPayload(1),), {}, where="event 'x'")


def test_decoding_never_imports_a_module() -> None:
    payload = {"args": [{"dataclass": ["json.decoder:JSONDecodeError", {}]}], "kwargs": {}}
    with pytest.raises(PayloadError, match=r"names 'json.decoder:JSONDecodeError', which is not a dataclass"):
        decode(payload)
    payload = {"args": [{"dataclass": ["not_imported_anywhere:Thing", {}]}], "kwargs": {}}
    with pytest.raises(PayloadError, match=r"names 'not_imported_anywhere:Thing'"):
        decode(payload)


def test_an_unknown_tag_is_refused() -> None:
    with pytest.raises(PayloadError, match=r"unknown payload tag 'pickle'"):
        decode({"args": [{"pickle": "gASV"}], "kwargs": {}})
