from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import ClassVar

import pytest
from django.test import override_settings

from django_events import Event, EventDispatcher, dispatcher, on, path_from_class
from tests.conftest import Recorder


class OrderPaid(Event):
    order_id: int
    amount: Decimal


class UserRenamed(Event):
    name: str
    previous: str = ""


class Frozen(Event, frozen=True):
    value: int


class Custom(Event):
    event_name = "shop::custom"


class LegacyNamed(Event):
    Name = "ExampleEvent"


class LegacyPayload(Event):
    def __init__(self, name: str, value: str, something: str) -> None:
        self.name = name
        self.value = value
        self.something = something


class LegacyChild(LegacyPayload):
    pass


class Child(OrderPaid):
    note: str = ""


def test_subclasses_are_dataclasses() -> None:
    event = OrderPaid(order_id=1, amount=Decimal("9.50"))
    assert dataclasses.is_dataclass(event)
    assert [f.name for f in dataclasses.fields(OrderPaid)] == ["order_id", "amount"]
    assert event == OrderPaid(1, Decimal("9.50"))
    assert event != OrderPaid(2, Decimal("9.50"))
    assert repr(event) == "OrderPaid(order_id=1, amount=Decimal('9.50'))"


def test_subclass_of_an_event_adds_fields() -> None:
    assert Child(1, Decimal(1), "x").note == "x"
    assert Child.event_name == "tests::test_events::Child"


