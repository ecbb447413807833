"""Edge paths of the prepared/handed-over queued handlers, change tracking of JSON values,
the deleted instance's copy, bulk checks, legacy repr and dotted autodiscovery names.

Each test states what a user does and what Django's semantics or README promise.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import sys
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.db import transaction
from django.db.models import QuerySet
from django.test import override_settings

from django_events import (
    BulkEventsQuerySet,
    Deleted,
    Event,
    EventDispatcher,
    Updated,
    changes,
    observe_model,
    on,
)
from django_events.apps import autodiscover
from django_events.tasks import InvalidTaskError
from tests.testapp.models import Item, Order

FRAMEWORK = "django.tasks" if find_spec("django.tasks") else "django_tasks"
IMMEDIATE = {
    "default": {"BACKEND": f"{FRAMEWORK}.backends.immediate.ImmediateBackend", "QUEUES": ["default", "mail"]}
}
DUMMY_DEFAULT_ONLY = {
    "default": {"BACKEND": f"{FRAMEWORK}.backends.dummy.DummyBackend", "QUEUES": ["default"]}
}

try:
    from django.tasks.backends.dummy import DummyBackend
except ImportError:  # the backport
    from django_tasks.backends.dummy import DummyBackend  # type: ignore[assignment]


class StoreDownBackend(DummyBackend):
    """A task store that accepts the task (queue, priority) but fails to write it."""

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        try:
            raise ConnectionRefusedError("no route to the task store")
        except ConnectionRefusedError as exc:
            raise OSError("task store is down") from exc


STORE_DOWN = {"default": {"BACKEND": f"{__name__}.StoreDownBackend", "QUEUES": ["default", "mail"]}}

CALLS: list[Any] = []


@pytest.fixture(autouse=True)
def _calls() -> Iterator[None]:
    CALLS.clear()
    gc.collect()  # model and bulk events go to every live dispatcher: not to earlier tests' ones
    yield
    CALLS.clear()


def record_any(name: str, *args: Any, **kwargs: Any) -> None:
    CALLS.append((name, args))


def relay(name: str, *args: Any, **kwargs: Any) -> None:
    """A queued handler that dispatches an event to in-process handlers."""
    from django_events import dispatcher

    CALLS.append(("relay", name))
    dispatcher.dispatch("edge::relayed")


def fail_in_process(name: str, *args: Any) -> None:
    raise RuntimeError(f"in-process {name}")


# -- change tracking of JSONField values -----------------------------------------------------


def _nested(depth: int, leaf: object) -> object:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.django_db
@pytest.mark.usefixtures("sync_mode")
def test_a_save_of_a_deeply_nested_json_value_does_not_hit_the_recursion_limit() -> None:
    """A JSONField that holds a deeply nested value (a webhook's payload kept as it came,
    500 levels: json.loads reads it, Python's == compares it) is saved with one leaf
    changed. Before, _diff compared it with ``!=`` (C); _same recurses in Python, two
    frames per level, and the save raised RecursionError from post_save, after the row
    was written."""
    observe_model(Order, track_changes=True)
    order = Order.objects.create(data=_nested(500, 1))
    order = Order.objects.get(pk=order.pk)
    order.data = _nested(500, 2)
    order.save()
    assert list(changes(order)) == []  # saved: nothing changed since
    assert Order.objects.get(pk=order.pk).data == _nested(500, 2)


@pytest.mark.django_db
@pytest.mark.usefixtures("sync_mode")
def test_a_deeply_nested_json_value_that_only_changed_type_is_a_change() -> None:
    """The same, where only the innermost number changed type (1 -> true): Python calls
    the two equal, JSON does not; the walk that tells them apart must not recurse either."""
    observe_model(Order, track_changes=True)
    order = Order.objects.create(data=_nested(500, 1))
    order = Order.objects.get(pk=order.pk)
    order.data = _nested(500, True)
    assert list(changes(order)) == ["data"]


@pytest.mark.django_db
@pytest.mark.usefixtures("sync_mode")
def test_a_top_level_json_number_that_becomes_a_bool_is_a_change() -> None:
    """A JSONField whose whole value is 1 and becomes true (or 1.0) changes the row's JSON,
    as a nested one does; a DecimalField's 0 that becomes False writes what it held."""
    observe_model(Order, track_changes=True)
    order = Order.objects.create(data=1)
    order = Order.objects.get(pk=order.pk)
    order.data = True
    assert changes(order) == {"data": (1, True)}
    order.data = 1.0
    assert changes(order) == {"data": (1, 1.0)}
    order.data = 1
    order.total = False
    assert changes(order) == {}
    seen: list[Any] = []
    on(Updated[Order])(lambda event: seen.append(event.changes))
    order.data = True
    order.save()
    assert seen == [{"data": (1, True)}]


# -- queued handlers: prepare and hand-over ----------------------------------------------------


@pytest.mark.django_db
@override_settings(TASKS=DUMMY_DEFAULT_ONLY)
def test_an_after_commit_queued_handlers_refused_queue_refuses_the_dispatch_first() -> None:
    """README (Enqueue failures): "The backend checks every queued handler's queue and
    priority, as the payload is checked, before any handler of the event runs". A queued
    handler with after_commit=True on a queue the backend refuses was not checked: the
    immediate handler ran, the dispatch returned, and at the commit the task was refused,
    logged and lost."""
    d = EventDispatcher(mode="sync")
    d.register("edge::.*", record_any, queue="mail", after_commit=True)
    ran: list[str] = []
    d.register("edge::.*", lambda name: ran.append(name))
    with transaction.atomic(), pytest.raises(InvalidTaskError, match=r"record_any \(queue='mail'"):
        d.dispatch("edge::paid")
    assert ran == []


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=STORE_DOWN)
@pytest.mark.parametrize("how", ["dispatch", "adispatch"])
def test_a_failing_enqueue_does_not_hide_the_handler_error_raised_before_it(how: str) -> None:
    """Sync mode with raise_handler_errors: an immediate handler raises, then the queued
    handler's task cannot be written (tasks are handed over last). The caller got the
    store's OSError only: the handler's error was neither raised nor logged (the raise
    policy returns it to be raised, it is not logged), so it vanished. It must at least
    be reachable from what is raised (its context)."""
    d = EventDispatcher(mode="sync", raise_handler_errors=True)
    d.register("edge::.*", record_any, queue=True)

    def immediate(name: str) -> None:
        raise ValueError("the immediate handler failed")

    d.register("edge::.*", immediate)

    def send() -> None:
        if how == "dispatch":
            d.dispatch("edge::paid")
        else:
            asyncio.run(d.adispatch("edge::paid"))

    with pytest.raises(OSError, match="task store is down") as caught:
        send()
    chain = []
    error: BaseException | None = caught.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    # the store's error, what it came from, then the handler's
    assert [type(e) for e in chain] == [OSError, ConnectionRefusedError, ValueError], chain


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=IMMEDIATE)
def test_adispatch_raises_the_error_of_an_event_a_queued_handler_dispatched() -> None:
    """gevent mode, raise_handler_errors, ImmediateBackend (tests, development): a queued
    handler dispatches an event whose in-process handler fails. dispatch() leaves that
    event in the caller's queue, whose clear_queue() raises its error (README); adispatch
    runs it inside the hand-over (then_settle, with may_raise) and dropped the error it
    returned: nothing raised, nothing logged."""
    from django_events import dispatcher

    with override_settings(DJANGO_EVENTS={"MODE": "gevent", "RAISE_HANDLER_ERRORS": True}):
        dispatcher.register("edge::relayed", fail_in_process)
        dispatcher.register("edge::paid", relay, queue=True)
        with pytest.raises(RuntimeError, match="in-process edge::relayed"):
            asyncio.run(dispatcher.adispatch("edge::paid"))
        dispatcher.clear_queue()
    assert CALLS == [("relay", "edge::paid")]


