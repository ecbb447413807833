from __future__ import annotations

import gc
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.db import models, transaction
from django.db.models.signals import post_init
from django.test import override_settings

from django_events import (
    EventDispatcher,
    ModelObserver,
    Observer,
    RegisterSignalsFor,
    _models,
    changes,
    dispatcher,
    model_event_name,
    observe_model,
    observes,
    on,
)
from django_events._models import _senders, connect_known_proxies, observed_models
from django_events.testing import Capture, capture_events
from tests.conftest import Recorder
from tests.testapp.models import (
    Code,
    Customer,
    Order,
    Place,
    PriorityOrder,
    Restaurant,
    Ticket,
    Timestamped,
    Unobserved,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sync_mode")]

ORDER = "events::db::tests::testapp::models::Order"


@pytest.fixture
def db_events() -> Iterator[Capture]:
    """Records every event (django_events.testing, as the project's users would)."""
    with capture_events() as capture:
        yield capture


def names(capture: Capture) -> list[str]:
    """The model events recorded, in order."""
    return [record.name for record in capture.matching("events::db::.*")]


# -- names and actions -----------------------------------------------------------------


def test_save_update_delete_dispatch_the_six_events(db_events: Capture) -> None:
    observe_model(Order)
    order = Order.objects.create(status="new")
    order.status = "paid"
    order.save()
    order.delete()
    assert names(db_events) == [
        f"{ORDER}::creating",
        f"{ORDER}::created",
        f"{ORDER}::updating",
        f"{ORDER}::updated",
        f"{ORDER}::deleting",
        f"{ORDER}::deleted",
    ]
    assert all(r.args == (order,) for r in db_events.matching("events::db::.*"))  # the one argument


def test_model_event_name() -> None:
    assert model_event_name(Order, "created") == f"{ORDER}::created"
    assert model_event_name(PriorityOrder, "deleted") == f"{ORDER}::deleted"
    with pytest.raises(ValueError, match=r"action must be one of creating, .*, got 'saved'"):
        model_event_name(Order, "saved")


def test_unobserved_models_emit_nothing(db_events: Capture) -> None:
    Unobserved.objects.create(name="x")
    assert names(db_events) == []


@pytest.mark.parametrize(
    "make",
    [
        lambda: Ticket(title="t"),  # UUID primary key, set before the first save
        lambda: Ticket(id=uuid.uuid4(), title="t"),
        lambda: Code(code="ABC", label="client-set CharField primary key"),
    ],
)
def test_client_set_primary_keys_are_creates_not_updates(db_events: Capture, make: Callable[[], Any]) -> None:
    observe_model(Ticket)
    observe_model(Code)
    instance = make()
    assert instance.pk is not None
    instance.save()
    assert [n.rsplit("::", 1)[1] for n in names(db_events)] == ["creating", "created"]
    instance.save()
    assert [n.rsplit("::", 1)[1] for n in names(db_events)][2:] == ["updating", "updated"]


def test_observe_model_is_idempotent(db_events: Capture) -> None:
    observe_model(Customer)
    observe_model(Customer)
    RegisterSignalsFor(Customer)
    Customer.objects.create(name="ada")
    assert len(names(db_events)) == 2
    assert Customer in observed_models()


def test_proxy_models_emit_their_concrete_models_events(db_events: Capture) -> None:
    observe_model(Order)
    PriorityOrder.objects.create()
    assert names(db_events) == [f"{ORDER}::creating", f"{ORDER}::created"]
    assert isinstance(db_events.matching(f"{ORDER}::created")[0].args[0], PriorityOrder)


def test_observing_a_proxy_observes_its_concrete_model(db_events: Capture) -> None:
    observe_model(PriorityOrder)
    Order.objects.create()
    assert names(db_events) == [f"{ORDER}::creating", f"{ORDER}::created"]


def test_a_proxy_defined_after_observation_is_connected() -> None:
    observe_model(Order)

    class LateProxy(Order):
        class Meta:
            proxy = True
            app_label = "testapp"

    seen = Recorder()
    on(f"{ORDER}::created")(seen)
    LateProxy.objects.create()
    assert len(seen.calls) == 1


def test_proxies_are_connected_again_when_the_registry_is_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    observe_model(Order)
    senders: dict[Any, Any] = _senders
    monkeypatch.delitem(senders, PriorityOrder)  # as if Order was observed while models loaded
    monkeypatch.setattr(apps, "models_ready", False)
    connect_known_proxies()
    assert PriorityOrder not in _senders
    monkeypatch.setattr(apps, "models_ready", True)
    connect_known_proxies()  # what DjangoEventsConfig.ready() does
    assert PriorityOrder in _senders


def test_multi_table_children_emit_their_own_events(db_events: Capture) -> None:
    observe_model(Place)
    Restaurant.objects.create(name="r")  # Restaurant is not observed: Place's events do not fire
    assert names(db_events) == []
    observe_model(Restaurant)
    Restaurant.objects.create(name="r2")
    assert names(db_events) == [
        "events::db::tests::testapp::models::Restaurant::creating",
        "events::db::tests::testapp::models::Restaurant::created",
    ]


@pytest.mark.parametrize("bad", [Timestamped, models.Model])
def test_abstract_models_are_rejected(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"observe_model\(\): .* is abstract and is never saved"):
        observe_model(bad)


@pytest.mark.parametrize("bad", [42, "tests.Order", Recorder])
def test_non_models_are_rejected(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"observe_model\(\) expects a Django model class, got "):
        observe_model(bad)


# -- changed fields ------------------------------------------------------------------------


def test_changes_in_updating_and_updated_handlers(django_assert_num_queries: Any) -> None:
    observe_model(Order)
    seen: list[tuple[str, dict[str, tuple[Any, Any]]]] = []
    on(f"{ORDER}::(updating|updated|creating)")(lambda name, order: seen.append((name, changes(order))))
    customer = Customer.objects.create(name="ada")
    order = Order.objects.create(status="new", total=Decimal("1.00"))
    order = Order.objects.get(pk=order.pk)
    order.status = "paid"
    order.customer = customer
    order.data["paid"] = True  # mutated in place: still detected
    with django_assert_num_queries(2):  # loading took no snapshot: the row is read, then UPDATEd
        order.save()
    expected: dict[str, tuple[Any, Any]] = {
        "status": ("new", "paid"),
        "customer_id": (None, customer.pk),
        "data": ({}, {"paid": True}),
    }
    assert seen == [
        (f"{ORDER}::creating", {}),
        (f"{ORDER}::updating", expected),
        (f"{ORDER}::updated", expected),
    ]
    assert changes(order) == {}  # outside handlers: what changed since the save
    order.note = "again"
    with django_assert_num_queries(1):  # the UPDATE only: old values kept from the last save
        order.save()
    assert seen[-1] == (f"{ORDER}::updated", {"note": ("", "again")})


def test_loading_rows_of_a_tracked_model_takes_no_snapshot(django_assert_num_queries: Any) -> None:
    observe_model(Order, track_changes=True)
    assert not post_init.has_listeners(Order)  # nothing runs per row loaded
    Order.objects.create(status="new", data={"items": [1]})
    order = Order.objects.get()
    assert "_django_events_snapshot" not in order.__dict__
    order.data["items"].append(2)  # in place
    with django_assert_num_queries(1):  # the first changes() reads the row
        assert changes(order) == {"data": ({"items": [1]}, {"items": [1, 2]})}
    with django_assert_num_queries(0):  # and keeps it
        assert changes(order) == {"data": ({"items": [1]}, {"items": [1, 2]})}


def test_a_loaded_instance_saved_reports_what_its_save_changes_in_the_row() -> None:
    observe_model(Order)
    seen: list[dict[str, tuple[Any, Any]]] = []
    on(f"{ORDER}::updated")(lambda name, order: seen.append(changes(order)))
    order = Order.objects.create(status="new", note="a")
    stale = Order.objects.get(pk=order.pk)
    Order.objects.filter(pk=order.pk).update(status="paid")  # another request, meanwhile
    stale.note = "b"
    stale.save()  # writes every field: status goes back from paid to new
    assert seen == [{"status": ("paid", "new"), "note": ("a", "b")}]


@pytest.mark.django_db(databases=["default", "other"])
def test_the_row_is_read_on_the_database_of_the_save() -> None:
    observe_model(Order)
    seen: list[dict[str, tuple[Any, Any]]] = []
    on(f"{ORDER}::updated")(lambda name, order: seen.append(changes(order)))
    Order.objects.using("other").create(status="new")
    order = Order.objects.using("other").get()
    order.status = "paid"
    assert changes(order) == {"status": ("new", "paid")}  # where it was loaded from
    order.save(using="other")
    assert seen == [{"status": ("new", "paid")}]
    assert not Order.objects.exists()  # (default)


def test_changes_of_a_multi_table_child_read_the_parent_row_too() -> None:
    observe_model(Restaurant, track_changes=True)
    Restaurant.objects.create(name="Luigi", serves_pizza=False)
    restaurant = Restaurant.objects.get()
    restaurant.name, restaurant.serves_pizza = "Mario", True
    assert changes(restaurant) == {"name": ("Luigi", "Mario"), "serves_pizza": (False, True)}


def test_changes_of_an_instance_whose_row_is_gone_compare_nothing() -> None:
    observe_model(Order, track_changes=True)
    order = Order.objects.get(pk=Order.objects.create(status="new").pk)
    Order.objects.all().delete()
    order.status = "paid"
    assert changes(order) == {}
    order.pk = None  # not new (_state.adding is False), but no row to read
    assert changes(order) == {}


def test_changes_before_the_first_save_since_loading() -> None:
    observe_model(Order, track_changes=True)
    order = Order.objects.create(status="new")
    order = Order.objects.get(pk=order.pk)
    assert changes(order) == {}
    order.note = "hello"
    assert changes(order) == {"note": ("", "hello")}


@pytest.mark.django_db(transaction=True)
def test_each_save_reports_its_own_changes_even_when_handled_later() -> None:
    observe_model(Order)
    seen: list[tuple[str, dict[str, tuple[Any, Any]]]] = []
    on(f"{ORDER}::(created|updated)", after_commit=True)(
        lambda name, order: seen.append((name.rsplit("::", 1)[1], changes(order)))
    )
    with transaction.atomic():  # the handlers run at commit, after all three saves
        order = Order.objects.create(status="new")
        order.status = "paid"
        order.save()
        order.note = "x"
        order.save()
    assert seen == [
        ("created", {}),
        ("updated", {"status": ("new", "paid")}),
        ("updated", {"note": ("", "x")}),
    ]


@pytest.mark.django_db(transaction=True)
def test_updating_handlers_that_run_after_the_save_still_see_its_changes() -> None:
    observe_model(Order)
    seen: list[dict[str, tuple[Any, Any]]] = []
    on(f"{ORDER}::updating", after_commit=True)(lambda name, order: seen.append(changes(order)))
    order = Order.objects.create(status="new")
    with transaction.atomic():  # the handler runs at commit, after both saves
        order.status = "paid"
        order.save()
        order.note = "x"
        order.save()
    assert seen == [{"status": ("new", "paid")}, {"note": ("", "x")}]


@pytest.mark.parametrize("mode", ["sync", "gevent"])
def test_an_updating_event_queued_behind_a_handler_sees_its_save(mode: str) -> None:
    observe_model(Order, track_changes=True)  # the snapshot is taken when order is made
    order = Order.objects.create(status="new")
    seen: list[tuple[str, dict[str, tuple[Any, Any]]]] = []
    on(f"{ORDER}::(updating|updated)")(
        lambda name, order: seen.append((name.rsplit("::", 1)[1], changes(order)))
    )

    def pay(name: str) -> None:  # a save inside a handler: its events wait for this one
        order.status = "paid"
        order.save()

    on("shop::pay")(pay)
    with override_settings(DJANGO_EVENTS={"MODE": mode}):
        dispatcher.dispatch("shop::pay")
        dispatcher.clear_queue()
    assert seen == [("updating", {"status": ("new", "paid")}), ("updated", {"status": ("new", "paid")})]


@override_settings(DJANGO_EVENTS={"MODE": "sync"})
def test_sync_model_events_run_every_handler_and_what_they_dispatch_inline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    observe_model(Order)
    seen: list[str] = []

    def fails(name: str, order: Order) -> None:
        seen.append("fails")
        dispatcher.dispatch("shop::after", order.pk)  # sync: runs now, a plain call
        raise RuntimeError("handler failed")

    on(f"{ORDER}::created")(fails)
    on(f"{ORDER}::created")(lambda name, order: seen.append("second"))
    on("shop::after")(lambda name, pk: seen.append("after"))
    Order.objects.create(status="new")  # the failure is logged; the save goes on
    assert seen == ["fails", "after", "second"]
    assert "handler tests.test_models.test_sync_model_events_run_every_handler_and_what_they_dispatch" in (
        caplog.text
    )
    seen.clear()
    raising = override_settings(DJANGO_EVENTS={"MODE": "sync", "RAISE_HANDLER_ERRORS": True})
    with raising, pytest.raises(RuntimeError, match="handler failed"):
        Order.objects.create(status="new")
    assert seen == ["fails", "after", "second"]  # raised after every handler ran


def test_changes_outside_handlers_follow_later_edits() -> None:
    observe_model(Order, track_changes=True)
    order = Order.objects.create(status="new")
    order.status = "paid"
    order.save()
    assert changes(order) == {}
    order.status = "shipped"
    assert changes(order) == {"status": ("paid", "shipped")}
    assert changes(Order(status="unsaved")) == {}


def test_update_fields_limits_the_changes_and_the_snapshot() -> None:
    observe_model(Order)
    seen: list[dict[str, tuple[Any, Any]]] = []
    on(f"{ORDER}::updat(ing|ed)")(lambda name, order: seen.append(changes(order)))
    order = Order.objects.create(status="new", note="x")
    order.status = "paid"
    order.note = "not saved"
    order.save(update_fields=["status"])
    assert seen == [{"status": ("new", "paid")}, {"status": ("new", "paid")}]
    assert changes(order) == {"note": ("x", "not saved")}  # still unsaved
    order.save()
    assert seen[-1] == {"note": ("x", "not saved")}


def test_an_existing_pk_saved_as_new_is_creating_then_updated(db_events: Capture) -> None:
    observe_model(Order)
    existing = Order.objects.create(status="old")
    # A new instance (_state.adding), but Django finds the row and UPDATEs it: created=False.
    Order(pk=existing.pk, status="overwritten").save()
    assert [n.rsplit("::", 1)[1] for n in names(db_events)][2:] == ["creating", "updated"]


def test_a_loaded_instance_whose_row_is_gone_is_updating_then_created(db_events: Capture) -> None:
    observe_model(Order)
    order = Order.objects.create(status="old")
    Order.objects.filter(pk=order.pk).delete()  # another instance's delete: this one is not told
    order.save()  # Django's UPDATE matches nothing, so it INSERTs: created=True
    assert [n.rsplit("::", 1)[1] for n in names(db_events)][-2:] == ["updating", "created"]


def test_deferred_fields_count_once_loaded_or_set(django_assert_num_queries: Any) -> None:
    observe_model(Order, track_changes=True)
    Order.objects.create(status="new", note="n", data={"a": 1})
    order = Order.objects.only("status").get()
    order.status = "paid"
    with django_assert_num_queries(1):  # the loaded fields' row values only
        assert changes(order) == {"status": ("new", "paid")}
    order.note = "set: save() writes it now"
    assert order.data == {"a": 1}  # loaded from the row now (a query of Django's)
    with django_assert_num_queries(1):  # the row values of the two new fields
        assert changes(order) == {"status": ("new", "paid"), "note": ("n", "set: save() writes it now")}


@pytest.fixture
def untracked() -> Iterator[None]:
    """No model's changes tracked (other tests track some); as it was afterwards."""
    gc.collect()  # dropped dispatchers of earlier tests, whose handlers would still count
    saved = set(_models._tracked)
    _models._tracked.clear()
    yield
    for model in saved:
        _models._track(model)


def _tracks(model: type[models.Model]) -> bool:
    """Whether changes() answers for a saved instance of the model (or raises ValueError)."""
    instance = model()
    instance._state.adding = False  # as if loaded; no primary key, so no row is read
    try:
        changes(instance)
    except ValueError:
        return False
    return True


@pytest.mark.usefixtures("untracked")
def test_changes_are_tracked_only_once_something_handles_updates() -> None:
    @observes(Customer)
    class Created:
        def created(self, instance: Customer) -> None: ...

    assert not _tracks(Customer)  # loading customers costs nothing
    customer = Customer.objects.create(name="a")
    customer.name = "b"
    with pytest.raises(
        ValueError,
        match=r"changes\(\) needs the changes of Customer to be tracked: they are once something "
        r"handles its updating or updated events \(an observer method or a handler\), or with "
        r"observe_model\(Customer, track_changes=True\)",
    ):
        changes(customer)
    assert changes(Customer(name="new")) == {}  # nothing to compare before the first save

    on("events::db::.*::Customer::updated")(lambda name, instance: None)
    assert _tracks(Customer)
    customer = Customer.objects.get(pk=customer.pk)
    customer.name = "c"
    assert changes(customer) == {"name": ("a", "c")}


@pytest.mark.usefixtures("untracked")
def test_an_observer_of_updates_tracks_changes_and_so_does_an_earlier_handler() -> None:
    @observes(Customer)
    class Updated:
        def updated(self, instance: Customer) -> None: ...

    assert _tracks(Customer)
    assert not _tracks(Place)
    on(f"{ORDER.replace('Order', 'Place')}::updating")(lambda name, instance: None)
    observe_model(Place)  # the handler came first
    assert _tracks(Place)
    assert _tracks(Restaurant) is False  # not observed: its own saves emit nothing


@pytest.mark.usefixtures("untracked")
def test_track_changes_explicitly_and_for_proxies_defined_later() -> None:
    observe_model(Order, track_changes=True)
    assert _tracks(Order)
    assert _tracks(PriorityOrder)

    class TrackedProxy(Order):
        class Meta:
            proxy = True
            app_label = "testapp"

    Order.objects.create(status="new")
    late = TrackedProxy.objects.get()
    late.status = "paid"
    assert changes(late) == {"status": ("new", "paid")}
    with pytest.raises(TypeError, match=r"track_changes must be True or False, got 'yes' \(str\)"):
        observe_model(Order, track_changes="yes")  # type: ignore[arg-type]


@pytest.mark.usefixtures("untracked")
def test_tracking_once_on_stays_on() -> None:
    observe_model(Customer)
    with dispatcher.isolate():
        on("events::db::.*::Customer::updated")(lambda name, instance: None)
        customer = Customer.objects.create(name="a")
    assert _tracks(Customer)  # the handler went; a snapshot taken meanwhile stays right
    customer.name = "b"
    customer.save()
    customer.name = "c"
    assert changes(customer) == {"name": ("b", "c")}


@pytest.mark.django_db(transaction=True)
def test_a_nested_save_in_an_updating_handler_keeps_each_saves_changes() -> None:
    observe_model(Order, track_changes=True)
    seen: list[tuple[str, dict[str, tuple[Any, Any]]]] = []
    order = Order.objects.create(status="new", note="")

    @on(f"{ORDER}::updating")
    def stamp(name: str, instance: Order) -> None:
        if instance.note == "":
            instance.note = "stamped"
            instance.save(update_fields=["note"])  # the same instance, saved inside

    on(f"{ORDER}::updating", after_commit=True)(lambda name, o: seen.append(("late", changes(o))))
    with transaction.atomic():
        order.status = "paid"
        order.save(update_fields=["status"])
        order.status = "edited after the save, never saved"
    assert seen == [("late", {"note": ("", "stamped")}), ("late", {"status": ("new", "paid")})]


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_handling_updating_later_share_one_record_of_the_save() -> None:
    other = EventDispatcher(mode="sync")
    observe_model(Order, track_changes=True)
    observe_model(Order, dispatcher=other)
    seen: list[tuple[str, dict[str, tuple[Any, Any]]]] = []
    on(f"{ORDER}::updating", after_commit=True)(lambda name, o: seen.append(("default", changes(o))))
    other.register(
        f"{ORDER}::updating", lambda name, o: seen.append(("other", changes(o))), after_commit=True
    )
    order = Order.objects.create(status="new")
    with transaction.atomic():
        order.status = "paid"
        order.save()
        order.status = "edited after the save, never saved"
    assert seen == [("default", {"status": ("new", "paid")}), ("other", {"status": ("new", "paid")})]
    order.status = "paid"
    with transaction.atomic():
        order.status = "shipped"
        order.save()
    assert seen[2:] == [
        ("default", {"status": ("paid", "shipped")}),
        ("other", {"status": ("paid", "shipped")}),
    ]
    assert order.__dict__.get("_django_events_pending_save") == []  # nothing left behind


def test_a_new_instance_saved_over_an_existing_row_reports_no_made_up_changes() -> None:
    observe_model(Order, track_changes=True)
    row = Order.objects.create(status="paid", note="hello")
    seen: list[dict[str, tuple[Any, Any]]] = []
    on(f"{ORDER}::updated")(lambda name, o: seen.append(changes(o)))
    order = Order(pk=row.pk)
    order.status, order.note = "paid", "hello"  # set after construction: not the old row
    order.save()
    assert seen == [{}]  # the old row was never loaded: nothing to compare with


@pytest.mark.usefixtures("untracked")
def test_an_instance_loaded_before_tracking_reports_the_changes_of_its_first_save() -> None:
    observe_model(Customer)
    customer = Customer.objects.create(name="a")
    early = Customer.objects.get(pk=customer.pk)  # no snapshot: nothing tracked yet
    seen: list[dict[str, tuple[Any, Any]]] = []
    on("events::db::.*::Customer::updated")(lambda name, instance: seen.append(changes(instance)))
    for name in ("b", "c"):
        early.name = name
        early.save(update_fields=["name"])
    assert seen == [{"name": ("a", "b")}, {"name": ("b", "c")}]  # the first save read the row


def test_a_raising_dispatcher_does_not_keep_the_event_from_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []
    first = EventDispatcher(mode="sync", raise_handler_errors=True)
    second = EventDispatcher(mode="sync", raise_handler_errors=True)
    third = EventDispatcher(mode="sync")
    for target in (first, second, third):
        observe_model(Code, dispatcher=target)

    def fails(name: str, instance: Code) -> None:
        raise RuntimeError(f"failed on {len(seen)}")

    first.register(".*Code::created", fails)
    second.register(".*Code::created", lambda name, instance: seen.append("second"))
    second.register(".*Code::created", fails)
    third.register(".*Code::created", lambda name, instance: seen.append("third"))
    try:
        with pytest.raises(RuntimeError, match="failed on 0"):
            Code.objects.create(code="x")
        assert seen == ["second", "third"]  # the row exists: every observer is told
        assert "failed on 1" in caplog.text  # the second error is logged, not lost
    finally:  # the dispatchers may live on until the next garbage collection
        first.off(fails)
        second.off(fails)


def test_a_dispatcher_dropped_by_a_handler_is_skipped_for_that_event() -> None:
    seen: list[str] = []
    other = EventDispatcher(mode="sync")
    observe_model(Ticket)
    observe_model(Ticket, dispatcher=other)
    other.register(".*Ticket::creating", lambda name, instance: seen.append("other"))

    def drop(name: str, instance: Ticket) -> None:
        nonlocal other
        seen.append("default")
        del other  # the last reference: the model forgets it at once

    on(".*Ticket::creating")(drop)
    Ticket.objects.create()
    assert seen == ["default"]


def test_changes_needs_an_observed_instance() -> None:
    with pytest.raises(ValueError, match=r"changes\(\) needs Unobserved to be observed"):
        changes(Unobserved(name="x"))
    with pytest.raises(TypeError, match=r"changes\(\) expects a model instance, got 3 \(int\)"):
        changes(3)  # type: ignore[arg-type]


# -- observers -----------------------------------------------------------------------------


def test_observes_calls_the_methods_it_defines() -> None:
    seen: list[tuple[str, Order]] = []
    made: list[object] = []

    @observes(Order)
    class OrderObserver:
        def __init__(self) -> None:
            made.append(self)

        def created(self, instance: Order) -> None:
            seen.append(("created", instance))

        def deleted(self, instance: Order) -> None:
            seen.append(("deleted", instance))

    order = Order.objects.create()
    order.save()
    order.delete()
    assert seen == [("created", order), ("deleted", order)]
    assert len(made) == 1  # instantiated once


def test_typed_observer_base_registers_only_overridden_methods() -> None:
    seen: list[str] = []

    @observes(Order)
    class OrderObserver(ModelObserver[Order]):
        def updated(self, instance: Order) -> None:
            seen.append(instance.status)

    assert [r.label for r in dispatcher.registrations if "OrderObserver" in r.label] == [
        "tests.test_models.test_typed_observer_base_registers_only_overridden_methods"
        ".<locals>.OrderObserver.updated"
    ]
    order = Order.objects.create(status="a")
    order.status = "b"
    order.save()
    assert seen == ["b"]


def test_two_observers_each_event_once_each_method_once(db_events: Capture) -> None:
    calls: list[str] = []

    @observes(Order)
    class First:
        def created(self, instance: Order) -> None:
            calls.append("first")

    @observes(Order)
    class Second:
        def created(self, instance: Order) -> None:
            calls.append("second")

    Order.objects.create()
    assert calls == ["first", "second"]
    assert names(db_events) == [f"{ORDER}::creating", f"{ORDER}::created"]


def test_observer_without_methods_is_rejected() -> None:
    with pytest.raises(TypeError, match=r"Empty observes Order but defines none of creating, created"):

        @observes(Order)
        class Empty:
            def saved(self, instance: Order) -> None: ...


def test_observer_of_an_abstract_model_is_rejected() -> None:
    with pytest.raises(TypeError, match=r"observes\(\): Timestamped is abstract"):
        observes(Timestamped)  # type: ignore[type-abstract]


@pytest.mark.parametrize("alias", ["default", "other"])
@pytest.mark.django_db(transaction=True, databases=["default", "other"])
def test_after_commit_observer_waits_for_the_instances_database(alias: str) -> None:
    seen: list[str] = []

    @observes(Order, after_commit=True)
    class OrderObserver:
        def created(self, instance: Order) -> None:
            seen.append(instance.status)

    class Rollback(Exception):
        pass

    def create_then_fail() -> None:
        with transaction.atomic(using=alias):
            Order.objects.using(alias).create(status="rolled back")
            raise Rollback

    with pytest.raises(Rollback):
        create_then_fail()
    with transaction.atomic(using=alias):
        Order.objects.using(alias).create(status="committed")
        assert seen == []
    assert seen == ["committed"]


def test_legacy_observer_gets_the_event_name() -> None:
    seen: list[tuple[str, Order]] = []

    class OrderObserver(Observer):
        observes = Order

        def created(self, eventName: str, order: Order) -> None:
            seen.append((eventName, order))

    order = Order.objects.create()
    assert seen == [(f"{ORDER}::created", order)]


def test_legacy_observer_needs_observes() -> None:
    with pytest.raises(TypeError, match=r"NoModel must set observes = SomeModel"):

        class NoModel(Observer):
            def created(self, eventName: str, instance: Any) -> None: ...


# -- the seed README's "Observer" example, in tests/myapp -------------------------------------


def test_seed_readme_observer(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.myapp.models import Example

    example = Example.objects.create(name="first")
    example.name = "second"
    example.save()
    example.delete()
    assert capsys.readouterr().out.splitlines() == [
        "creating a Example with name: first",
        "created a Example with name: first",
        "updating a Example with name: second",
        "updated a Example with name: second",
        "deleting a Example with name: second",
        "deleted a Example with name: second",
    ]


def test_seed_readme_listener_for_any_created_model() -> None:
    from django_events import EventListener
    from tests.myapp.models import Example

    handled: list[tuple[str, Any]] = []

    class ExampleEventListener(EventListener):
        listensFor = [
            "events::db::(.*)::created",
        ]

        def handle(self, event: Any, *args: Any, **kwargs: Any) -> None:
            (example,) = args
            handled.append((event, example))

    example = Example.objects.create(name="x")
    assert handled == [("events::db::tests::myapp::models::Example::created", example)]


def test_seed_readme_register_signals_for(db_events: Capture) -> None:
    from tests.myapp.models import Unobserved as MyUnobserved  # RegisterSignalsFor in myapp/events.py

    MyUnobserved.objects.create(name="x")
    assert names(db_events) == [
        "events::db::tests::myapp::models::Unobserved::creating",
        "events::db::tests::myapp::models::Unobserved::created",
    ]


# -- review regressions ----------------------------------------------------------------------


def test_observers_on_another_dispatcher_are_called(sync: Any) -> None:
    seen: list[Order] = []

    @observes(Order, dispatcher=sync)
    class OrderObserver:
        def created(self, instance: Order) -> None:
            seen.append(instance)

    order = Order.objects.create()
    assert seen == [order]


def test_in_gevent_mode_model_handlers_run_before_the_save_goes_on() -> None:
    observe_model(Order)
    seen: list[object] = []

    def stamp(name: str, order: Order) -> None:
        order.note = "set by a creating handler"

    on(f"{ORDER}::creating")(stamp)
    on(f"{ORDER}::deleting")(lambda name, order: seen.append(order.pk))
    with override_settings(DJANGO_EVENTS={"MODE": "gevent"}):
        order = Order.objects.create()
        assert Order.objects.get(pk=order.pk).note == "set by a creating handler"
        pk = order.pk
        order.delete()
    assert seen == [pk]  # deleting handlers still see the primary key
