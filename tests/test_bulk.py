"""Bulk events: one batch event per bulk call of a model that opted in (BulkEventsManager)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import run_checks
from django.db import transaction
from django.db.models import F

from django_events import (
    BulkCreated,
    BulkEvent,
    BulkEventsQuerySet,
    BulkUpdated,
    EventDispatcher,
    QuerySetDeleted,
    QuerySetUpdated,
    on,
)
from django_events._bulk import bulk_event_name, opted_in
from django_events._routing import Registration
from tests.conftest import Recorder
from tests.testapp.models import BulkItem, Item, Order

pytestmark = pytest.mark.django_db


@pytest.fixture
def sync() -> EventDispatcher:
    return EventDispatcher(mode="sync")


def test_bulk_create_dispatches_one_batch_event(sync: EventDispatcher, recorder: Recorder) -> None:
    typed: list[BulkCreated[Item]] = []
    sync.register(r"events::db::.*::Item::bulk_created", recorder)
    sync.register(BulkCreated[Item], typed.append)
    items = Item.objects.bulk_create([Item(sku=f"s{i}") for i in range(3)])
    ((name, instances, kwargs),) = recorder.calls
    assert name == bulk_event_name(Item, "bulk_created") == BulkCreated[Item].event_name
    assert instances == items
    assert kwargs == {"using": "default"}
    (event,) = typed
    assert event.instances == items
    assert event.using == "default"
    assert all(item.pk is not None for item in event.instances)  # SQLite returns them


def test_bulk_update_gives_the_instances_and_the_fields(sync: EventDispatcher) -> None:
    got: list[BulkUpdated[Item]] = []
    sync.register(BulkUpdated[Item], got.append)
    items = Item.objects.bulk_create([Item(sku="a"), Item(sku="b")])
    for item in items:
        item.quantity = 5
    assert Item.objects.bulk_update(iter(items), iter(["quantity"])) == 2  # iterators: read once
    (event,) = got
    assert (event.instances, event.fields) == (items, ["quantity"])


def test_queryset_update_gives_the_primary_keys_it_matched_and_the_values(sync: EventDispatcher) -> None:
    got: list[QuerySetUpdated[Item]] = []
    sync.register(QuerySetUpdated[Item], got.append)
    a, b, c = Item.objects.bulk_create([Item(sku="a"), Item(sku="b", quantity=1), Item(sku="c", quantity=2)])
    assert Item.objects.filter(quantity__gte=1).update(quantity=F("quantity") + 10) == 2
    (event,) = got
    assert sorted(event.pks) == sorted([b.pk, c.pk])
    assert set(event.values) == {"quantity"}
    assert sorted(Item.objects.values_list("quantity", flat=True)) == [0, 11, 12]
    assert a.pk not in event.pks


def test_queryset_delete_gives_the_primary_keys_it_deleted(sync: EventDispatcher) -> None:
    got: list[QuerySetDeleted[Item]] = []
    sync.register(QuerySetDeleted[Item], got.append)
    items = Item.objects.bulk_create([Item(sku="x"), Item(sku="y")])
    assert Item.objects.filter(sku="x").delete() == (1, {"testapp.Item": 1})
    assert [e.pks for e in got] == [[items[0].pk]]
    assert list(Item.objects.values_list("sku", flat=True)) == ["y"]


def test_nothing_listens_no_extra_query(sync: EventDispatcher, django_assert_num_queries: Any) -> None:
    Item.objects.bulk_create([Item(sku="a")])
    with django_assert_num_queries(1):  # the UPDATE alone: no read of the primary keys
        Item.objects.update(quantity=3)
    with django_assert_num_queries(1):  # Django's fast delete: one DELETE
        Item.objects.all().delete()


def test_a_proxy_emits_its_concrete_models_batch_events(sync: EventDispatcher) -> None:
    got: list[BulkCreated[Item]] = []
    sync.register(BulkCreated[Item], got.append)
    BulkItem.objects.bulk_create([BulkItem(sku="p")])
    assert [e.instances[0].sku for e in got] == ["p"]


@pytest.mark.django_db(transaction=True)
def test_after_commit_batch_events_wait_for_the_commit() -> None:
    d = EventDispatcher(mode="sync")
    got: list[QuerySetUpdated[Item]] = []
    d.register(QuerySetUpdated[Item], got.append, after_commit=True)
    Item.objects.bulk_create([Item(sku="a")])
    with transaction.atomic():
        Item.objects.update(quantity=1)
        assert got == []
    assert len(got) == 1
    Item.objects.update(quantity=3)  # autocommit: its own transaction, committed at once
    assert [e.values for e in got] == [{"quantity": 1}, {"quantity": 3}]
    got.pop()
    try:
        with transaction.atomic():
            Item.objects.update(quantity=2)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert len(got) == 1  # never for a rollback


def test_async_and_gevent_handlers_of_batch_events() -> None:
    queued = EventDispatcher(mode="gevent")
    got: list[BulkCreated[Item]] = []

    async def handler(event: BulkCreated[Item]) -> None:
        got.append(event)

    queued.register(BulkCreated[Item], handler)
    Item.objects.bulk_create([Item(sku="g")])
    assert got == []  # queued, as in gevent mode
    queued.clear_queue()
    assert [e.instances[0].sku for e in got] == ["g"]


def test_opting_in_and_the_check() -> None:
    assert opted_in(Item)
    assert opted_in(BulkItem)
    assert not opted_in(Order)
    assert issubclass(Item.objects.get_queryset().__class__, BulkEventsQuerySet)

    @on(BulkCreated[Order])
    def never(event: BulkCreated[Order]) -> None: ...

    @on(BulkCreated[Item])
    def fine(event: BulkCreated[Item]) -> None: ...

    messages = [m for m in run_checks() if m.id == "django_events.W002"]
    assert [(m.obj, m.msg) for m in messages] == [
        (
            Order,
            "handler tests.test_bulk.test_opting_in_and_the_check.<locals>.never listens to bulk events "
            "of testapp.Order, whose bulk operations dispatch none: its managers make no "
            "BulkEventsQuerySet.",
        )
    ]
    assert "objects = BulkEventsManager()" in (messages[0].hint or "")


def test_a_catch_all_handler_is_no_bulk_handler() -> None:
    @on(".*")
    def everything(name: str, *args: Any, **kwargs: Any) -> None: ...

    assert [m for m in run_checks() if m.id == "django_events.W002"] == []


def test_mistakes_are_clear_errors() -> None:
    with pytest.raises(TypeError, match=r"BulkEvent is generic|BulkCreated is generic"):
        BulkCreated(instances=[], using="default")
    with pytest.raises(ValueError, match="action must be one of bulk_created"):
        bulk_event_name(Item, "created")
    assert issubclass(BulkCreated[Item], BulkEvent)


def test_a_typed_bulk_handler_takes_what_the_bulk_call_dispatches() -> None:
    """What a worker checks a queued task against (Registration.fits)."""
    registration = Registration.create(BulkUpdated[Item], Recorder())
    item = Item(sku="a")
    assert registration.fits(([item], ["sku"]), {"using": "default"})
    assert not registration.fits(([item],), {"using": "default"})
    assert not registration.fits(([item], ["sku"]), {})


# -- what a review found (each failed before its fix) ----------------------------------------


@pytest.mark.django_db(transaction=True, databases=["default", "other"])
def test_after_commit_batch_events_wait_for_the_commit_of_the_calls_database() -> None:
    d = EventDispatcher(mode="sync")
    got: list[BulkCreated[Item]] = []
    d.register(BulkCreated[Item], got.append, after_commit=True)

    def rolled_back() -> None:
        with transaction.atomic(using="other"):
            Item.objects.using("other").bulk_create([Item(sku="rolled back")])
            assert got == []
            raise RuntimeError("rollback")

    with pytest.raises(RuntimeError):
        rolled_back()
    assert got == []  # never delivered: "other" rolled back
    with transaction.atomic(using="other"):
        Item.objects.using("other").bulk_create([Item(sku="kept")])
        assert got == []  # waits for "other", not for "default"
    assert [(e.using, e.instances[0].sku) for e in got] == [("other", "kept")]


def test_bulk_update_is_one_event_not_one_per_batch(sync: EventDispatcher) -> None:
    got: list[Any] = []
    sync.register(BulkUpdated[Item], got.append)
    sync.register(QuerySetUpdated[Item], got.append)
    items = Item.objects.bulk_create([Item(sku=f"s{i}") for i in range(5)])
    Item.objects.bulk_update(items, ["quantity"], batch_size=2)  # three UPDATEs inside
    assert [type(e).__qualname__ for e in got] == ["BulkUpdated[Item]"]


def test_a_failed_update_inside_a_transaction_leaves_it_usable(sync: EventDispatcher) -> None:
    sync.register(QuerySetUpdated[Item], lambda event: None)
    Item.objects.bulk_create([Item(sku="a")])
    with transaction.atomic():
        with pytest.raises(TypeError):
            Item.objects.all()[:1].update(quantity=1)  # Django refuses a sliced update
        assert Item.objects.count() == 1  # the transaction goes on


def test_testing_helpers_see_batch_events_nobody_handles() -> None:
    from django_events.testing import capture_events

    with capture_events() as captured:
        Item.objects.bulk_create([Item(sku="seen")])
    captured.assert_dispatched(BulkCreated[Item], where=lambda e: e.instances[0].sku == "seen")


def test_a_call_that_touches_no_row_dispatches_nothing(sync: EventDispatcher, recorder: Recorder) -> None:
    sync.register(r".*::Item::(bulk_created|queryset_updated|queryset_deleted)", recorder)
    Item.objects.bulk_create([])
    Item.objects.filter(sku="none").update(quantity=1)
    Item.objects.filter(sku="none").delete()
    assert recorder.calls == []


def test_queryset_updated_handlers_cannot_be_queued() -> None:
    with pytest.raises(
        TypeError, match=r"cannot be queued for QuerySetUpdated\[Item\]: its values may be expressions"
    ):
        on(QuerySetUpdated[Item], queue=True)(_queued_update)


def _queued_update(event: QuerySetUpdated[Item]) -> None: ...


def test_the_check_counts_bulk_patterns_and_not_catch_alls() -> None:
    @on(r"events::db::.*::Order::bulk_.*")
    def bulk_pattern(name: str, *args: Any, **kwargs: Any) -> None: ...

    @on(r"events::db::.*::Order::.*")
    def every_order_event(name: str, *args: Any, **kwargs: Any) -> None: ...

    found = [m.msg for m in run_checks() if m.id == "django_events.W002"]
    assert len(found) == 1
    assert "bulk_pattern listens to bulk events of testapp.Order" in found[0]
