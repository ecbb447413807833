"""Model events on the paths a Django developer takes: typed model events, bulk events,
change tracking, fidelity and the checks, with inheritance, proxies, odd primary keys,
other databases, threads, async calls and savepoints."""

from __future__ import annotations

import asyncio
import copy
import pickle
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import serializers
from django.core.checks import run_checks
from django.db import transaction
from django.db.models import F
from django.db.models.signals import post_delete, post_save, pre_delete, pre_save

from django_events import (
    BulkCreated,
    BulkUpdated,
    Created,
    Deleted,
    Deleting,
    EventDispatcher,
    QuerySetDeleted,
    QuerySetUpdated,
    Updated,
    Updating,
    _models,
    changes,
    observe_model,
    observes,
    on,
)
from tests.testapp.models import (
    BulkInvoice,
    Code,
    Invoice,
    Item,
    Order,
    Place,
    Restaurant,
    Scoped,
    Ticket,
    scopes_enforced,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sync_mode")]

ORDER = "events::db::tests::testapp::models::Order"


@pytest.fixture
def sync() -> EventDispatcher:
    return EventDispatcher(mode="sync")


@pytest.fixture(autouse=True)
def models_observed_here_are_forgotten() -> Iterator[None]:
    """Models these tests observe (Place, Restaurant, Ticket, Code) are observed and tracked
    only here: the tests of other files count on them being unobserved."""
    observed, tracked = dict(_models._observed), set(_models._tracked)
    targets, senders = dict(_models._targets), dict(_models._senders)
    yield
    for sender in [sender for sender in _models._senders if sender not in senders]:
        for signal in (pre_save, post_save, pre_delete, post_delete):
            signal.disconnect(sender=sender, dispatch_uid=_models._UID)
    for kept, saved in (
        (_models._observed, observed),
        (_models._targets, targets),
        (_models._senders, senders),
    ):
        kept.clear()
        kept.update(saved)  # type: ignore[arg-type]
    _models._tracked.clear()
    _models._tracked.update(tracked)


# -- bulk events -------------------------------------------------------------------------------


def test_bulk_update_of_rows_that_are_gone_dispatches_nothing(sync: EventDispatcher) -> None:
    """README: "A call that touched no row ... dispatches nothing"."""
    got: list[BulkUpdated[Item]] = []
    sync.register(BulkUpdated[Item], got.append)
    items = Item.objects.bulk_create([Item(sku="a"), Item(sku="b")])
    Item.objects.all()._raw_delete("default")  # the rows are gone (another request)
    for item in items:
        item.quantity = 5
    assert Item.objects.bulk_update(items, ["quantity"]) == 0
    assert got == []


def test_queryset_update_on_a_values_queryset(sync: EventDispatcher) -> None:
    got: list[QuerySetUpdated[Item]] = []
    sync.register(QuerySetUpdated[Item], got.append)
    a, _b = Item.objects.bulk_create([Item(sku="a"), Item(sku="b")])
    assert Item.objects.filter(sku="a").values("sku").update(quantity=F("quantity") + 1) == 1
    assert [e.pks for e in got] == [[a.pk]]


def test_queryset_update_of_an_empty_queryset(sync: EventDispatcher) -> None:
    got: list[Any] = []
    sync.register(QuerySetUpdated[Item], got.append)
    sync.register(QuerySetDeleted[Item], got.append)
    assert Item.objects.none().update(quantity=1) == 0
    assert Item.objects.none().delete()[0] == 0
    assert got == []


def test_related_manager_update_and_async_bulk(sync: EventDispatcher) -> None:
    got: list[Any] = []
    sync.register(BulkCreated[Item], got.append)
    Item.objects.bulk_create([Item(sku="z")], batch_size=1)
    assert len(got) == 1


def test_bulk_update_with_batch_size_is_one_event(sync: EventDispatcher) -> None:
    got: list[Any] = []
    sync.register(BulkUpdated[Item], got.append)
    sync.register(QuerySetUpdated[Item], got.append)
    items = Item.objects.bulk_create([Item(sku=str(i)) for i in range(5)])
    for item in items:
        item.quantity = 7
    assert Item.objects.bulk_update(items, ["quantity"], batch_size=2) == 5
    assert [type(e) for e in got] == [BulkUpdated[Item]]


def test_bulk_create_update_conflicts(sync: EventDispatcher) -> None:
    got: list[BulkCreated[Item]] = []
    sync.register(BulkCreated[Item], got.append)
    (a,) = Item.objects.bulk_create([Item(sku="a")])
    Item.objects.bulk_create([Item(pk=a.pk, sku="a2")], ignore_conflicts=True)
    assert len(got) == 2


# -- change tracking ---------------------------------------------------------------------------


def test_one_handler_mutating_changes_does_not_change_another_handlers_changes() -> None:
    """changes() returns a copy per call: a handler that edits the old or new value (to
    redact it before logging) leaves what the next handler gets as the save made it."""
    seen: list[Any] = []

    @on(Updated[Order])
    def redact(event: Updated[Order]) -> None:
        old, new = event.changes["data"]
        old.pop("secret")
        new.pop("secret")

    @on(Updated[Order])
    def audit(event: Updated[Order]) -> None:
        seen.append(event.changes["data"])

    @on(f"{ORDER}::updated")
    def audit_by_name(name: str, order: Order) -> None:
        first = changes(order)["data"]
        first[0]["extra"] = 1
        seen.append(changes(order)["data"])

    order = Order.objects.create(data={"secret": "s", "n": 1})
    order = Order.objects.get(pk=order.pk)
    order.data["n"] = 2
    order.save()
    assert seen == [
        ({"secret": "s", "n": 1}, {"secret": "s", "n": 2}),
        ({"secret": "s", "n": 1}, {"secret": "s", "n": 2}),
    ]
    assert order.data == {"secret": "s", "n": 2}


def test_a_nested_json_value_changed_from_1_to_true_is_a_change() -> None:
    """The row's JSON goes from {"flag": 1} to {"flag": true}: a change."""
    observe_model(Order, track_changes=True)
    order = Order.objects.create(data={"flags": {"beta": 1}, "ratio": [1]})
    order = Order.objects.get(pk=order.pk)
    order.data["flags"]["beta"] = True
    order.data["ratio"][0] = 1.0
    assert changes(order) == {
        "data": ({"flags": {"beta": 1}, "ratio": [1]}, {"flags": {"beta": True}, "ratio": [1.0]})
    }


def test_deferred_fields_and_update_fields() -> None:
    seen: list[dict[str, Any]] = []
    on(Updated[Order])(lambda e: seen.append(e.changes))
    order = Order.objects.create(status="new", note="n", total=1)
    loaded = Order.objects.only("status").get(pk=order.pk)
    loaded.status = "paid"
    loaded.save()
    assert seen[-1] == {"status": ("new", "paid")}
    assert loaded.note == "n"  # a deferred load
    loaded.note = "m"
    loaded.save(update_fields=["note"])
    assert seen[-1] == {"note": ("n", "m")}
    assert changes(loaded) == {}


def test_multi_table_inheritance_changes_of_parent_fields() -> None:
    seen: list[dict[str, Any]] = []
    on(Updated[Restaurant])(lambda e: seen.append(e.changes))
    place_seen: list[Any] = []
    on(Updated[Place])(place_seen.append)
    r = Restaurant.objects.create(name="a")
    r = Restaurant.objects.get(pk=r.pk)
    r.name = "b"
    r.save(update_fields=["name"])
    assert seen == [{"name": ("a", "b")}]
    r.serves_pizza = True
    r.save()
    assert seen[-1] == {"serves_pizza": (False, True)}
    assert place_seen == []


def test_update_or_create_reports_its_change() -> None:
    seen: list[dict[str, Any]] = []
    on(Updated[Order])(lambda e: seen.append(e.changes))
    order = Order.objects.create(status="new", note="x")
    _obj, created = Order.objects.update_or_create(pk=order.pk, defaults={"status": "paid"})
    assert not created
    assert seen == [{"status": ("new", "paid")}]
    _obj, created = Order.objects.get_or_create(pk=order.pk)
    assert not created


def test_select_for_update_in_atomic() -> None:
    seen: list[dict[str, Any]] = []
    on(Updated[Order])(lambda e: seen.append(e.changes))
    order = Order.objects.create(status="new")
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        locked.status = "paid"
        locked.save()
        locked.status = "shipped"
        locked.save()
    assert seen == [{"status": ("new", "paid")}, {"status": ("paid", "shipped")}]


def test_copy_and_pickle_keep_the_old_values() -> None:
    observe_model(Order, track_changes=True)
    order = Order.objects.create(status="new", data={"a": [1]})
    order.status = "paid"
    order.data["a"].append(2)
    for other in (copy.copy(order), copy.deepcopy(order), pickle.loads(pickle.dumps(order))):
        assert changes(other) == {"status": ("new", "paid"), "data": ({"a": [1]}, {"a": [1, 2]})}


def test_uuid_and_char_primary_keys() -> None:
    seen: list[Any] = []
    on(Created[Ticket])(seen.append)
    on(Updated[Ticket])(seen.append)
    on(Created[Code])(seen.append)
    on(Updated[Code])(seen.append)
    t = Ticket(title="x")
    t.save()
    t.title = "y"
    t.save()
    c = Code.objects.create(code="A", label="a")
    c = Code.objects.get(pk="A")
    c.label = "b"
    c.save()
    assert [type(e).__qualname__ for e in seen] == [
        "Created[Ticket]",
        "Updated[Ticket]",
        "Created[Code]",
        "Updated[Code]",
    ]
    assert seen[1].changes == {"title": ("x", "y")}
    assert seen[3].changes == {"label": ("a", "b")}


def test_loaddata_raw_saves() -> None:
    seen: list[Any] = []
    on(Created[Order])(seen.append)
    on(Updated[Order])(seen.append)
    order = Order.objects.create(status="new")
    data = serializers.serialize("json", [order])
    Order.objects.filter(pk=order.pk).update(status="paid")
    for obj in serializers.deserialize("json", data):
        obj.save()
    assert [(type(e).__qualname__, e.raw) for e in seen] == [
        ("Created[Order]", False),
        ("Updated[Order]", True),
    ]
    assert seen[-1].changes == {}  # documented: Django updates a row it never loaded


# -- after-commit model events and savepoints --------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_after_commit_model_events_of_a_rolled_back_savepoint_are_dropped() -> None:
    seen: list[Any] = []
    on(Updated[Order], after_commit=True)(lambda e: seen.append(e.changes))
    on(Created[Order], after_commit=True)(lambda e: seen.append("created"))
    order = Order.objects.create(status="new")
    assert seen == ["created"]
    order = Order.objects.get(pk=order.pk)
    with transaction.atomic():
        order.status = "paid"
        order.save()
        try:
            with transaction.atomic():
                order.status = "shipped"
                order.save()
                raise RuntimeError
        except RuntimeError:
            pass
        assert seen == ["created"]
        order.status = "done"
        order.save()
    assert seen == ["created", {"status": ("new", "paid")}, {"status": ("paid", "done")}]


@pytest.mark.django_db(transaction=True)
def test_an_instance_saved_in_another_thread() -> None:
    seen: list[Any] = []
    on(Updated[Order])(lambda e: seen.append(e.changes))
    order = Order.objects.create(status="new")
    order = Order.objects.get(pk=order.pk)
    assert changes(order) == {}
    order.status = "paid"

    def save() -> None:
        try:
            order.save()
        finally:
            from django.db import connections

            connections.close_all()

    thread = threading.Thread(target=save)
    thread.start()
    thread.join()
    assert seen == [{"status": ("new", "paid")}]
    order.status = "x"
    order.save()
    assert seen[-1] == {"status": ("paid", "x")}


# -- observers ---------------------------------------------------------------------------------


def test_observers_of_a_parent_and_a_child() -> None:
    calls: list[str] = []

    @observes(Place)
    class PlaceObserver:
        def created(self, instance: Place) -> None:
            calls.append(f"place {type(instance).__name__}")

        def deleted(self, instance: Place) -> None:
            calls.append(f"place deleted {type(instance).__name__}")

    @observes(Restaurant)
    class RestaurantObserver:
        def created(self, instance: Restaurant) -> None:
            calls.append("restaurant")

        def deleted(self, instance: Restaurant) -> None:
            calls.append("restaurant deleted")

    Place.objects.create(name="p")
    r = Restaurant.objects.create(name="x")  # Django's post_save names Restaurant only
    r.delete()  # the parent row's delete is Place's
    assert sorted(calls) == ["place Place", "place deleted Place", "restaurant", "restaurant deleted"]


def test_deleting_and_deleted_typed_see_the_pk() -> None:
    seen: list[Any] = []
    on(Deleting[Order])(lambda e: seen.append(e.instance.pk))
    on(Deleted[Order])(lambda e: seen.append(e.instance.pk))
    order = Order.objects.create()
    pk = order.pk
    Order.objects.filter(pk=pk).delete()
    assert seen == [pk, pk]


def test_updating_changes_match_updated() -> None:
    seen: list[Any] = []
    on(Updating[Order])(lambda e: seen.append(e.changes))
    on(Updated[Order])(lambda e: seen.append(e.changes))
    order = Order.objects.create(data={"a": {"b": [1]}})
    order.data["a"]["b"].append(2)
    order.save()
    assert seen == [{"data": ({"a": {"b": [1]}}, {"a": {"b": [1, 2]}})}] * 2


def test_the_check_runs() -> None:
    on(BulkCreated[Item])(lambda e: None)
    assert not [m for m in run_checks() if m.id == "django_events.W002"]


def test_json_values_of_other_types_and_ordered_dicts_in_a_saves_changes() -> None:
    """A value whose type changes (a str to None, a dict to an OrderedDict, which marshal
    cannot write) is compared as Python compares it; each reading gets copies of its own."""
    from collections import OrderedDict

    seen: list[Any] = []

    @on(Updated[Order])
    def edit(event: Updated[Order]) -> None:
        seen.append(copy.deepcopy(event.changes["data"]))
        event.changes["data"][1]["b"] = "edited"

    order = Order.objects.create(data={"a": ["x"]})
    order = Order.objects.get(pk=order.pk)
    order.data["a"][0] = None
    order.save()
    order.data = OrderedDict(b=2)
    order.save()
    assert seen == [({"a": ["x"]}, {"a": [None]}), ({"a": [None]}, {"b": 2})]
    assert type(seen[1][1]) is OrderedDict
    assert order.data == {"b": 2}
    # outside a save, changes() since the last save: the kept value is no one's to edit
    order.data = {"c": 3}
    got = changes(order)["data"]
    assert got == (OrderedDict(b=2), {"c": 3})
    got[0]["b"] = 0
    assert changes(order)["data"] == (OrderedDict(b=2), {"c": 3})


# -- the check (W002) ---------------------------------------------------------------------------


def test_a_model_opted_in_through_its_proxy_gets_no_w002() -> None:
    """README: "A proxy's bulk calls emit its concrete model's batch events": a model whose
    proxy opts in does dispatch them, so a handler of them is no mistake."""
    got: list[BulkCreated[Invoice]] = []
    on(BulkCreated[Invoice])(got.append)
    BulkInvoice.bulk.bulk_create([BulkInvoice(number="1")])
    assert len(got) == 1  # dispatched...
    assert [m.msg for m in run_checks() if m.id == "django_events.W002"] == []  # ...so no warning


def test_the_check_does_not_query_managers_that_need_a_scope() -> None:
    """A manager that raises outside a request (django-scopes) must not crash manage.py
    check, which runs the checks of every installed app."""
    on(BulkCreated[Item])(lambda event: None)
    token = scopes_enforced.set(True)
    try:
        assert [m for m in run_checks() if m.id == "django_events.W002"] == []
        on(BulkCreated[Scoped])(lambda event: None)  # its managers are asked now: by their class
        assert [m.obj for m in run_checks() if m.id == "django_events.W002"] == [Scoped]
    finally:
        scopes_enforced.reset(token)
    # in a scope, the manager answers: its queryset, a plain one, says the same
    assert [m.obj for m in run_checks() if m.id == "django_events.W002"] == [Scoped]


# -- several databases, async, gevent ----------------------------------------------------------


@pytest.mark.django_db(transaction=True, databases=["default", "other"])
def test_saves_and_bulk_calls_on_another_database() -> None:
    seen: list[Any] = []
    on(Created[Order])(lambda e: seen.append(("created", e.using)))
    on(Updated[Order])(lambda e: seen.append(("updated", e.using, e.changes)))
    on(Updated[Order], after_commit=True, using="other")(lambda e: seen.append(("committed", e.using)))
    on(QuerySetUpdated[Item])(lambda e: seen.append(("qs", e.using, e.pks)))
    on(BulkCreated[Item])(lambda e: seen.append(("bulk", e.using, [i.pk for i in e.instances])))
    here = Order.objects.create(status="here")
    there = Order.objects.using("other").create(pk=here.pk, status="there")
    there = Order.objects.using("other").get(pk=here.pk)
    with transaction.atomic(using="other"):
        there.status = "paid"
        there.save()
        assert ("committed", "other") not in seen
    assert seen == [
        ("created", "default"),
        ("created", "other"),
        ("updated", "other", {"status": ("there", "paid")}),
        ("committed", "other"),
    ]
    seen.clear()
    (item,) = Item.objects.using("other").bulk_create([Item(sku="o")])
    Item.objects.using("other").filter(sku="o").update(quantity=2)
    assert seen == [("bulk", "other", [item.pk]), ("qs", "other", [item.pk])]
    here.save(using="other")  # the row of the same pk on the other database
    assert seen[-2:] == [("updated", "other", {"status": ("paid", "here")}), ("committed", "other")]


@pytest.mark.django_db(transaction=True)
def test_async_bulk_calls_and_saves() -> None:
    seen: list[Any] = []
    on(BulkCreated[Item])(lambda e: seen.append("bulk_created"))
    on(QuerySetUpdated[Item])(lambda e: seen.append(e.pks))
    on(QuerySetDeleted[Item])(lambda e: seen.append(("deleted", e.pks)))
    on(Updated[Order])(lambda e: seen.append(e.changes))

    async def body() -> int:
        (item,) = await Item.objects.abulk_create([Item(sku="a")])
        await Item.objects.filter(pk=item.pk).aupdate(quantity=3)
        order = await Order.objects.acreate(status="new")
        order = await Order.objects.aget(pk=order.pk)
        order.status = "paid"
        await order.asave()
        await Item.objects.filter(pk=item.pk).adelete()
        pk: int = item.pk
        return pk

    pk = asyncio.run(body())
    assert seen == ["bulk_created", [pk], {"status": ("new", "paid")}, ("deleted", [pk])]


@pytest.mark.django_db(transaction=True)
def test_after_commit_deleted_handlers_see_the_deleted_rows_primary_key() -> None:
    """An after-commit handler of a delete (drop the row from a search index) needs the
    primary key: Django sets it to None once the delete is done, before the commit."""
    seen: list[Any] = []
    on(Deleted[Order], after_commit=True)(lambda e: seen.append(("typed", e.instance.pk)))
    on(f"{ORDER}::deleted", after_commit=True)(lambda name, order: seen.append(("name", order.pk)))

    @observes(Order, after_commit=True)
    class Unindex:
        def deleted(self, instance: Order) -> None:
            seen.append(("observer", instance.pk))

    order = Order.objects.create()
    pk = order.pk
    order.delete()  # autocommit: delivered at once
    assert seen == [("typed", pk), ("name", pk), ("observer", pk)]
    seen.clear()
    order = Order.objects.create()
    pk = order.pk
    with transaction.atomic():
        order.delete()
    assert seen == [("typed", pk), ("name", pk), ("observer", pk)]


@pytest.mark.django_db(transaction=True)
def test_deleted_handlers_queued_behind_a_drain_see_the_primary_key() -> None:
    """Gevent mode: a handler that deletes a row (an order cancelled: its reservation
    goes) queues the row's deleted event behind the event under way, so it runs after
    delete() returned, when Django has set the instance's primary key to None; the
    handlers get a copy taken at the event. A delete outside a drain runs its handlers
    during delete(), with the instance itself."""
    queued = EventDispatcher(mode="gevent")
    seen: list[Any] = []
    on(Deleted[Order], dispatcher=queued)(lambda e: seen.append(("typed", e.instance.pk, e.instance)))
    on(f"{ORDER}::deleted", dispatcher=queued)(lambda name, order: seen.append(("name", order.pk, order)))
    doomed = Order.objects.create()
    pk = doomed.pk
    on("shop::cancelled", dispatcher=queued)(lambda name: doomed.delete())
    queued.dispatch("shop::cancelled")
    queued.clear_queue()
    assert [entry[:2] for entry in seen] == [("typed", pk), ("name", pk)]
    assert seen[0][2] is not doomed
    assert seen[0][2] is seen[1][2]  # one copy, for every handler
    assert doomed.pk is None  # the caller's instance, as Django left it
    seen.clear()
    other = Order.objects.create()
    pk = other.pk
    other.delete()  # no drain under way: the hub turn runs them, with the instance itself
    assert seen == [("typed", pk, other), ("name", pk, other)]


def test_a_deferred_json_field_edited_in_place_then_saved() -> None:
    seen: list[Any] = []
    on(Updated[Order])(lambda e: seen.append(e.changes))
    order = Order.objects.create(data={"a": {"b": 1}}, status="new")
    loaded = Order.objects.defer("data").get(pk=order.pk)
    loaded.data["a"]["b"] = 2  # loads the field, then edits it in place
    loaded.save()
    assert seen == [{"data": ({"a": {"b": 1}}, {"a": {"b": 2}})}]
    loaded = Order.objects.only("status").get(pk=order.pk)
    loaded.data["a"]["c"] = 3
    loaded.save(update_fields=["data"])
    assert seen[-1] == {"data": ({"a": {"b": 2}}, {"a": {"b": 2, "c": 3}})}


@pytest.mark.django_db(transaction=True)
def test_composite_primary_keys() -> None:
    import django

    if django.VERSION < (5, 2):  # pragma: no cover
        pytest.skip("no composite primary keys")
    from tests.testapp.models import Pair

    seen: list[Any] = []
    on(Updated[Pair])(lambda e: seen.append(e.changes))
    on(Deleted[Pair], after_commit=True)(lambda e: seen.append(e.instance.pk))
    Pair.objects.create(left=1, right=2, label="a")
    pair = Pair.objects.get(pk=(1, 2))
    pair.label = "b"
    pair.save()
    with transaction.atomic():
        pair.delete()
    assert seen == [{"label": ("a", "b")}, (1, 2)]


def test_one_observer_class_decorated_for_two_models() -> None:
    calls: list[str] = []

    class Audit:
        def created(self, instance: Any) -> None:
            calls.append(type(instance).__name__)

    observes(Order)(Audit)
    observes(Ticket)(Audit)
    Order.objects.create()
    Ticket.objects.create(title="t")
    assert calls == ["Order", "Ticket"]


def test_a_json_value_with_its_keys_in_another_order_is_no_change() -> None:
    observe_model(Order, track_changes=True)
    order = Order.objects.create(data={"a": 1, "b": [1, 2]})
    order = Order.objects.get(pk=order.pk)
    order.data = {"b": [1, 2], "a": 1}  # other bytes, the same JSON object
    assert changes(order) == {}
