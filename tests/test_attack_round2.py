"""Round 2 attack on kept old values (tests/test_changes.py's subject): the row read by
primary key with SQL compiled once, the kept record's validity (an on_commit callback per
record) and the thread's cached connection. Each test here fails on the code it attacked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import override_settings

from django_events import changes, observe_model, on
from tests.testapp.models import Account, Customer, Order, Shelf, current_tenant

pytestmark = pytest.mark.django_db

ORDER = "events::db::tests::testapp::models::Order"


@pytest.fixture(autouse=True)
def sync_mode() -> Iterator[None]:
    with override_settings(DJANGO_EVENTS={"MODE": "sync"}):
        yield


class Rollback(Exception):
    pass


# -- the row read with SQL compiled once -------------------------------------------------


def test_a_base_manager_with_distinct_and_an_ordering_field_not_loaded() -> None:
    """SELECT DISTINCT ... ORDER BY position: Django adds the ordering column to the SELECT
    (and drops it from the rows it returns); the compiled read zips the row with the
    columns it asked for and raises ValueError (zip() argument 2 is longer)."""
    observe_model(Shelf, track_changes=True)
    shelf = Shelf.objects.only("title").get(pk=Shelf.objects.create(title="a", position=3).pk)
    shelf.title = "b"
    assert changes(shelf) == {"title": ("a", "b")}


def test_a_base_manager_whose_filter_depends_on_the_request_is_not_frozen_at_first_read() -> None:
    """A multi-tenant base manager filters by the current tenant, and by nothing outside a
    request. The first read (no tenant: one parameter) caches SQL without the filter, which
    every later read reuses: tenant b's read then sees tenant a's row, which the base
    manager (and the ORM path the code takes for two parameters) hides."""
    observe_model(Account, track_changes=True)
    pk = Account.objects.create(tenant="a", name="x").pk
    first = Account.objects.get(pk=pk)
    first.name = "y"
    assert changes(first) == {"name": ("x", "y")}  # e.g. a management command
    token = current_tenant.set("b")
    try:
        other = Account.objects.get(pk=pk)
        other.name = "z"
        assert changes(other) == {}  # as Account.of_tenant.filter(pk=pk) gives no row
    finally:
        current_tenant.reset(token)


# -- update_fields as attnames -----------------------------------------------------------


def test_a_deferred_instance_saves_its_foreign_key_change() -> None:
    """Django saves an instance loaded with .defer()/.only() with update_fields = its loaded
    fields' *attnames* (customer_id); they are looked up by field name, so the foreign key's
    change is neither reported nor kept (README: "Foreign keys appear under their attname";
    "A field deferred at load ... is compared")."""
    observe_model(Order)
    seen: list[dict[str, tuple[Any, Any]]] = []
    on(f"{ORDER}::updated")(lambda name, o: seen.append(changes(o)))
    a, b = Customer.objects.create(name="a"), Customer.objects.create(name="b")
    order = Order.objects.defer("note").get(pk=Order.objects.create(customer=a).pk)
    order.customer = b
    order.status = "paid"
    order.save()
    assert seen == [{"customer_id": (a.pk, b.pk), "status": ("new", "paid")}]
    assert changes(order) == {}  # saved: the row holds customer b


def test_update_fields_given_as_an_attname() -> None:
    """save(update_fields=["customer_id"]) is valid Django (attnames are accepted) and
    updates the column; its change is not reported."""
    observe_model(Order)
    seen: list[dict[str, tuple[Any, Any]]] = []
    on(f"{ORDER}::updated")(lambda name, o: seen.append(changes(o)))
    a, b = Customer.objects.create(name="a"), Customer.objects.create(name="b")
    order = Order.objects.get(pk=Order.objects.create(customer=a).pk)
    order.customer_id = b.pk
    order.save(update_fields=["customer_id"])
    assert Order.objects.get(pk=order.pk).customer_id == b.pk
    assert seen == [{"customer_id": (a.pk, b.pk)}]


# -- values read in a transaction that rolls back, into a record kept before it -----------


def test_a_deferred_field_read_in_a_rolled_back_savepoint_is_read_again() -> None:
    """The values kept before the savepoint hold after its rollback, and so does what was
    read into them inside it: note "draft" was rolled back, the row says "", yet changes()
    keeps reporting draft -> final."""
    observe_model(Order, track_changes=True)
    pk = Order.objects.create(status="new").pk
    order = Order.objects.defer("note").get(pk=pk)
    with transaction.atomic():
        assert changes(order) == {}  # e.g. a form's "has it changed?" check
        try:
            with transaction.atomic():
                Order.objects.filter(pk=pk).update(note="draft")
                order.note = "final"
                assert changes(order) == {"note": ("draft", "final")}  # right, in the savepoint
                raise Rollback
        except Rollback:
            pass
        assert Order.objects.get(pk=pk).note == ""
        assert changes(order) == {"note": ("", "final")}


def test_a_row_gone_in_a_rolled_back_savepoint_is_looked_for_again() -> None:
    """The same with a delete that is rolled back: "gone" was recorded on the values kept
    before the savepoint, so the row (back after the rollback) is never read again."""
    observe_model(Order, track_changes=True)
    pk = Order.objects.create(status="new").pk
    order = Order.objects.defer("note").get(pk=pk)
    with transaction.atomic():
        assert changes(order) == {}
        try:
            with transaction.atomic():
                Order.objects.filter(pk=pk).delete()
                order.note = "final"
                assert changes(order) == {}  # right: gone, in the savepoint
                raise Rollback
        except Rollback:
            pass
        assert Order.objects.get(pk=pk).note == ""
        assert changes(order) == {"note": ("", "final")}


# -- rollbacks on_commit does not see -----------------------------------------------------


def test_a_manual_savepoint_rolled_back_drops_the_values_kept_in_it() -> None:
    """Django's documented savepoint()/savepoint_rollback() pattern: the on_commit entries
    made after transaction.savepoint() carry no id of it (only atomic() records savepoint
    ids), so its rollback leaves them, and the values the rolled-back save kept."""
    observe_model(Order, track_changes=True)
    order = Order.objects.get(pk=Order.objects.create(status="new").pk)
    with transaction.atomic():
        sid = transaction.savepoint()
        order.status = "paid"
        order.save()
        transaction.savepoint_rollback(sid)
        assert Order.objects.get(pk=order.pk).status == "new"
        assert changes(order) == {"status": ("new", "paid")}


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_manual_transaction_drops_the_values_kept_in_it() -> None:
    """With set_autocommit(False) there is no atomic block: the values a save keeps are
    taken as settled at once, and transaction.rollback() does not void them."""
    observe_model(Order, track_changes=True)
    order = Order.objects.get(pk=Order.objects.create(status="new").pk)
    transaction.set_autocommit(False)
    try:
        order.status = "paid"
        order.save()
        transaction.rollback()
    finally:
        transaction.set_autocommit(True)
    assert Order.objects.get(pk=order.pk).status == "new"
    assert changes(order) == {"status": ("new", "paid")}


# -- what the on_commit callbacks cost ----------------------------------------------------


def test_a_tracked_save_schedules_no_on_commit_callbacks_of_its_own(
    django_capture_on_commit_callbacks: Any,
) -> None:
    """A project's test that a save schedules its one on_commit callback (an email, a task)
    sees two more per tracked save: the library's _Kept._settle."""
    observe_model(Order, track_changes=True)
    order = Order.objects.get(pk=Order.objects.create(status="new").pk)
    with django_capture_on_commit_callbacks() as callbacks:
        order.status = "paid"
        order.save()
        transaction.on_commit(lambda: None)  # the project's own
    assert len(callbacks) == 1, callbacks


def test_saves_in_one_transaction_do_not_pile_up_on_commit_entries() -> None:
    """Each tracked save in a transaction appends (up to) two on_commit entries, each holding
    its values until the commit; a save of an instance saved earlier in the transaction
    scans them all (any(... reversed(run_on_commit))), so a transaction of n saves costs
    O(n^2): here 300 us/save at n=500, 1.2 ms/save at n=8,000 (second pass of saves)."""
    observe_model(Order, track_changes=True)
    Order.objects.bulk_create([Order(status="new") for _ in range(200)])
    orders = list(Order.objects.all())
    with transaction.atomic():
        before = len(connection.run_on_commit)
        for status in ("a", "b"):
            for order in orders:
                order.status = status
                order.save()
        assert len(connection.run_on_commit) - before <= 1
