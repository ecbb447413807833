"""The old values changes() compares with: kept from a save or read from the row, they hold
only for the row they came from (its database and primary key) and only while the
transaction they were kept in can still commit, or once it did."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import pickle
import weakref
from decimal import Decimal
from typing import Any

import django
import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.signals import pre_save
from django.test.utils import CaptureQueriesContext
from django.utils.safestring import mark_safe

from django_events import Updated, Updating, _models, changes, observe_model, on
from tests.testapp import models as testapp
from tests.testapp.models import Account, Code, Customer, Order, Shelf, current_tenant

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sync_mode")]

ORDER = "events::db::tests::testapp::models::Order"
#: transaction.savepoint(), named savepoint_create() since Django 6.1
savepoint = getattr(transaction, "savepoint_create", None) or transaction.savepoint


class PaymentFailed(Exception):
    pass


# -- kept old values and rollbacks -------------------------------------------------------


def test_a_rolled_back_save_leaves_old_values_that_hide_the_next_saves_change() -> None:
    """What a save wrote is kept as the next old values only if its transaction commits:
    after a rollback the row is back at "new", and the retry reports new -> paid."""
    observe_model(Order)
    seen: list[dict[str, tuple[Any, Any]]] = []
    on(f"{ORDER}::updated")(lambda name, o: seen.append(changes(o)))
    order = Order.objects.get(pk=Order.objects.create(status="new").pk)

    def pay() -> None:
        with transaction.atomic():
            order.status = "paid"
            order.save()
            raise PaymentFailed  # the UPDATE is rolled back

    with pytest.raises(PaymentFailed):
        pay()
    assert Order.objects.get(pk=order.pk).status == "new"
    assert changes(order) == {"status": ("new", "paid")}  # the row says new, the instance paid
    order.save()  # the retry: this save changes the row from new to paid
    assert seen[-1] == {"status": ("new", "paid")}


def test_row_values_read_inside_a_rolled_back_transaction_stay_the_old_values() -> None:
    """The same for a row read (the first changes()) inside a transaction that rolls back:
    what it read is read again."""
    observe_model(Order, track_changes=True)
    order = Order.objects.get(pk=Order.objects.create(status="new").pk)

    def pay() -> None:
        with transaction.atomic():
            Order.objects.filter(pk=order.pk).update(status="paid")
            assert changes(order) == {"status": ("paid", "new")}  # right, inside the transaction
            raise PaymentFailed

    with pytest.raises(PaymentFailed):
        pay()
    assert Order.objects.get(pk=order.pk).status == order.status == "new"
    assert changes(order) == {}  # row and instance agree


# -- kept old values belong to one row ------------------------------------------------------


@pytest.mark.django_db(databases=["default", "other"])
def test_a_save_to_another_database_compares_with_the_row_there() -> None:
    """The values kept from a save to "default" are not those of the row in "other"."""
    observe_model(Order)
    seen: list[tuple[str, dict[str, tuple[Any, Any]]]] = []
    on(f"{ORDER}::updated")(lambda name, o: seen.append((o._state.db, changes(o))))
    order = Order.objects.create(status="new")
    Order.objects.using("other").create(pk=order.pk, status="new")  # the same row, copied
    order = Order.objects.get()
    order.status = "paid"
    order.save()
    order.save(using="other")  # e.g. copying to a backup database: there new -> paid
    assert Order.objects.using("other").get().status == "paid"
    assert seen == [("default", {"status": ("new", "paid")}), ("other", {"status": ("new", "paid")})]


def test_a_primary_key_changed_after_changes_was_asked_compares_with_the_row_the_save_updates() -> None:
    """Values read for pk "A" are not row "B"'s: a save that UPDATEs row "B" reports its
    diff against row "B" (label b -> x), whether or not changes() was asked before."""
    observe_model(Code, track_changes=True)
    seen: list[dict[str, tuple[Any, Any]]] = []
    on("events::db::tests::testapp::models::Code::updated")(lambda name, c: seen.append(changes(c)))
    Code.objects.create(code="A", label="a")
    Code.objects.create(code="B", label="b")
    code = Code.objects.get(code="A")
    code.label = "x"
    assert changes(code) == {"label": ("a", "x")}  # e.g. a form's "has it changed?" check
    code.code = "B"
    code.save()  # UPDATE ... WHERE code = 'B': row B's label goes from b to x
    assert dict(Code.objects.values_list("code", "label")) == {"A": "a", "B": "x"}
    assert seen == [{"label": ("b", "x")}]


# -- a row that is gone -------------------------------------------------------------------


def test_updating_handlers_of_a_save_whose_row_is_gone_do_not_query_again() -> None:
    """The handlers of updating get the changes without a query, also when pre_save found
    no row (which is not looked for again)."""
    observe_model(Order)
    seen: list[dict[str, tuple[Any, Any]]] = []
    on(f"{ORDER}::updating")(lambda name, o: seen.extend([changes(o), changes(o), changes(o)]))
    order = Order.objects.get(pk=Order.objects.create(status="new").pk)
    Order.objects.filter(pk=order.pk).delete()  # another request deleted it
    order.status = "paid"
    with CaptureQueriesContext(connection) as queries:
        order.save()  # updating, then Django INSERTs it again: created
    assert seen == [{}, {}, {}]
    selects = [q["sql"] for q in queries if q["sql"].startswith("SELECT")]
    assert len(selects) == 1, selects  # pre_save's read only


def test_an_async_updating_handler_gets_the_changes_when_the_row_is_gone() -> None:
    """The same, async: Updating[Order].changes is built in the coroutine, which must not
    query (SynchronousOnlyOperation)."""
    seen: list[dict[str, tuple[Any, Any]]] = []

    @on(Updating[Order])
    async def audit(event: Updating[Order]) -> None:
        seen.append(event.changes)

    order = Order.objects.get(pk=Order.objects.create(status="new").pk)
    Order.objects.filter(pk=order.pk).delete()
    order.status = "paid"
    order.save()
    assert seen == [{}]


# -- what a save keeps --------------------------------------------------------------------


def test_an_f_expression_save_then_refresh_from_db_reports_no_made_up_change() -> None:
    """Django's race-free increment: assign F(), save, refresh_from_db(). The expression is
    not kept as an old value (the row holds its result, read when needed)."""
    observe_model(Order)
    seen: list[dict[str, tuple[Any, Any]]] = []
    on(f"{ORDER}::updated")(lambda name, o: seen.append(changes(o)))
    order = Order.objects.get(pk=Order.objects.create(status="new").pk)
    order.total = F("total") + 1
    order.save()
    order.refresh_from_db()  # as Django's docs say to, after an F() assignment
    assert str(order.total) == "1.00"
    assert changes(order) == {}
    order.note = "packed"
    order.save()
    assert seen[-1] == {"note": ("", "packed")}


def test_a_gone_row_is_looked_for_once(django_assert_num_queries: Any) -> None:
    observe_model(Order, track_changes=True)
    order = Order.objects.get(pk=Order.objects.create(status="new").pk)
    Order.objects.filter(pk=order.pk).delete()
    order.status = "paid"
    with django_assert_num_queries(1):
        assert changes(order) == {}
        assert changes(order) == {}


def test_the_copy_idiom_without_adding_compares_with_no_row() -> None:
    """``pk = None`` then ``save()`` (Django INSERTs a copy): the original row's values are
    not the copy's old values."""
    observe_model(Order)
    seen: list[tuple[str, dict[str, tuple[Any, Any]]]] = []
    on(f"{ORDER}::(updating|created)")(lambda name, o: seen.append((name.rsplit("::", 1)[1], changes(o))))
    order = Order.objects.get(pk=Order.objects.create(status="new").pk)
    order.status = "copied"
    assert changes(order) == {"status": ("new", "copied")}
    order.pk = None
    order.save()
    assert seen[-2:] == [("updating", {}), ("created", {})]
    assert Order.objects.count() == 2


