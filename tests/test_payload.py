"""Payloads of queued handlers: signed, written and read by declared types, exact round trips,
errors that name the value and its place.

The worker side runs for real in tests/test_worker.py; here ``encode`` and ``decode`` are
called directly, with payloads written by hand for every way a task can be refused.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import enum
import json
import math
import numbers
import sys
import typing
import uuid
import zoneinfo
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, NewType, Optional, TypeVar, Union

import pytest
from django.apps import apps
from django.db.migrations.state import ProjectState
from django.test import override_settings
from django.utils.safestring import mark_safe

from django_events import Event, EventDispatcher, PayloadError
from django_events import _payload as payload_module
from django_events._models import ACTIONS
from django_events._payload import MAX_DEPTH, MODEL_ACTIONS, decode, encode, sign, type_of, verify
from django_events.exceptions import MissingInstance, RefusedTask
from tests.conftest import Recorder
from tests.testapp.models import Customer, Order, PriorityOrder, Ticket

T = TypeVar("T")
Cents = NewType("Cents", int)
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


@dataclasses.dataclass(frozen=True)
class Address:
    street: str
    zip_code: str


@dataclasses.dataclass(frozen=True)
class PostBox(Address):
    box: int = 0


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


@dataclasses.dataclass
class Positive:
    value: int

    def __post_init__(self) -> None:
        if self.value <= 0:
            raise ValueError(f"{self.value} is not positive")


@dataclasses.dataclass
class Node:
    child: Node | None = None


def chain(length: int) -> Node:
    node = Node()
    for _ in range(length - 1):
        node = Node(node)
    return node


class Shipped(Event, frozen=True):
    address: Address
    weight: float
    at: datetime.time


class Typed(Event):
    """One field per kind of annotation that a payload reads."""

    order: Order | None = None
    orders: list[Order] = dataclasses.field(default_factory=list)
    address: Address | None = None
    derived: WithDerived | None = None
    positive: Positive | None = None
    amount: Decimal = Decimal(0)
    weight: float = 0.0
    day: datetime.date | None = None
    when: Optional[datetime.datetime] = None  # noqa: UP045 (typing.Optional is read too)
    either: Union[int, str] = 0  # noqa: UP007 (typing.Union is read too)
    pair: tuple[int, str] = (0, "")
    many: tuple[Decimal, ...] = ()
    empty: tuple[()] = ()
    anything: tuple = ()  # type: ignore[type-arg]
    items: list = dataclasses.field(default_factory=list)  # type: ignore[type-arg]
    table: dict[str, Decimal] = dataclasses.field(default_factory=dict)
    raw: dict = dataclasses.field(default_factory=dict)  # type: ignore[type-arg]
    kind: Literal["a", "b"] = "a"
    noted: Annotated[int, "a note"] = 0
    cents: Cents = Cents(0)
    sequence: Sequence[int] = ()
    real: numbers.Real = 0  # type: ignore[assignment]
    node: Node | None = None
    generic: T | None = None  # type: ignore[valid-type]
    extra: Any = None
    unused: object = None


class Attached(Event):
    attachment: object


class LegacyPayload(Event):
    def __init__(self, value: int) -> None:
        self.value = value


class Unresolved(Event):
    when: NotImported  # type: ignore[name-defined]  # noqa: F821


class Renamed(Event):
    event_name = "payload::renamed"
    key: str


class RenamedChild(Renamed):
    event_name = "payload::renamed::child"


class Diamond(Event):
    key: str = ""


class DiamondLeft(Diamond):
    pass


class DiamondRight(Diamond):
    pass


class DiamondBoth(DiamondLeft, DiamondRight):
    pass


def text(args: tuple[Any, ...], kwargs: dict[str, Any] | None = None, name: str = "x") -> str:
    return encode(args, kwargs or {}, name=name)


def round_trip(
    args: tuple[Any, ...], kwargs: dict[str, Any] | None = None, name: str = "x"
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Encode for a pattern handler of ``name``, decode as the worker does."""
    return decode(text(args, kwargs, name), "re:.*", name, handler="h")


def typed_round_trip(event: Event) -> Any:
    """Encode an event, decode it for a handler typed for its class."""
    cls = type(event)
    ((decoded,), kwargs) = decode(text((event,), name=cls.event_name), cls, cls.event_name, handler="h")
    assert kwargs == {}
    return decoded


def refused(raw: Any, target: str | type[Event] = "re:.*", name: str = "x") -> str:
    """The message of a RefusedTask for a payload written by hand (a JSON text or a value)."""
    payload = raw if isinstance(raw, str) else json.dumps(raw)
    with pytest.raises(RefusedTask) as caught:
        decode(payload, target, name, handler="h")
    message = str(caught.value)
    assert message.startswith("refused a task for handler h: ")
    return message.removeprefix("refused a task for handler h: ")


def unqueueable(args: tuple[Any, ...], kwargs: dict[str, Any] | None = None, name: str = "x") -> str:
    with pytest.raises(PayloadError) as caught:
        encode(args, kwargs or {}, name=name)
    return str(caught.value)


# -- round trips --------------------------------------------------------------------------