# -- the deleted instance's copy ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("sync_mode")
def test_the_deleted_copy_keeps_the_pk_when_the_model_defines_copy_as_duplicate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A model whose ``__copy__`` means "a duplicate to save as a new row" (pk None) is
    common; README promises after-commit handlers of deleted a copy "which keeps its
    primary key". copy.copy() called the model's own __copy__."""

    def duplicate(self: Order) -> Order:  # pragma: no cover - the copy must not call it
        return Order(status=self.status, total=self.total, data=self.data)

    monkeypatch.setattr(Order, "__copy__", duplicate, raising=False)
    d = EventDispatcher(mode="sync")
    got: list[Any] = []
    d.register(Deleted[Order], lambda event: got.append(event.instance.pk), after_commit=True)
    order = Order.objects.create(status="x")
    pk = order.pk
    with transaction.atomic():
        order.delete()
    assert got == [pk]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("sync_mode")
def test_a_model_that_refuses_pickling_can_still_be_deleted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model that refuses to be pickled (``__getstate__`` raises: it holds a client, a
    lock) is deleted while an after-commit handler of deleted exists: copy.copy() goes
    through __reduce_ex__/__getstate__ and raised inside the delete, which rolled back."""

    def refuse(self: Order) -> dict[str, Any]:  # pragma: no cover - the copy must not call it
        raise TypeError("Order instances cannot be pickled")

    monkeypatch.setattr(Order, "__getstate__", refuse)
    d = EventDispatcher(mode="sync")
    got: list[Any] = []
    d.register(Deleted[Order], lambda event: got.append(event.instance.pk), after_commit=True)
    order = Order.objects.create(status="x")
    pk = order.pk
    order.delete()
    assert not Order.objects.filter(pk=pk).exists()
    assert got == [pk]


# -- bulk_create's check --------------------------------------------------------------------------


class _OtherLibraryQuerySet(QuerySet[Any]):
    """Another library's QuerySet, whose bulk_create takes a keyword of its own."""

    def bulk_create(self, objs: Any, *args: Any, send_signals: bool = True, **kwargs: Any) -> Any:
        CALLS.append(("other library", send_signals))
        return super().bulk_create(objs, *args, **kwargs)