@pytest.mark.skipif(django.VERSION < (5, 2), reason="CompositePrimaryKey is new in Django 5.2")
def test_a_primary_key_of_two_columns() -> None:
    pair_model: Any = testapp.Pair
    observe_model(pair_model)
    seen: list[dict[str, tuple[Any, Any]]] = []
    on("events::db::tests::testapp::models::Pair::updated")(lambda name, p: seen.append(changes(p)))
    pair_model.objects.create(left=1, right=2, label="a")
    pair_model.objects.create(left=2, right=1, label="b")
    for _ in range(2):  # the second time with the read's plan known
        pair = pair_model.objects.get(left=2, right=1)
        pair.label += "!"
        pair.save()
    assert seen == [{"label": ("b", "b!")}, {"label": ("b!", "b!!")}]


def test_values_of_other_types_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """A str subclass (mark_safe) is no expression: kept as saved. And however many reads
    of other fields were compiled, the next read is right (their cache is bounded)."""
    monkeypatch.setattr(_models, "_READS_AT_MOST", 1)
    observe_model(Order, track_changes=True)
    order = Order.objects.get(pk=Order.objects.create(status="new", note="n").pk)
    order.note = mark_safe("<b>safe</b>")
    order.save()
    assert changes(order) == {}
    for fields in (["status"], ["note"], ["status"]):
        again = Order.objects.only(*fields).get(pk=order.pk)
        setattr(again, fields[0], "x")
        assert changes(again) == {fields[0]: (getattr(order, fields[0]), "x")}