VALUES = [
    None,
    True,
    0,
    -7,
    10**4300 - 1,  # as many digits as sys.get_int_max_str_digits() allows
    2.5,
    "text",
    [1, [2, "three"]],
    (1, ("nested", None)),
    {"a": [1, {"b": Decimal("0.10")}]},
    {"tuple": 1},  # a dict whose key is a tag name stays a dict
    Decimal("12.3400"),
    Decimal("NaN"),
    datetime.datetime(2026, 11, 25, 9, 30, 1, 5, tzinfo=datetime.timezone.utc),
    datetime.datetime(2026, 11, 25, 9, 30),  # naive stays naive
    datetime.datetime(2026, 11, 25, 9, 30, fold=1),
    datetime.date(2026, 11, 25),
    datetime.time(23, 59, 58, 1),
    datetime.time(23, 59, fold=1),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
]


@pytest.mark.parametrize("value", VALUES, ids=[repr(v)[:40] for v in VALUES])
def test_values_round_trip_exactly_with_their_types(value: object) -> None:
    (args, kwargs) = round_trip((value,), {"again": value})
    assert args == (value,) or value != value
    assert repr(args) == repr((value,))  # Decimal("12.3400") keeps its exponent, fold=1 stays
    assert repr(kwargs) == repr({"again": value})
    assert type(args[0]) is type(value)


def test_non_finite_floats_round_trip() -> None:
    (args, _) = round_trip((float("nan"), float("inf"), float("-inf")))
    assert math.isnan(args[0])
    assert args[1:] == (float("inf"), float("-inf"))


def paris_from_file(key: str | None = None) -> zoneinfo.ZoneInfo:
    """Paris's rules read from the tzdata file, with that key (None: no key, a zone that
    cannot be named)."""
    (path,) = [path for path in (Path(root, "Europe", "Paris") for root in zoneinfo.TZPATH) if path.exists()][
        :1
    ]
    with path.open("rb") as file:
        return zoneinfo.ZoneInfo.from_file(file, key=key)


def test_aware_datetimes_keep_offset_zone_and_fold() -> None:
    india = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    repeated = datetime.datetime(2026, 10, 25, 2, 30, tzinfo=PARIS, fold=1)  # the second 02:30
    values = (
        datetime.datetime(2026, 3, 28, 12, 0, tzinfo=PARIS),
        repeated,
        repeated.replace(tzinfo=datetime.timezone.utc),
        repeated.replace(tzinfo=india),
        repeated.replace(tzinfo=paris_from_file()),
        repeated.replace(tzinfo=paris_from_file("Not/A_Zone")),  # a key no worker can load
    )
    (args, _) = round_trip(values)
    assert args[0].tzinfo is PARIS  # the zone, not only its offset: arithmetic agrees
    assert (args[0] + datetime.timedelta(days=1)).utcoffset() == datetime.timedelta(hours=2)  # summer
    assert (args[1].tzinfo, args[1].fold, args[1].utcoffset()) == (PARIS, 1, datetime.timedelta(hours=1))
    assert (args[2].tzinfo, args[2].fold) == (datetime.timezone.utc, 1)
    assert (args[3].tzinfo, args[3].fold) == (india, 1)
    one_hour = datetime.timezone(datetime.timedelta(hours=1))  # its offset at the second 02:30
    assert (args[4].tzinfo, args[4].fold, args[4].replace(tzinfo=None)) == (
        one_hour,
        1,
        repeated.replace(tzinfo=None),
    )
    assert (args[5].tzinfo, args[5].fold) == (one_hour, 1)
    # The same instants (== says False across zones for a time in a fold: PEP 495).
    assert [a.timestamp() for a in args] == [v.timestamp() for v in values]


def test_times_keep_their_zone_offset_and_fold() -> None:
    india = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    values = (
        datetime.time(12, 0, tzinfo=PARIS, fold=1),
        datetime.time(12, 0, tzinfo=india, fold=1),
        datetime.time(12, 0, tzinfo=datetime.timezone.utc),
        datetime.time(12, 0, tzinfo=paris_from_file()),  # no offset without a date: naive to Python
    )
    (args, _) = round_trip(values)
    assert repr(args[:3]) == repr(values[:3])
    assert args[0].tzinfo is PARIS
    assert (args[3], args[3].tzinfo) == (datetime.time(12, 0), None)


def test_an_event_round_trips_with_nested_dataclasses() -> None:
    event = Shipped(Address("Main St 1", "1000"), 1.25, datetime.time(8, 0))
    assert typed_round_trip(event) == event
    assert type(typed_round_trip(event).address) is Address


def test_a_subclass_of_a_declared_class_comes_back_as_itself() -> None:
    event = Shipped(PostBox("Main St 1", "1000", box=7), 1, datetime.time(8, 0))  # an int is a float
    decoded = typed_round_trip(event)
    assert (type(decoded.address), decoded.address.box, type(decoded.weight)) == (PostBox, 7, int)


def test_fields_outside_init_are_computed_again() -> None:
    assert typed_round_trip(Typed(derived=WithDerived(21))).derived.double == 42


