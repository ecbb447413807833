"""Alive (weakly remembered objects), the deleted copy behind a drain, JSON
change detection, payload hints and W003."""

from __future__ import annotations

import datetime
import gc
import threading
import weakref
from collections import OrderedDict
from decimal import Decimal
from typing import Any

import pytest

from django_events import Deleted, EventDispatcher, _models, changes, observe_model, on
from django_events._live import Alive
from tests.testapp.models import Order

ORDER = "events::db::tests::testapp::models::Order"


class _Thing:
    pass


# -- Alive -------------------------------------------------------------------------------------


class _CollectingWeakref:
    """weakref as _live uses it, with a collection at each reference made (a GC can run
    at any allocation: here, deterministically, at the one inside the lock)."""

    def __init__(self) -> None:
        import weakref

        self.real = weakref.ref

    def ref(self, item: Any) -> Any:
        gc.collect()
        return self.real(item)


def _in_thread(body: Any) -> None:
    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    thread.join(3)
    assert not thread.is_alive(), "deadlocked on Alive's own lock"


def _cycle_adding(box: Alive[_Thing], kept: list[_Thing], count: int) -> None:
    class Cyclic:
        def __del__(self) -> None:
            for _ in range(count):
                thing = _Thing()
                kept.append(thing)
                box.add(thing)

    a = Cyclic()
    a.me = a  # type: ignore[attr-defined]


def test_a_collection_inside_add_that_adds_again_does_not_deadlock(monkeypatch: pytest.MonkeyPatch) -> None:
    """An object whose __del__ makes a dispatcher (which adds itself to the live ones),
    collected by a GC that runs while another dispatcher is being added: the lock is taken
    again by the same thread."""
    from django_events import _live

    box: Alive[_Thing] = Alive()
    kept: list[_Thing] = [_Thing()]
    monkeypatch.setattr(_live, "weakref", _CollectingWeakref())
    gc.disable()  # (no collection before the one inside the lock)
    try:
        _cycle_adding(box, kept, 1)
        _in_thread(lambda: box.add(kept[0]))
    finally:
        gc.enable()
    monkeypatch.undo()
    assert len(box.alive()) == 2


def test_a_collection_inside_alive_that_adds_keeps_the_new_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    """A GC inside alive()'s pruning whose __del__ adds objects, which may take the ids of
    ones found dead: the new objects stay listed."""
    box: Alive[_Thing] = Alive()
    for _ in range(10):
        box.add(_Thing())
    kept: list[_Thing] = []
    real = box._pruned

    def pruned() -> list[_Thing]:
        gc.collect()  # (as an allocation inside the lock may)
        return real()

    monkeypatch.setattr(box, "_pruned", pruned)
    gc.disable()  # (no collection before the one inside the lock)
    try:
        _cycle_adding(box, kept, 10)
        _in_thread(box.alive)
    finally:
        gc.enable()
    monkeypatch.undo()
    assert {id(t) for t in box.alive()} == {id(t) for t in kept}


def test_alive_lists_in_the_order_added_when_an_id_comes_again() -> None:
    """A dead object's entry, under the id a new object now has (CPython gives a freed
    object's address to the next one): the new object is listed last, where it was added."""
    box: Alive[Any] = Alive()
    first, second, third = _Thing(), _Thing(), _Thing()
    box.add(first)
    box.add(second)
    box._refs = {id(third): weakref.ref(_Thing()), **box._refs}  # (that one is dead at once)
    box.add(third)
    assert box.alive() == [first, second, third]


def test_an_object_added_while_alive_prunes_is_kept() -> None:
    """A collection inside the pruning (at any allocation) whose __del__ adds an object under
    the id of an entry found dead: the entry is the new object's, and stays."""
    box: Alive[Any] = Alive()
    late = _Thing()

    class DeadRefThatAdds:
        """A dead entry whose check runs the collection that adds ``late`` under its id."""

        def __call__(self) -> None:
            box.add(late)

    box._refs[id(late)] = DeadRefThatAdds()  # type: ignore[assignment]
    assert box.alive() == []  # (late was added during that listing)
    assert box.alive() == [late]


def test_many_dispatchers_made_and_dropped_with_nobody_listing_stay_bounded() -> None:
    from django_events import _dispatcher

    before = len(_dispatcher._live._refs)
    for _ in range(2000):
        EventDispatcher(mode="sync")
    assert len(_dispatcher._live._refs) < before + 200