def test_frozen_keyword_makes_it_immutable() -> None:
    event = Frozen(3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.value = 4  # type: ignore[misc]
    assert hash(event) == hash(Frozen(3))


def test_default_name_is_the_module_path_and_class() -> None:
    assert OrderPaid.event_name == "tests::test_events::OrderPaid"
    assert path_from_class(OrderPaid) == OrderPaid.event_name
    assert str(OrderPaid) == OrderPaid.event_name
    assert OrderPaid.Name == OrderPaid.event_name


def test_event_name_and_legacy_name_override() -> None:
    assert Custom.event_name == Custom.Name == str(Custom) == "shop::custom"
    assert LegacyNamed.event_name == "ExampleEvent"
    assert str(LegacyNamed) == "ExampleEvent"


def test_overridden_name_is_not_inherited() -> None:
    class Sub(Custom):
        pass

    assert Sub.event_name == "tests::test_events::test_overridden_name_is_not_inherited::<locals>::Sub"


class Order:
    class Created(Event):
        pass


class Invoice:
    class Created(Event):
        pass


def test_nested_classes_get_distinct_names() -> None:
    assert Order.Created.event_name == "tests::test_events::Order::Created"
    assert Invoice.Created.event_name == "tests::test_events::Invoice::Created"


def test_subclass_of_a_frozen_event_is_frozen() -> None:
    class MoreFrozen(Frozen):  # type: ignore[misc]  # mypy wants frozen=True spelled out
        extra: int = 0

    event = MoreFrozen(1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.extra = 3


def test_unknown_class_keywords_are_rejected() -> None:
    with pytest.raises(
        TypeError, match=r"unknown class keyword\(s\) kw_only; Event subclasses take frozen=True"
    ):

        class Bad(Event, kw_only=True):
            a: int


def test_frozen_needs_the_generated_init() -> None:
    with pytest.raises(TypeError, match=r"writes its own __init__, so frozen=True cannot apply"):

        class Bad(Event, frozen=True):
            def __init__(self) -> None:
                pass


def test_a_field_called_name_is_an_ordinary_field() -> None:
    event = UserRenamed(name="ada", previous="bob")
    assert event.name == "ada"
    assert UserRenamed.event_name == "tests::test_events::UserRenamed"
    assert [f.name for f in dataclasses.fields(UserRenamed)] == ["name", "previous"]


def test_legacy_init_is_kept_and_not_a_dataclass() -> None:
    event = LegacyPayload("name", "value", "something")
    assert (event.name, event.value, event.something) == ("name", "value", "something")
    assert not dataclasses.is_dataclass(event)
    assert LegacyChild("a", "b", "c").something == "c"
    assert not dataclasses.is_dataclass(LegacyChild)


def test_non_default_field_after_default_names_the_class() -> None:
    with pytest.raises(
        TypeError, match=r"Event class .*<locals>\.Bad: non-default argument 'b' follows default"
    ):

        class Bad(Event):
            a: int = 1
            b: int  # type: ignore[misc]


def test_annotated_event_name_is_rejected() -> None:
    with pytest.raises(TypeError, match=r"Bad\.event_name is annotated"):

        class Bad(Event):
            event_name: str = "x"  # type: ignore[misc]


def test_annotated_legacy_name_is_rejected() -> None:
    with pytest.raises(TypeError, match=r"Bad\.Name is annotated"):

        class Bad(Event):
            Name: str  # type: ignore[misc]


def test_classvar_annotated_event_name_is_rejected_too() -> None:
    with pytest.raises(TypeError, match="assign it without an annotation"):

        class Bad(Event):
            event_name: ClassVar[str] = "x"


def test_conflicting_names_are_rejected() -> None:
    with pytest.raises(TypeError, match="sets event_name='a' and Name='b'; set one of them"):

        class Bad(Event):
            event_name = "a"
            Name = "b"


def test_same_name_both_ways_is_fine() -> None:
    class Both(Event):
        event_name = "same"
        Name = "same"

    assert Both.event_name == "same"


@pytest.mark.parametrize("bad", ["", 3])
def test_bad_event_name(bad: object) -> None:
    with pytest.raises(TypeError, match=r"Bad.event_name must be a non-empty str, got "):

        class Bad(Event):
            event_name = bad  # type: ignore[assignment]


def test_path_from_class_needs_a_class() -> None:
    with pytest.raises(TypeError, match=r"expects a class, got 'x' \(str\)"):
        path_from_class("x")  # type: ignore[arg-type]
    assert path_from_class(EventDispatcher) == "django_events::_dispatcher::EventDispatcher"


def test_dispatch_method_uses_the_default_dispatcher(recorder: Recorder) -> None:
    on(OrderPaid)(recorder)
    event = OrderPaid(1, Decimal(2))
    event.dispatch()
    assert recorder.calls == []  # gevent mode: queued
    dispatcher.clear_queue()
    assert recorder.calls == [(event,)]


def test_legacy_Dispatch_builds_dispatches_and_runs_handlers(recorder: Recorder) -> None:
    LegacyPayload.AddListener(recorder)
    event = LegacyPayload.Dispatch("name", "value", "something")
    assert isinstance(event, LegacyPayload)
    assert recorder.calls == [(LegacyPayload.event_name, event)]
    assert dispatcher.pending() == 0


def test_legacy_Dispatch_with_dataclass_fields(recorder: Recorder) -> None:
    OrderPaid.AddListener(recorder)
    event = OrderPaid.Dispatch(order_id=5, amount=Decimal(1))
    assert recorder.calls == [(OrderPaid.event_name, OrderPaid(5, Decimal(1)))]
    assert event.order_id == 5


def test_legacy_dispatch_in_sync_mode_has_run_the_handlers() -> None:
    seen: list[OrderPaid] = []
    with override_settings(DJANGO_EVENTS={"MODE": "sync"}):
        on(OrderPaid)(seen.append)
        event = OrderPaid.Dispatch(order_id=6, amount=Decimal(2))
    assert seen == [event]


def test_the_first_dispatch_of_an_event_class_raises_a_handler_error() -> None:
    class Refunded(Event):
        order_id: int

    strict = EventDispatcher(mode="sync", raise_handler_errors=True)

    def fail(event: Refunded) -> None:
        raise KeyError(event.order_id)

    strict.register(Refunded, fail)
    for attempt in (1, 2):  # the first resolves the class, the second finds it cached
        with pytest.raises(KeyError, match=str(attempt)):
            strict.dispatch(Refunded(attempt))