@pytest.mark.django_db
def test_every_kind_of_declared_type_round_trips() -> None:
    order = Order.objects.create()
    proxy = PriorityOrder.objects.get(pk=order.pk)
    event = Typed(
        order=proxy,  # a subclass (a proxy) of the declared model
        orders=[order, proxy],
        address=PostBox("a", "b", 1),
        positive=Positive(1),
        amount=Decimal("1.10"),
        weight=2,
        day=datetime.datetime(2026, 1, 1, tzinfo=PARIS),  # a datetime is a date
        when=datetime.datetime(2026, 1, 1),
        either="one",
        pair=(1, "x"),
        many=(Decimal(1), Decimal("2.0")),
        anything=(1, "a", [None]),
        items=[1, (2,)],
        table={"a": Decimal("0.5")},
        raw={"k": {"n": (1,)}},
        kind="b",
        noted=3,
        cents=Cents(5),
        sequence=[1, 2],
        real=2.5,  # type: ignore[arg-type]
        node=chain(MAX_DEPTH - 1),  # in the event: the limit
        generic=[1],
        extra={"deep": [Decimal(1)]},
        unused=(1,),
    )
    decoded = typed_round_trip(event)
    assert repr(decoded) == repr(event)
    assert [type(o) for o in (decoded.order, *decoded.orders)] == [PriorityOrder, Order, PriorityOrder]


@pytest.mark.django_db
def test_model_instances_are_sent_by_primary_key_and_loaded_again() -> None:
    ada = Customer.objects.create(name="Ada")
    payload = text((ada,))
    assert json.loads(payload) == {"args": [{"model": ["testapp.customer", ada.pk, "default"]}], "kwargs": {}}
    Customer.objects.filter(pk=ada.pk).update(name="Ada Lovelace")
    ((loaded,), _) = decode(payload, "re:.*", "x", handler="h")
    assert (type(loaded), loaded.pk, loaded.name) == (Customer, ada.pk, "Ada Lovelace")


@pytest.mark.django_db
def test_only_the_registrys_model_is_loaded_not_a_migrations_historical_one() -> None:
    historical = ProjectState.from_apps(apps).apps.get_model("testapp", "customer")
    assert historical._meta.label_lower == "testapp.customer"  # a subclass of Model too
    ticket = Ticket.objects.create(title="t")  # a UUID primary key
    ((loaded, customer), _) = round_trip((ticket, Customer.objects.create()))
    assert (type(loaded), loaded.pk, type(customer)) == (Ticket, ticket.pk, Customer)


@pytest.mark.django_db(databases=["default", "other"])
def test_model_instances_come_back_from_their_own_database() -> None:
    here = Customer.objects.create(name="here")
    there = Customer.objects.using("other").create(pk=here.pk, name="there")  # the same pk
    ((loaded,), _) = round_trip((there,))
    assert (loaded.pk, loaded.name, loaded._state.db) == (here.pk, "there", "other")


@pytest.mark.django_db
def test_a_model_event_carries_an_instance_of_its_model() -> None:
    name = "events::db::tests::testapp::models::Order::created"
    order = PriorityOrder.objects.create()  # a proxy emits the events of its concrete model
    ((loaded,), _) = round_trip((order,), name=name)
    assert (type(loaded), loaded.pk) == (PriorityOrder, order.pk)
    customer = Customer.objects.create()
    assert unqueueable((customer,), name=name) == (
        f"cannot queue event {name!r} args[0]: {customer!r} (Customer) is not testapp.Order, "
        "the declared type"
    )
    assert unqueueable((order, 1), name=name) == (
        f"cannot queue event {name!r}: a model event carries one argument, testapp.Order; got 2"
    )
    assert refused(
        {"args": [{"model": ["testapp.customer", customer.pk, "default"]}], "kwargs": {}}, name=name
    ) == ("args[0]: a 'testapp.customer' instance where testapp.Order (or a subclass) is declared")
    assert refused({"args": [1], "kwargs": {"k": 2}}, name=name) == (
        "args: a model event carries one argument, testapp.Order; got 2"
    )


def test_names_that_only_look_like_model_events_take_any_arguments() -> None:
    for name in (
        "events::db::tests::testapp::models::Order::archived",  # not an action
        "events::db::tests::testapp::models::Nothing::created",  # no such model
    ):
        assert round_trip((1, "two"), {"three": 3}, name=name) == ((1, "two"), {"three": 3})


def test_the_model_actions_are_those_of_model_events() -> None:
    assert MODEL_ACTIONS == ACTIONS


def test_a_pattern_handler_gets_the_dispatched_event_of_its_name_or_a_subclass() -> None:
    event = Renamed("k")
    assert round_trip((event,), name="payload::renamed") == ((event,), {})
    child = RenamedChild("c")  # dispatched under its parent's name (as typed handlers allow)
    assert round_trip((child,), name="payload::renamed") == ((child,), {})
    assert type(round_trip((child,), name="payload::renamed::child")[0][0]) is RenamedChild
    diamond = DiamondBoth("d")  # reached twice by the walk over subclasses
    assert round_trip((diamond,), name=Diamond.event_name) == ((diamond,), {})


# -- refused at dispatch, in the caller ---------------------------------------------------


def test_an_int_beyond_the_digits_limit_is_refused() -> None:
    digits = sys.get_int_max_str_digits()
    assert unqueueable((), {"n": [10**digits]}) == (
        f"cannot queue event 'x' kwargs['n'][0]: an int of more than {digits} digits "
        "(sys.get_int_max_str_digits()), which JSON cannot carry"
    )
    assert "Typed.either: an int of more than" in unqueueable(
        (Typed(either=-(10**digits)),), name=Typed.event_name
    )


