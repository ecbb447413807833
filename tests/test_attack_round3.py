"""Attack, round 3: the ``run_on_commit`` identity that decides whether kept old values
still hold (``_Kept.hooks``).

Django replaces ``connection.run_on_commit`` at every rollback and savepoint rollback, as
the library assumes; but it replaces it too at a savepoint rollback that undid nothing of
the instance's row, and ``_post_save`` does not re-read then: it reports no change. And
``_Kept`` holds the list itself, with every callback in it."""

from __future__ import annotations

import contextlib
import gc
import pickle
import weakref
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.db.models.signals import pre_save

from django_events import Updated, changes, observe_model, on
from tests.testapp.models import Code, Order

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sync_mode")]

ORDER = "events::db::tests::testapp::models::Order"


class Declined(Exception):
    pass


# -- a savepoint rolled back between pre_save and post_save -------------------------------


def test_a_savepoint_rolled_back_by_an_updating_handler_does_not_erase_the_saves_changes() -> None:
    """An updating handler that tries something in its own savepoint and rolls it back (it
    touched nothing of the order) gives the connection a new run_on_commit list: post_save
    then finds pre_save's values "not holding" and reports the save as changing nothing,
    although the UPDATE did change status from new to paid."""
    observe_model(Order)
    seen: list[dict[str, tuple[Any, Any]]] = []

    @on(f"{ORDER}::updating")
    def try_something(name: str, order: Order) -> None:
        try:
            with transaction.atomic():  # e.g. reserve stock; declined and undone
                raise Declined
        except Declined:
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
                raise Declined
        except Declined:
            pass

    pre_save.connect(other_app, sender=Order, weak=False)
    try:
        order = Order.objects.get(pk=Order.objects.create(status="new").pk)
        order.status = "paid"
        order.save()
    finally:
        pre_save.disconnect(other_app, sender=Order)
    assert seen == [{"status": ("new", "paid")}]


# -- what _Kept holds: the connection's list, with every callback in it --------------------


def test_a_saved_instance_can_be_pickled_inside_a_transaction_with_on_commit_callbacks() -> None:
    """Caching a saved instance (Django's cache pickles it) inside a transaction, e.g. a
    view under ATOMIC_REQUESTS: the kept values hold the connection's run_on_commit list,
    so pickle tries to pickle every pending on_commit callback (here a lambda) and fails.
    Untracked, the same instance pickles."""
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
    saved in it keeps them (and what they close over) alive for as long as it lives, e.g.
    in a module-level cache, until it is saved or compared again."""
    observe_model(Order, track_changes=True)
    order = Order.objects.get(pk=Order.objects.create(status="new").pk)
    payload = Payload()
    alive = weakref.ref(payload)

    def pay(payload: Payload) -> None:
        with transaction.atomic():
            transaction.on_commit(lambda: print(payload))
            order.status = "paid"
            order.save()
            raise Declined

    with contextlib.suppress(Declined):  # (pytest.raises's traceback would hold pay()'s frame)
        pay(payload)
    del payload
    gc.collect()
    assert Order.objects.get(pk=order.pk).status == "new"
    assert alive() is None
