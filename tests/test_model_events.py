"""Typed model events: ``Created[Order]`` and the others, from the same dispatch as the
``events::db::...`` names."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction

from django_events import (
    Created,
    Creating,
    Deleted,
    Deleting,
    EventDispatcher,
    ModelEvent,
    Updated,
    Updating,
    _models,
    changes,
    model_event_name,
    on,
)
from django_events._routing import Registration
from tests.testapp.models import Customer, Note, Order, PriorityOrder, Timestamped

pytestmark = pytest.mark.django_db


@pytest.fixture
def sync() -> EventDispatcher:
    return EventDispatcher(mode="sync")


def test_a_parameterized_event_is_one_class_named_after_the_models_event() -> None:
    assert Created[Order] is Created[Order]
    assert len({Created[Order], Created[Customer]}) == 2
    assert issubclass(Created[Order], Created)
    assert issubclass(Created[Order], ModelEvent)
    assert Created[Order].model is Order
    for event in (Creating, Created, Updating, Updated, Deleting, Deleted):
        assert event[Order].event_name == model_event_name(Order, event.action)
    assert Updated[Order].__qualname__ == "Updated[Order]"


def test_one_save_reaches_string_and_typed_handlers_in_registration_order(sync: EventDispatcher) -> None:
    got: list[Any] = []
    sync.register("events::db::.*::Order::created", lambda name, instance: got.append(("string", instance)))
    sync.register(Created[Order], lambda event: got.append(("typed", event)))
    sync.register(model_event_name(Order, "created"), lambda name, instance: got.append(("exact", instance)))
    order = Order.objects.create(total=Decimal("2.50"))
    assert [label for label, _ in got] == ["string", "typed", "exact"]
    assert got[0][1] is order  # string handlers: (name, instance), as always
    assert got[2][1] is order
    event = got[1][1]
    assert type(event) is Created[Order]
    assert (event.instance, event.using, event.raw) == (order, "default", False)


def test_each_action_and_its_fields(sync: EventDispatcher) -> None:
    got: list[ModelEvent[Order]] = []
    sync.register(Creating[Order], got.append)
    sync.register(Created[Order], got.append)
    sync.register(Updating[Order], got.append)
    sync.register(Updated[Order], got.append)
    sync.register(Deleting[Order], got.append)
    sync.register(Deleted[Order], got.append)
    order = Order.objects.create(status="new")
    order.status = "paid"
    order.save()
    pk = order.pk
    order.delete()
    assert [type(e).__qualname__ for e in got] == [
        "Creating[Order]",
        "Created[Order]",
        "Updating[Order]",
        "Updated[Order]",
        "Deleting[Order]",
        "Deleted[Order]",
    ]
    updating, updated = got[2], got[3]
    assert isinstance(updating, Updating)
    assert isinstance(updated, Updated)
    assert updating.changes == updated.changes == {"status": ("new", "paid")}
    assert got[4].instance is got[5].instance is order
    assert pk is not None


def test_a_typed_handler_observes_its_model_and_tracks_its_changes(sync: EventDispatcher) -> None:
    """Nothing else observes Note: registering Updated[Note] is enough."""
    got: list[Updated[Note]] = []
    assert Note not in _models._observed
    Note.objects.create(text="before", tags=["a"])
    sync.register(Updated[Note], got.append)
    loaded = Note.objects.get()  # loaded after tracking began: snapshot taken
    loaded.text = "after"
    loaded.tags.append("b")  # an in-place edit of a mutable value
    loaded.save()
    assert [e.changes for e in got] == [{"text": ("before", "after"), "tags": (["a"], ["a", "b"])}]
    assert Note in _models._tracked
    loaded.save()  # nothing changed since
    assert got[-1].changes == {}
    loaded.tags = [Decimal("1.5")]  # not what a JSONField loads: copied, not marshalled
    assert changes(loaded) == {"tags": (["a", "b"], [Decimal("1.5")])}


def test_raw_saves_are_visible(sync: EventDispatcher) -> None:
    got: list[Created[Customer] | Creating[Customer]] = []
    sync.register(Creating[Customer], got.append)
    sync.register(Created[Customer], got.append)
    Customer(name="fixture").save_base(raw=True)  # as loaddata saves
    Customer.objects.create(name="plain")
    assert [e.raw for e in got] == [True, True, False, False]


@pytest.mark.django_db(transaction=True)
def test_after_commit_and_gevent_mode_keep_the_saves_fields() -> None:
    queued = EventDispatcher(mode="gevent")
    got: list[Updated[Order]] = []
    queued.register(Updated[Order], got.append, after_commit=True)
    order = Order.objects.create(status="new")
    with transaction.atomic():
        order.status = "shipped"
        order.save()
        order.status = "edited later"  # after the save: not the save's changes
        queued.clear_queue()
        assert got == []
    queued.clear_queue()
    assert [(e.instance, e.changes) for e in got] == [(order, {"status": ("new", "shipped")})]


def test_async_typed_handlers(sync: EventDispatcher) -> None:
    got: list[Created[Order]] = []

    async def handler(event: Created[Order]) -> None:
        await asyncio.sleep(0)
        got.append(event)

    sync.register(Created[Order], handler)
    order = Order.objects.create()
    assert [e.instance for e in got] == [order]


def test_changes_in_a_typed_updating_handler_is_what_is_about_to_be_saved(sync: EventDispatcher) -> None:
    seen: list[dict[str, tuple[Any, Any]]] = []

    def handler(event: Updating[Order]) -> None:
        seen.append(event.changes)
        seen.append(changes(event.instance))

    sync.register(Updating[Order], handler)
    order = Order.objects.create(status="new")
    order.status = "paid"
    order.save(update_fields=["status"])
    assert seen == [{"status": ("new", "paid")}] * 2


def test_mistakes_are_clear_errors() -> None:
    proxy = r"Created\[PriorityOrder\]: PriorityOrder is a proxy.*use Created\[Order\]"
    with pytest.raises(TypeError, match=proxy):
        Created[PriorityOrder]
    not_a_model: Any = 42
    with pytest.raises(TypeError, match=r"takes a concrete Django model class, got 42 \(int\)"):
        Created[not_a_model]
    with pytest.raises(TypeError, match=r"Created\[Timestamped\]: Timestamped is abstract"):
        Created[Timestamped]
    with pytest.raises(TypeError, match=r"Created is generic: name its model, as in Created\[Order\]"):
        Created(instance=Order(), using="default", raw=False)
    order = Order.objects.create()
    with pytest.raises(TypeError, match=r"Created\[Order\] is dispatched by the model's saves and deletes"):
        Created[Order](instance=order, using="default", raw=False).dispatch()


def test_on_takes_a_typed_model_event() -> None:
    got: list[Created[Order]] = []

    @on(Created[Order])
    def handler(event: Created[Order]) -> None:
        got.append(event)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django_events._dispatcher.dispatcher._mode", "sync")
        from django_events import dispatcher

        dispatcher.settle()
        order = Order.objects.create()
    assert [e.instance for e in got] == [order]


def test_a_typed_model_handler_takes_what_a_save_dispatches() -> None:
    """What a route checks a dispatch of the name against (Registration.fits)."""
    registration = Registration.create(Created[Order], lambda event: None)
    assert registration.fits((Order(),), {})
    assert not registration.fits((Customer(),), {})
    assert not registration.fits((Order(),), {"using": "default"})


def test_handlers_of_events_before_a_save_or_after_a_delete_cannot_be_queued() -> None:
    for event in (Creating[Order], Updating[Order], Deleting[Order], Deleted[Order]):
        with pytest.raises(
            TypeError, match=r"cannot be queued for .*\[Order\]: a worker loads the instance again"
        ):
            EventDispatcher().register(event, _queued, queue=True)
    EventDispatcher().register(Created[Order], _queued, queue=True)  # these two can


def _queued(event: Any) -> None: ...


def test_a_generic_model_event_cannot_be_registered() -> None:
    with pytest.raises(TypeError, match=r"Created is generic: name its model, as in Created\[Order\]"):
        EventDispatcher().register(Created, _queued)


def test_the_testing_helpers_know_typed_model_events() -> None:
    from django_events.testing import capture_events, fake_events

    got: list[Created[Order]] = []
    dispatcher_ = EventDispatcher(mode="sync")
    dispatcher_.register(Created[Order], got.append)
    with capture_events(dispatcher_) as captured:
        order = Order.objects.create(status="captured")
    captured.assert_dispatched(Created[Order], where=lambda e: e.instance is order)
    captured.assert_not_dispatched(Created[Customer])
    with fake_events(Created[Order], dispatcher=dispatcher_):
        Order.objects.create()
    assert [e.instance for e in got] == [order]  # faked: the second never reached it