def test_values_nested_deeper_than_the_limit_are_refused() -> None:
    deep: list[Any] = []
    for _ in range(MAX_DEPTH - 1):
        deep = [deep]
    text((deep,))  # MAX_DEPTH lists in one argument: the limit
    assert unqueueable(([deep],)) == (
        "cannot queue event 'x' args[0][0][0]...: values nested more than 100 levels "
        "deep (lists, tuples, dicts and dataclasses), or a value that contains itself"
    )
    for container in (tuple, lambda item: {"k": item}):
        nested: Any = 0
        for _ in range(MAX_DEPTH + 1):
            nested = container([nested]) if container is tuple else container(nested)
        assert "nested more than 100 levels deep" in unqueueable((nested,))


def test_a_self_referential_value_is_refused() -> None:
    loop: list[object] = []
    loop.append(loop)
    assert unqueueable((), {"loop": loop}).endswith("or a value that contains itself")


def test_a_value_nested_too_deeply_for_the_callers_stack_is_refused() -> None:
    nested: list[Any] = []
    for _ in range(50):
        nested = [nested]

    def deep_caller(levels: int) -> str:
        return text((nested,)) if levels == 0 else deep_caller(levels - 1)

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(list(_frames())) + 60)
    try:
        with pytest.raises(PayloadError, match=r"cannot queue event 'x' args: values nested more than 100"):
            deep_caller(10)
    finally:
        sys.setrecursionlimit(limit)


def _frames() -> Iterator[object]:
    frame = sys._getframe()
    while frame is not None:
        yield frame
        frame = frame.f_back  # type: ignore[assignment]


@pytest.mark.parametrize("mode", ["sync", "gevent"])
def test_payload_errors_come_before_any_handler_of_the_event_runs(mode: Any) -> None:
    d = EventDispatcher(mode=mode, raise_handler_errors=True)
    in_process = Recorder()
    d.register("shop.*", in_process)  # registered first, and still not called
    d.register("shop.*", queued_audit, queue=True)
    d.register(Attached, in_process)
    d.register(Attached, queued_receipt, queue=True, after_commit=True)
    deep: list[Any] = []
    for _ in range(490):
        deep = [deep]
    with pytest.raises(PayloadError, match=r"args\[0\]: an int of more than"):
        d.dispatch("shop.paid", 10**5000)
    with pytest.raises(PayloadError, match=r"args\[0\]\[0\]\[0\]...: values nested"):
        d.dispatch("shop.paid", deep)
    with pytest.raises(PayloadError, match=r"Attached.attachment: an int of more than"):
        d.dispatch(Attached(10**5000))
    d.clear_queue()
    assert in_process.calls == []


def queued_receipt(event: Attached) -> None:
    """A queued handler (module level: a worker finds it by dotted path)."""


def queued_audit(name: str, *args: object) -> None:
    """A queued pattern handler."""


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
        (
            ("x" * 200, object()),
            {},
            r"args\[1\]: <object object at 0x[0-9a-f]+> is a builtins.object",
        ),
        (
            (Address("a", "b"),),
            {},
            r"cannot queue event 'x' args\[0\]: Address\(street='a', zip_code='b'\) is a "
            r"tests.test_payload.Address: a queued pattern handler declares no types, so it gets no "
            r"dataclass but the Event dispatched; dispatch an Event whose field declares the class",
        ),
        (
            (Renamed("k"),),
            {},
            r"cannot queue event 'x' args\[0\]: Renamed\(key='k'\) is a tests.test_payload.Renamed: a queued "
            r"pattern handler declares no types",
        ),
        (
            (),
            {"text": "y" * 300, "value": {"z" * 300}},
            r"kwargs\['value'\]: \{'zzzz.*\.\.\. is a builtins.set",
        ),
    ],
)
def test_values_without_a_json_form_name_their_place(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(PayloadError, match=message):
        encode(args, kwargs, name="x")


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Pennies(int):
    pass


class Mail(Event):
    body: str


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            mark_safe("<b>hi</b>"),
            "is a django.utils.safestring.SafeString, a str subclass, which would reach the handler as "
            "a plain str; pass str(value) to queue it",
        ),
        (
            Level.HIGH,
            "is a tests.test_payload.Level, an Enum member, which would reach the handler as a plain "
            "int; pass its .value to queue it",
        ),
        (
            Pennies(5),
            "is a tests.test_payload.Pennies, an int subclass, which would reach the handler as a plain "
            "int; pass int(value) to queue it",
        ),
        (
            collections.OrderedDict(a=1),
            "is a collections.OrderedDict, a dict subclass, which would reach the handler as a plain "
            "dict; pass dict(value) to queue it",
        ),
    ],
    ids=["SafeString", "IntEnum", "int subclass", "OrderedDict"],
)
def test_a_subclass_of_a_json_type_is_refused_with_the_conversion_to_make(value: Any, message: str) -> None:
    """``render_to_string()`` returns a SafeString: the worker could build only a plain str
    (its mark_safe lost), so it is refused, and the message says what to pass instead."""
    assert unqueueable(("x", value)).endswith(f"args[1]: {payload_module.short(value)} {message}")
    assert unqueueable((Mail(body=mark_safe("<b>hi</b>")),), name=Mail.event_name).startswith(
        "cannot queue Mail.body: '<b>hi</b>' is a django.utils.safestring.SafeString, a str subclass"
    )


def test_a_plain_enum_member_has_no_json_form() -> None:
    assert "Colour.RED: 'red'> is a tests.test_payload.Colour, which has no JSON form" in unqueueable(
        (Colour.RED,)
    )