def test_threads_adding_while_others_list() -> None:
    box: Alive[_Thing] = Alive()
    errors: list[BaseException] = []
    stop = threading.Event()

    def maker() -> None:
        try:
            for _ in range(3000):
                box.add(_Thing())
        except BaseException as exc:  # pragma: no cover - the failure this test is about
            errors.append(exc)

    def lister() -> None:
        try:
            while not stop.is_set():
                box.alive()
        except BaseException as exc:  # pragma: no cover - the failure this test is about
            errors.append(exc)

    threads = [threading.Thread(target=maker) for _ in range(3)]
    listers = [threading.Thread(target=lister) for _ in range(2)]
    for t in threads + listers:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    for t in listers:
        t.join()
    assert errors == []


# -- the deleted copy behind a drain --------------------------------------------------------------


def _delete_behind_a_drain(seen: list[Any]) -> int:
    queued = EventDispatcher(mode="gevent")
    on(Deleted[Order], dispatcher=queued)(lambda e: seen.append(e.instance.pk))
    doomed = Order.objects.create()
    pk = doomed.pk
    on("shop::cancelled", dispatcher=queued)(lambda name: doomed.delete())
    queued.dispatch("shop::cancelled")
    queued.clear_queue()
    return int(pk)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("sync_mode")
def test_deleted_behind_a_drain_with_a_getstate_that_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model whose __getstate__ refuses pickling (it holds a connection): the copy a
    deleted event behind a drain gets must not fail the delete, as the after-commit copy
    does not (_copy_of)."""

    def refuse(self: Order) -> Any:  # pragma: no cover - the copy must not call it
        raise TypeError("an Order holds a connection: not picklable")

    monkeypatch.setattr(Order, "__getstate__", refuse, raising=False)
    seen: list[Any] = []
    pk = _delete_behind_a_drain(seen)
    assert seen == [pk]
    assert not Order.objects.filter(pk=pk).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("sync_mode")
def test_deleted_behind_a_drain_with_a_copy_that_makes_a_duplicate(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model whose __copy__ makes a duplicate to save (no primary key): the handlers of
    the deleted event still see the deleted row's primary key."""

    def duplicate(self: Order) -> Order:  # pragma: no cover - the copy must not call it
        return Order(data=dict(self.data), status=self.status)

    monkeypatch.setattr(Order, "__copy__", duplicate, raising=False)
    seen: list[Any] = []
    pk = _delete_behind_a_drain(seen)
    assert seen == [pk]


# -- JSON change detection ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.usefixtures("sync_mode")
def test_a_nested_1_to_true_inside_values_marshal_cannot_write_is_a_change() -> None:
    """A JSONField holding OrderedDicts (a decoder's object_pairs_hook, or set so): the row
    goes from {"a": 1} to {"a": true}, a change, as it is for plain dicts."""
    observe_model(Order, track_changes=True)
    order = Order.objects.create(data=OrderedDict(a=1, b=[1]))
    order.data = OrderedDict(a=True, b=[1])
    assert changes(order) == {"data": (OrderedDict(a=1, b=[1]), OrderedDict(a=True, b=[1]))}
    order.data = OrderedDict(a=1, b=[1.0])
    assert "data" in changes(order)
    order.data = OrderedDict(a=1, b=[1])
    assert changes(order) == {}


def test_diff_of_two_unfrozen_json_values() -> None:
    before = {"data": OrderedDict(a=1)}
    now = {"data": OrderedDict(a=True)}
    assert _models._diff(before, now, frozenset({"data"})) == {"data": (before["data"], now["data"])}
    assert _models._diff(before, now, frozenset()) == {}  # not a JSONField: equal values


# -- payload hints ---------------------------------------------------------------------------------


class FakeDatetime(datetime.datetime):
    """As freezegun's: timezone.now() returns one while time is frozen."""


class Money(Decimal):
    pass


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            FakeDatetime(2024, 1, 1),
            "is a tests.test_alive_and_copies.FakeDatetime, a datetime subclass, which would reach the "
            "handler as a plain datetime; pass a plain datetime to queue it",
        ),
        (
            Money("1.5"),
            "is a tests.test_alive_and_copies.Money, a Decimal subclass, which would reach the handler as a "
            "plain Decimal; pass a plain Decimal to queue it",
        ),
    ],
    ids=["datetime subclass", "Decimal subclass"],
)
def test_a_subclass_of_a_supported_scalar_is_refused_with_the_conversion_to_make(
    value: Any, message: str
) -> None:
    """Not "has no JSON form here; queued handlers take ... datetime ...": it is one."""
    from tests.test_payload import unqueueable

    assert unqueueable(("x", value)).endswith(message)