class _MixedQuerySet(BulkEventsQuerySet[Any], _OtherLibraryQuerySet):  # type: ignore[override]  # (django-stubs: as_manager of two QuerySets)
    """README: "A QuerySet whose bulk operations dispatch batch events (mix it into your own)"."""


def queued_bulk(name: str, *args: Any, **kwargs: Any) -> None:
    """A queued handler (its tasks wait in the DummyBackend: it never runs here)."""


@pytest.mark.django_db
@override_settings(TASKS=DUMMY_DEFAULT_ONLY)
@pytest.mark.usefixtures("sync_mode")
def test_bulk_create_passes_keywords_of_a_queryset_it_is_mixed_with() -> None:
    """class MyQuerySet(BulkEventsQuerySet, OtherLibraryQuerySet): the other library's
    bulk_create takes ``send_signals=``. With a queued handler of bulk_created and rows
    without primary keys, _check_create bound the call to Django's own signature and
    raised TypeError (an unexpected keyword) before the INSERT, where the call worked
    without a queued handler."""
    d = EventDispatcher(mode="sync")
    d.register("events::db::tests::testapp::models::Item::bulk_created", queued_bulk, queue=True)
    created = _MixedQuerySet(model=Item).bulk_create([Item(sku="a")], send_signals=False)
    assert created[0].pk is not None
    assert ("other library", False) in CALLS


# -- legacy repr -----------------------------------------------------------------------------------


def test_a_legacy_event_with_slots_shows_its_attributes() -> None:
    """README: "repr(event) shows the fields" of a legacy event (its own __init__). One
    that declares __slots__ keeps its attributes there, not in __dict__: repr showed
    ``Moved()``."""

    class Moved(Event):
        __slots__ = ("x", "y")

        def __init__(self, x: int, y: int) -> None:
            self.x = x
            self.y = y

    assert repr(Moved(1, 2)) == "test_a_legacy_event_with_slots_shows_its_attributes.<locals>.Moved(x=1, y=2)"

    class Hidden(Moved):  # a private slot (name-mangled), one declared again, one unset
        __slots__ = ("__secret", "unset", "x")

        def __init__(self) -> None:
            super().__init__(3, 4)
            self.__secret = "s"

    class Last(Hidden):
        __slots__ = "z"

        def __init__(self) -> None:
            super().__init__()
            self.z = 5

    assert repr(Last()).endswith(".Last(z=5, __secret='s', x=3, y=4)")