def test_a_value_of_another_type_than_declared_is_refused() -> None:
    cases = [
        (Typed(amount="9.50"), "Typed.amount: '9.50' (str) is not Decimal, the declared type"),  # type: ignore[arg-type]
        (Typed(pair=(1, 2)), "Typed.pair[1]: 2 (int) is not str, the declared type"),  # type: ignore[arg-type]
        (Typed(pair=(1,)), "Typed.pair: (1,) (tuple) is not tuple[int, str], the declared type"),  # type: ignore[arg-type]
        (Typed(orders=(1,)), "Typed.orders: (1,) (tuple) is not list[Order], the declared type"),  # type: ignore[arg-type]
        (Typed(table=[]), "Typed.table: [] (list) is not dict[str, Decimal], the declared type"),  # type: ignore[arg-type]
        (Typed(either=1.5), "Typed.either: 1.5 (float) is not int | str, the declared type"),  # type: ignore[arg-type]
        (Typed(kind="c"), "Typed.kind: 'c' (str) is not one of 'a', 'b', the declared type"),  # type: ignore[arg-type]
        (Typed(sequence={1}), "Typed.sequence: {1} (set) is not Sequence, the declared type"),  # type: ignore[arg-type]
        (Typed(address=Positive(1)), "Typed.address: Positive(value=1) (Positive) is not Address | None"),  # type: ignore[arg-type]
        (Typed(order=Customer(pk=1)), "Typed.order: <Customer: Customer object (1)> (Customer) is not"),  # type: ignore[arg-type]
        (
            Typed(extra=Customer(pk=1)),
            "Typed.extra: <Customer: Customer object (1)> is a tests.testapp.models.Customer: an Event "
            "carries model instances and dataclasses only in fields whose type declares their class",
        ),
        (
            Typed(unused=Address("a", "b")),
            "Typed.unused: Address(street='a', zip_code='b') is a tests.test_payload.Address: an Event",
        ),
        (Typed(noted="3"), "Typed.noted: '3' (str) is not int, the declared type"),  # type: ignore[arg-type]
        (Typed(cents=1.5), "Typed.cents: 1.5 (float) is not int, the declared type"),  # type: ignore[arg-type]
        (Typed(weight=None), "Typed.weight: None (NoneType) is not float, the declared type"),  # type: ignore[arg-type]
        (Typed(real=Decimal(1)), "Typed.real: Decimal('1') (Decimal) is not Real, the declared type"),  # type: ignore[arg-type]
        (Typed(node=chain(MAX_DEPTH)), "Typed.node.child.child...: values nested more than"),
    ]
    for event, message in cases:
        assert message in unqueueable((event,), name=Typed.event_name), message


def test_an_unsaved_instance_is_refused() -> None:
    with pytest.raises(PayloadError, match=r"cannot queue event 'x' args\[0\]: an unsaved Customer"):
        encode((Customer(name="Ada"),), {}, name="x")
    with pytest.raises(PayloadError, match=r"kwargs\['ticket'\]: an unsaved Ticket \(a worker loads"):
        encode((), {"ticket": Ticket()}, name="x")  # its UUID pk is set, but no row yet
    with pytest.raises(PayloadError, match=r"Typed.order: an unsaved Order \(a worker loads"):
        encode((Typed(order=Order()),), {}, name=Typed.event_name)  # not hidden by the union


def test_a_primary_key_without_a_json_form_is_refused() -> None:
    odd = Customer(name="odd")
    odd.pk = {1, 2}  # type: ignore[assignment]
    odd._state.adding = False
    assert "args[0].pk: {1, 2} is a builtins.set, which has no JSON form" in unqueueable((odd,))


def test_a_dataclass_with_init_only_values_is_refused() -> None:
    assert unqueueable((Typed(derived=WithInitVar(1, scale=3)),), name=Typed.event_name).startswith(  # type: ignore[arg-type]
        "cannot queue Typed.derived: WithInitVar(value=3) (WithInitVar) is not WithDerived | None"
    )
    assert unqueueable((Attached(WithInitVar(1)),), name=Attached.event_name).startswith(
        "cannot queue Attached.attachment: WithInitVar(value=1) is a tests.test_payload.WithInitVar: an Event"
    )


def test_an_event_with_its_own_init_is_refused() -> None:
    assert unqueueable((LegacyPayload(1),), name=LegacyPayload.event_name) == (
        "cannot queue LegacyPayload: LegacyPayload writes its own __init__, so it cannot be rebuilt "
        "from its fields; declare its fields instead (class E(Event): field: type)"
    )


def test_an_event_whose_field_types_cannot_be_resolved_is_refused() -> None:
    assert unqueueable((Unresolved(1),), name=Unresolved.event_name) == (
        "cannot queue Unresolved: Unresolved has field types that cannot be resolved at run time "
        "(NameError: name 'NotImported' is not defined); a worker reads each field by its declared type"
    )


def test_a_dataclass_with_an_init_var_is_refused_where_declared() -> None:
    @dataclasses.dataclass
    class Holder(Event):
        inner: WithInitVar

    assert "Holder.inner: WithInitVar takes scale in __init__ without keeping it as a field" in unqueueable(
        (Holder(WithInitVar(1)),), name=Holder.event_name
    )


# -- refused in the worker ----------------------------------------------------------------