@pytest.mark.django_db(transaction=True)
def test_a_save_in_a_thread_that_runs_an_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sync ORM calls in async code (allowed with DJANGO_ALLOW_ASYNC_UNSAFE): the connection
    there is the task's, whose transaction decides whether kept values can be rolled back."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    observe_model(Order, track_changes=True)
    order = Order.objects.create(status="new")

    def save_then_fail() -> None:
        with transaction.atomic():
            order.status = "paid"
            order.save()
            raise PaymentFailed

    async def pay() -> dict[str, tuple[Any, Any]]:
        try:
            with pytest.raises(PaymentFailed):
                save_then_fail()
            return changes(order)  # the rollback voided what the save kept: the row is read
        finally:
            connection.close()  # this task's own connection

    assert asyncio.run(pay()) == {"status": ("new", "paid")}


# -- the row read with SQL compiled once -------------------------------------------------


def test_a_base_manager_with_distinct_and_an_ordering_field_not_loaded() -> None:
    """SELECT DISTINCT ... ORDER BY position: Django adds the ordering column to the SELECT
    (and drops it from the rows it returns): read through the ORM."""
    observe_model(Shelf, track_changes=True)
    shelf = Shelf.objects.only("title").get(pk=Shelf.objects.create(title="a", position=3).pk)
    shelf.title = "b"
    assert changes(shelf) == {"title": ("a", "b")}