# -- dotted AUTODISCOVER names ------------------------------------------------------------------


def test_a_dotted_autodiscover_name_whose_package_fails_to_import_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README (Autodiscovery): "A module that exists but fails to import raises".
    AUTODISCOVER = ["events.handlers"], and the app's ``events`` package imports a
    dependency that is not installed (ModuleNotFoundError). Django's module_has_submodule
    looks for ``app.events.handlers`` by importing ``app.events``, which raises
    ModuleNotFoundError, which it reads as "no such module": the app's handlers were
    skipped in silence, never registered."""
    files = {"events/__init__.py": "import edge_not_installed_dependency\n", "events/handlers.py": "X = 1\n"}
    with (
        only_the_app(tmp_path, monkeypatch, files),
        override_settings(DJANGO_EVENTS={"AUTODISCOVER": ["events.handlers"]}),
        pytest.raises(ModuleNotFoundError, match="edge_not_installed_dependency"),
    ):
        autodiscover()


@pytest.mark.django_db(transaction=True)
@override_settings(TASKS=IMMEDIATE)
def test_adispatch_hands_queued_handlers_over_after_an_immediate_handler_failed() -> None:
    """With the raise policy, an immediate handler's error is raised once every group was
    sent: the queued handler's task is still enqueued (as dispatch() does)."""
    d = EventDispatcher(mode="sync", raise_handler_errors=True)
    d.register("edge::.*", record_any, queue=True)
    d.register("edge::.*", fail_in_process)
    with pytest.raises(RuntimeError, match="in-process edge::paid"):
        asyncio.run(d.adispatch("edge::paid"))
    assert CALLS == [("edge::paid", ())]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("sync_mode")
def test_the_deleted_copy_keeps_the_related_objects_the_instance_had_loaded() -> None:
    """The copy shares what the instance had loaded (its related-object cache: no query
    after the commit), and is not the instance, whose primary key Django sets to None."""
    from tests.testapp.models import Customer

    d = EventDispatcher(mode="sync")
    got: list[Any] = []

    def deleted(event: Deleted[Order]) -> None:
        customer = event.instance.customer
        got.append((event.instance, event.instance.pk, customer.name if customer else None))

    d.register(Deleted[Order], deleted, after_commit=True)
    order = Order.objects.create(status="x", customer=Customer.objects.create(name="Ada"))
    order = Order.objects.select_related("customer").get(pk=order.pk)
    pk = order.pk
    with transaction.atomic():
        order.delete()
    ((kept, kept_pk, name),) = got
    assert (kept_pk, name, order.pk) == (pk, "Ada", None)
    assert kept is not order
    assert kept._state is not order._state


@pytest.mark.parametrize(
    ("files", "imported"),
    [
        ({}, False),  # no events at all: skipped
        ({"events.py": "X = 1\n"}, False),  # events is a module, not a package: skipped
        ({"events/__init__.py": "", "events/handlers.py": "X = 1\n"}, True),
    ],
)
def test_a_dotted_autodiscover_name_skips_what_an_app_does_not_have(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], imported: bool
) -> None:
    with (
        only_the_app(tmp_path, monkeypatch, files),
        override_settings(DJANGO_EVENTS={"AUTODISCOVER": ["events.handlers"]}),
    ):
        assert autodiscover() == (["edge_app.events.handlers"] if imported else [])


@contextlib.contextmanager
def only_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> Iterator[None]:
    """An installed app ``edge_app`` (the only one) made of ``files``, gone afterwards."""
    package = tmp_path / "edge_app"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, text in files.items():
        (package / name).parent.mkdir(exist_ok=True)
        (package / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    edge_app = importlib.import_module("edge_app")

    class Config:
        name = "edge_app"
        module = edge_app

    monkeypatch.setattr(apps, "get_app_configs", lambda: [Config()])
    try:
        yield
    finally:
        for name in [n for n in sys.modules if n.startswith("edge_app")]:
            del sys.modules[name]