def event(path: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"args": [{"dataclass": [path, fields]}], "kwargs": {}}


SHIPPED = "tests.test_payload:Shipped"
SHIPPED_FIELDS = {
    "address": {"dataclass": ["tests.test_payload:Address", {"street": "s", "zip_code": "z"}]},
    "weight": 1.5,
    "at": {"time": ["08:00:00", 0]},
}


def shipped(**fields: Any) -> dict[str, Any]:
    return event(SHIPPED, {**SHIPPED_FIELDS, **fields})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{", "the payload: not JSON that this worker reads (Expecting property name"),
        ('{"args": [NaN], "kwargs": {}}', "the payload: not JSON that this worker reads (NaN is not JSON)"),
        (
            '{"args": [' + "1" * 5000 + '], "kwargs": {}}',
            "the payload: not JSON that this worker reads (Exceeds",
        ),
        ("[" * 100_000, "the payload: values nested more than 100 levels deep"),
        ([], "the payload: [] is not {'args': [...], 'kwargs': {...}}"),
        ({"args": []}, "the payload: {'args': []} is not {'args'"),
        ({"args": "abc", "kwargs": {}}, "the payload: its args must be a list, got 'abc'"),
        ({"args": [], "kwargs": []}, "the payload: its kwargs must be a dict, got []"),
        ({"args": [{"pickle": "gASV"}], "kwargs": {}}, "args[0]: unknown tag 'pickle'"),
        ({"args": [{"a": 1, "b": 2}], "kwargs": {}}, "args[0]: {'a': 1, 'b': 2} is not a value of a payload"),
        ({"args": [{"tuple": "ab"}], "kwargs": {}}, "args[0]: a tuple where a scalar is declared"),
        ({"args": [{"dict": []}], "kwargs": {}}, "args[0]: a dict of []"),
        (
            {"args": [], "kwargs": {"k": {"dict": {"d": {"dataclass": 1}}}}},
            "kwargs['k']['d']: a dataclass where no",
        ),
        (
            {"args": [{"decimal": 1}], "kwargs": {}},
            "args[0]: a decimal that cannot be read from 1: expected a str",
        ),
        ({"args": [{"decimal": "x"}], "kwargs": {}}, "args[0]: a decimal that cannot be read from 'x'"),
        (
            {"args": [{"float": "1e400"}], "kwargs": {}},
            "args[0]: a float that cannot be read from '1e400': expected",
        ),
        ({"args": [{"uuid": "x"}], "kwargs": {}}, "args[0]: a uuid that cannot be read from 'x'"),
        ({"args": [{"date": "2026-13-01"}], "kwargs": {}}, "args[0]: a date that cannot be read"),
        (
            {"args": [{"datetime": "2026-01-01"}], "kwargs": {}},
            "args[0]: a datetime that cannot be read from '2026-01-01': expected [isoformat, fold]",
        ),
        (
            {"args": [{"datetime": ["2026-01-01", 2]}], "kwargs": {}},
            "args[0]: a datetime that cannot be read",
        ),
        ({"args": [{"datetime": ["x", 0]}], "kwargs": {}}, "args[0]: a datetime that cannot be read"),
        (
            {"args": [{"datetime": ["2026-01-01T00:00", 0, 1]}], "kwargs": {}},
            "expected a zone key after a time without offset",
        ),
        (
            {"args": [{"datetime": ["2026-01-01T00:00+01:00", 0, "Europe/Paris"]}], "kwargs": {}},
            "expected a zone key after",
        ),
        (
            {"args": [{"datetime": ["2026-01-01T00:00", 0, "No/Such_Zone"]}], "kwargs": {}},
            "args[0]: a datetime that cannot be read",
        ),
        (
            {"args": [{"datetime": ["2026-01-01T00:00", 0, "../../etc/passwd"]}], "kwargs": {}},
            "args[0]: a datetime that cannot be read",
        ),
        ({"args": [{"time": ["25:00", 0]}], "kwargs": {}}, "args[0]: a time that cannot be read"),
        (
            {"args": [1, {"dataclass": ["tests.test_payload:Address", {}]}], "kwargs": {}},
            "args[1]: a dataclass where no class is declared",
        ),
        (
            {"args": [{"model": "x"}], "kwargs": {}},
            "args[0]: a model of 'x'; expected [label, primary key, database alias]",
        ),
        (
            {"args": [{"model": ["testapp.timestamped", 1, "default"]}], "kwargs": {}},
            "args[0]: a 'testapp.timestamped' instance where a model (or a subclass) is declared",
        ),
        ({"args": [{"model": ["testapp.customer", 1, "replica"]}], "kwargs": {}}, None),
    ],
)
def test_a_pattern_handlers_payload_is_refused_naming_the_place(raw: Any, message: str | None) -> None:
    if message is None:
        with pytest.raises(
            MissingInstance, match="saved to database 'replica', which this worker's DATABASES"
        ):
            decode(json.dumps(raw), "re:.*", "x", handler="h")
        return
    assert message in refused(raw)


def test_a_model_of_another_label_than_any_installed_one_is_refused() -> None:
    assert refused({"args": [{"model": ["auth.nothing", 1, "default"]}], "kwargs": {}}) == (
        "args[0]: a 'auth.nothing' instance where a model (or a subclass) is declared"
    )