def test_a_base_manager_whose_filter_depends_on_the_request_is_not_frozen_at_first_read() -> None:
    """A multi-tenant base manager filters by the current tenant, and by nothing outside a
    request: its query is built at each read, never kept from the first one."""
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
    fields' *attnames* (customer_id): the foreign key's change is reported and kept."""
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
    """save(update_fields=["customer_id"]) is valid Django (attnames are accepted)."""
    observe_model(Order)
    seen: list[dict[str, tuple[Any, Any]]] = []
    on(f"{ORDER}::updated")(lambda name, o: seen.append(changes(o)))
    a, b = Customer.objects.create(name="a"), Customer.objects.create(name="b")
    order = Order.objects.get(pk=Order.objects.create(customer=a).pk)
    order.customer_id = b.pk
    order.save(update_fields=["customer_id"])
    assert Order.objects.get(pk=order.pk).customer_id == b.pk
    assert seen == [{"customer_id": (a.pk, b.pk)}]


# -- values read in a savepoint that rolls back ---------------------------------------------


def test_a_deferred_field_read_in_a_rolled_back_savepoint_is_read_again() -> None:
    """What was read inside a savepoint that rolls back is read again afterwards (the
    values kept before it are kept anew with the read, in the savepoint)."""
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
                raise PaymentFailed
        except PaymentFailed:
            pass
        assert Order.objects.get(pk=pk).note == ""
        assert changes(order) == {"note": ("", "final")}


def test_a_row_gone_in_a_rolled_back_savepoint_is_looked_for_again() -> None:
    """The same with a delete that is rolled back: the row, back, is looked for again."""
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
                raise PaymentFailed
        except PaymentFailed:
            pass
        assert Order.objects.get(pk=pk).note == ""
        assert changes(order) == {"note": ("", "final")}


# -- rollbacks outside atomic() ----------------------------------------------------------


def test_a_manual_savepoint_rolled_back_drops_the_values_kept_in_it() -> None:
    """Django's documented savepoint()/savepoint_rollback() pattern drops what the save
    inside it kept (Django gives the connection a new run_on_commit list)."""
    observe_model(Order, track_changes=True)
    order = Order.objects.get(pk=Order.objects.create(status="new").pk)
    with transaction.atomic():
        sid = savepoint()
        order.status = "paid"
        order.save()
        transaction.savepoint_rollback(sid)
        assert Order.objects.get(pk=order.pk).status == "new"
        assert changes(order) == {"status": ("new", "paid")}


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_manual_transaction_drops_the_values_kept_in_it() -> None:
    """With set_autocommit(False) there is no atomic block; transaction.rollback() drops
    what the save kept all the same."""
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


# -- nothing added to on_commit ------------------------------------------------------------


def test_a_tracked_save_schedules_no_on_commit_callbacks_of_its_own(
    django_capture_on_commit_callbacks: Any,
) -> None:
    """A project's test that a save schedules its one on_commit callback (an email, a task)
    sees that one only: tracking schedules none."""
    observe_model(Order, track_changes=True)
    order = Order.objects.get(pk=Order.objects.create(status="new").pk)
    with django_capture_on_commit_callbacks() as callbacks:
        order.status = "paid"
        order.save()
        transaction.on_commit(lambda: None)  # the project's own
    assert len(callbacks) == 1, callbacks


def test_saves_in_one_transaction_do_not_pile_up_on_commit_entries() -> None:
    """Tracked saves in a transaction add nothing to its on_commit list (checking whether
    kept values hold would otherwise scan it: n saves would cost n squared)."""
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


# -- a savepoint rolled back between pre_save and post_save -------------------------------


def test_a_savepoint_rolled_back_by_an_updating_handler_does_not_erase_the_saves_changes() -> None:
    """An updating handler that tries something in its own savepoint and rolls it back (it
    touched nothing of the order): the save's changes are still what pre_save read against
    what it wrote (the rollback came before the UPDATE)."""
    observe_model(Order)
    seen: list[dict[str, tuple[Any, Any]]] = []

    @on(f"{ORDER}::updating")
    def try_something(name: str, order: Order) -> None:
        try:
            with transaction.atomic():  # e.g. reserve stock; declined and undone
                raise PaymentFailed
        except PaymentFailed:
            pass

    on(f"{ORDER}::updated")(lambda name, o: seen.append(changes(o)))
    order = Order.objects.get(pk=Order.objects.create(status="new").pk)
    order.status = "paid"
    order.save()
    assert Order.objects.get(pk=order.pk).status == "paid"
    assert seen == [{"status": ("new", "paid")}]


def test_insert_if_absent_in_an_updating_handler_does_not_erase_the_typed_events_changes() -> None:
    """The same with Django's insert-if-absent idiom (IntegrityError caught around a
    savepoint), and the typed Updated[Order].changes."""
    observe_model(Order)
    Code.objects.create(code="PAID", label="paid")
    seen: list[dict[str, tuple[Any, Any]]] = []

    @on(f"{ORDER}::updating")
    def label_status(name: str, order: Order) -> None:
        try:
            with transaction.atomic():
                Code.objects.create(code=order.status.upper(), label=order.status)
        except IntegrityError:
            pass  # already there

    @on(Updated[Order])
    def audit(event: Updated[Order]) -> None:
        seen.append(event.changes)

    order = Order.objects.get(pk=Order.objects.create(status="new").pk)
    order.status = "paid"
    order.save()
    assert seen == [{"status": ("new", "paid")}]


def test_a_pre_save_receiver_of_another_app_that_rolls_back_a_savepoint() -> None:
    """Not only the library's own handlers run between pre_save and post_save: any
    pre_save receiver connected after the model was observed does."""
    observe_model(Order)
    seen: list[dict[str, tuple[Any, Any]]] = []
    on(f"{ORDER}::updated")(lambda name, o: seen.append(changes(o)))

    def other_app(sender: type[Order], instance: Order, **kwargs: Any) -> None:
        try:
            with transaction.atomic():
                raise PaymentFailed
        except PaymentFailed:
            pass

    pre_save.connect(other_app, sender=Order, weak=False)
    try:
        order = Order.objects.get(pk=Order.objects.create(status="new").pk)
        order.status = "paid"
        order.save()
    finally:
        pre_save.disconnect(other_app, sender=Order)
    assert seen == [{"status": ("new", "paid")}]


# -- what kept values hold: a token, not the transaction's callbacks -------------------------


def test_a_saved_instance_can_be_pickled_inside_a_transaction_with_on_commit_callbacks() -> None:
    """Caching a saved instance (Django's cache pickles it) inside a transaction, e.g. a
    view under ATOMIC_REQUESTS, with an on_commit callback pending (a lambda): the kept
    values hold a token, not the connection's callbacks."""
    observe_model(Order, track_changes=True)
    order = Order.objects.get(pk=Order.objects.create(status="new").pk)
    with transaction.atomic():
        transaction.on_commit(lambda: None)  # any app's callback
        order.status = "paid"
        order.save()
        restored = pickle.loads(pickle.dumps(order))
    assert restored.status == "paid"


class Payload:
    """Something an on_commit callback closes over (an e-mail to send, a big batch)."""


def test_a_rolled_back_transactions_callbacks_are_not_kept_alive_by_an_instance() -> None:
    """After a rollback Django drops the transaction's on_commit callbacks; an instance
    saved in it (cached in a module, say) does not keep them alive. (The library keeps the
    connection's current list until its next transaction asks: one list per connection.)"""
    observe_model(Order, track_changes=True)
    order = Order.objects.get(pk=Order.objects.create(status="new").pk)
    payload = Payload()
    alive = weakref.ref(payload)

    def pay(payload: Payload) -> None:
        with transaction.atomic():
            transaction.on_commit(lambda: print(payload))
            order.status = "paid"
            order.save()
            raise PaymentFailed

    with contextlib.suppress(PaymentFailed):  # (pytest.raises's traceback would hold pay()'s frame)
        pay(payload)
    del payload
    with transaction.atomic():  # the connection's next transaction that keeps values
        Order.objects.create(status="other")
    gc.collect()
    assert Order.objects.get(pk=order.pk).status == "new"
    assert alive() is None
    assert order.status == "paid"  # (the instance lives on)


def _nested(depth: int, leaf: object) -> object:
    value: object = leaf
    for _ in range(depth):
        value = {"a": [value]}
    return value


@pytest.mark.parametrize(
    ("old", "new", "same"),
    [
        ({"a": [1, {"b": 2}]}, {"a": [1, {"b": 2}]}, True),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, True),  # JSON objects: their key order is no change
        ({"a": 1}, {"a": True}, False),
        ([1], [1.0], False),
        (1, True, False),  # a whole JSONField value
        (Decimal("1.0"), 1, False),  # (a decoder's Decimal: "1.0" and "1" are two texts)
        (collections.OrderedDict(a=1), {"a": True}, False),  # a mapping of another type is walked
        (["x"], [mark_safe("x")], True),  # equal, no numbers: as == says
        ({"a": [1]}, {"a": [2]}, False),
        (_nested(400, 1), _nested(400, 1), True),  # 800 containers: no recursion of its own
        (_nested(400, 1), _nested(400, True), False),
    ],
    ids=lambda value: type(value).__name__,
)
def test_json_values_are_the_same_when_their_json_is(old: object, new: object, same: bool) -> None:
    """What a save's changes compare (a JSONField's thawed values): 1, 1.0 and true are three
    JSON values, which Python calls equal."""
    assert _models._same(old, new) is same