@pytest.mark.django_db
def test_a_deleted_row_is_a_clear_error() -> None:
    ada = Customer.objects.create(name="Ada")
    payload = text((), {"customer": ada})
    ada.delete()
    with pytest.raises(
        MissingInstance, match=r"testapp.Customer with pk=\d+ no longer exists \(database 'default'\)"
    ):
        decode(payload, "re:.*", "x", handler="h")


@pytest.mark.django_db
def test_a_primary_key_the_model_does_not_take_is_refused() -> None:
    assert refused({"args": [{"model": ["testapp.customer", "abc", "default"]}], "kwargs": {}}).startswith(
        "args[0]: a primary key 'abc' that testapp.Customer does not take: "
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"args": [], "kwargs": {}},
            "args: the handler takes one Shipped, the payload gives 0 args and 0 kwargs",
        ),
        (
            {"args": [1], "kwargs": {"a": 1}},
            "args: the handler takes one Shipped, the payload gives 1 args and 1",
        ),
        ({"args": [1], "kwargs": {}}, "args[0]: 1 where Shipped is declared"),
        (
            {"args": [{"dataclass": "x"}], "kwargs": {}},
            "args[0]: a dataclass of 'x'; expected [class path, fields]",
        ),
        (
            event("json.decoder:JSONDecodeError", {}),
            "args[0]: a 'json.decoder:JSONDecodeError' where Shipped (or a subclass) is declared",
        ),
        (
            event("not_imported_anywhere:Shipped", SHIPPED_FIELDS),
            "args[0]: a 'not_imported_anywhere:Shipped' where",
        ),
        (event(SHIPPED, {}), "args[0]: Shipped takes the fields address, weight, at; the payload gives none"),
        (
            event(SHIPPED, {**SHIPPED_FIELDS, "more": 1}),
            "the payload gives 'address', 'weight', 'at', 'more'",
        ),
        (shipped(weight="1.5"), "args[0].weight: '1.5' (str) is not float, the declared type"),
        (
            shipped(weight={"model": ["testapp.customer", 1, "default"]}),
            "args[0].weight: a model where a scalar is declared",
        ),
        (
            shipped(at={"datetime": ["2026-01-01T08:00", 0]}),
            "args[0].at: datetime.datetime(2026, 1, 1, 8, 0) (datetime) is not time",
        ),
        (
            shipped(address={"dataclass": ["tests.test_payload:Positive", {"value": 1}]}),
            "args[0].address: a 'tests.test_payload:Positive' where Address (or a subclass) is declared",
        ),
        (shipped(address={"tuple": []}), "args[0].address: {'tuple': []} where Address is declared"),
        (
            shipped(address={"dataclass": ["tests.test_payload:Address", {"street": 1, "zip_code": "z"}]}),
            "args[0].address.street: 1 (int) is not str",
        ),
    ],
)
def test_a_typed_handlers_payload_is_read_by_its_declared_types(raw: Any, message: str) -> None:
    assert message in refused(raw, Shipped, Shipped.event_name)


def typed(**fields: Any) -> dict[str, Any]:
    return event("tests.test_payload:Typed", {**typed_fields(), **fields})


def typed_fields() -> dict[str, Any]:
    return json.loads(text((Typed(),), name=Typed.event_name))["args"][0]["dataclass"][1]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"positive": {"dataclass": ["tests.test_payload:Positive", {"value": 0}]}},
            "args[0].positive: Positive(...) raised ValueError: 0 is not positive",
        ),
        ({"pair": {"tuple": [1]}}, "args[0].pair: {'tuple': [1]} where tuple[int, str] is declared"),
        ({"pair": {"tuple": [1, 2]}}, "args[0].pair[1]: 2 (int) is not str, the declared type"),
        (
            {"orders": {"tuple": []}},
            "args[0].orders: {'tuple': []} where list[Order] is declared",
        ),
        ({"orders": [1]}, "args[0].orders[0]: 1 where testapp.Order is declared"),
        ({"table": []}, "args[0].table: [] where dict[str, Decimal] is declared"),
        (
            {"table": {"tuple": []}},
            "args[0].table: {'tuple': []} where dict[str, Decimal] is declared",
        ),
        ({"table": {"dict": {"k": 1}}}, "args[0].table['k']: 1 (int) is not Decimal"),
        ({"either": 1.5}, "args[0].either: 1.5 where int | str is declared"),
        ({"either": 10**4000}, None),  # (a big int that this worker reads is fine)
        ({"kind": "c"}, "args[0].kind: 'c' (str) is not one of 'a', 'b', the declared type"),
        ({"sequence": {"dict": {}}}, "args[0].sequence: {} (dict) is not Sequence, the declared type"),
        (
            {"order": {"model": ["testapp.customer", 1, "default"]}},
            "args[0].order: {'model': ['testapp.customer', 1, 'default']} where Order | None is declared",
        ),
        ({"many": {"tuple": [{"decimal": "1"}, 2]}}, "args[0].many[1]: 2 (int) is not Decimal"),
        (
            {"extra": {"model": ["testapp.customer", 1, "default"]}},
            "args[0].extra: a model where no class is declared",
        ),
        ({"when": [[[]]]}, "args[0].when: [[[]]] where datetime | None is declared"),
    ],
)
def test_every_kind_of_declared_type_refuses_what_does_not_fit(
    fields: dict[str, Any], message: str | None
) -> None:
    raw = typed(**fields)
    if message is None:
        decode(json.dumps(raw), Typed, Typed.event_name, handler="h")
        return
    assert message in refused(raw, Typed, Typed.event_name)


def test_a_union_does_not_hide_values_nested_too_deeply() -> None:
    deep: Any = 1
    for _ in range(MAX_DEPTH + 2):
        deep = [deep]
    assert "args[0].generic[0]...: values nested more than 100 levels" in refused(
        typed(generic=deep), Typed, Typed.event_name
    )


def test_values_nested_too_deeply_are_refused_in_the_worker() -> None:
    deep: Any = 1
    for _ in range(MAX_DEPTH + 1):
        deep = {"tuple": [deep]}
    assert "args[0][0][0]...: values nested more than 100" in refused({"args": [deep], "kwargs": {}})
    nested: Any
    for nested in ({"dict": {"k": {"dict": {}}}}, [[]]):
        wrapped: Any = nested
        for _ in range(MAX_DEPTH):
            wrapped = [wrapped]
        assert "values nested more than 100 levels" in refused({"args": [wrapped], "kwargs": {}})
    dataclass: Any = {"dataclass": ["tests.test_payload:Address", {"street": "s", "zip_code": "z"}]}
    for _ in range(MAX_DEPTH):
        dataclass = {"tuple": [dataclass]}
    assert "values nested more than 100 levels" in refused(typed(anything=dataclass), Typed, Typed.event_name)
    node: Any = None
    for _ in range(MAX_DEPTH):
        node = {"dataclass": ["tests.test_payload:Node", {"child": node}]}
    assert "args[0].node.child...: values nested" in refused(typed(node=node), Typed, Typed.event_name)
    holder: Any = typed()["args"][0]
    for _ in range(MAX_DEPTH):
        holder = [holder]
    assert "values nested more than 100 levels" in refused(typed(items=holder), Typed, Typed.event_name)


def test_a_pattern_handler_gets_only_an_event_of_its_name() -> None:
    payload = text((Renamed("k"),), name="payload::renamed")
    assert (
        "args[0]: a 'tests.test_payload:Renamed' where an Event named 'payload::other' (or a subclass)"
        in refused(payload, name="payload::other")
    )


def test_decoding_never_imports_nor_asks_a_module_for_a_name() -> None:
    class Tripwire:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"looked up {name}")  # pragma: no cover - the test fails then

    sys.modules["tests.tripwire_module"] = Tripwire()  # type: ignore[assignment]
    try:
        for raw in (
            event("tests.tripwire_module:Event", {}),
            {"args": [1, {"dataclass": ["tests.tripwire_module:Data", {}]}], "kwargs": {}},
        ):
            before = set(sys.modules)
            refused(raw)
            refused(raw, Shipped, Shipped.event_name)
            assert set(sys.modules) == before
    finally:
        del sys.modules["tests.tripwire_module"]


# -- the annotations read -----------------------------------------------------------------


def test_an_unhashable_annotation_is_read_without_the_cache() -> None:
    annotation = Annotated[int, ["unhashable"]]
    assert type_of(annotation).decode(1, 0) == 1
    assert type_of(int) is type_of(int)  # cached


def test_a_type_variable_is_read_as_any() -> None:
    assert type_of(T) is payload_module.ANY
    assert type_of(typing.Any) is payload_module.ANY


# -- signatures ---------------------------------------------------------------------------

TASK = ("shop.handlers.send", "re:shop.*", "shop.paid", '{"args":[1],"kwargs":{}}', 1)


def test_a_signature_covers_every_argument_of_the_task() -> None:
    signature = sign(*TASK)
    verify(*TASK, signature)
    for i, forged in enumerate(
        ["shop.handlers.other", "re:.*", "shop.refunded", '{"args":[2],"kwargs":{}}', 2]
    ):
        task: list[object] = list(TASK)
        task[i] = forged
        handler, target, name, payload, attempt = task
        with pytest.raises(RefusedTask, match="its signature does not verify with this worker's SECRET_KEY"):
            verify(handler, target, name, payload, attempt, signature)
    with pytest.raises(RefusedTask, match="its signature does not verify"):
        verify(*TASK[:4], "1", signature)  # the attempt as a str: another task


def test_signatures_honour_the_fallback_keys_while_they_are_listed() -> None:
    with override_settings(SECRET_KEY="old key"):
        old = sign(*TASK)
    with pytest.raises(RefusedTask, match="its signature does not verify"):
        verify(*TASK, old)
    with override_settings(SECRET_KEY="new key", SECRET_KEY_FALLBACKS=["old key"]):
        verify(*TASK, old)
        assert sign(*TASK) != old  # new tasks (retries among them) are signed with the new key
    with override_settings(SECRET_KEY="new key", SECRET_KEY_FALLBACKS=[]), pytest.raises(RefusedTask):
        verify(*TASK, old)


def test_what_cannot_be_a_signature_is_refused_and_the_message_is_kept_short() -> None:
    with pytest.raises(RefusedTask, match=r"refused a task for handler 'shop.handlers.send', target"):
        verify(*TASK, 42)
    with pytest.raises(RefusedTask, match=r"handler 'hhhhh+\.\.\., target"):
        verify("h" * 500, *TASK[1:], "sig")
    with pytest.raises(RefusedTask, match=r"handler <object object at"):
        verify(object(), *TASK[1:], "sig")  # not JSON at all
