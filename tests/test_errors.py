"""Bad input at every public entry point: a clear error naming the bad value, at once.

One case per row of README's ``## Errors`` table (the case id is the row's ``call`` cell),
and nothing queued before the bad call is lost: see the ``queued_before`` fixture.
"""

from __future__ import annotations

import functools
import json
import re
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.models import F
from django.dispatch import Signal
from django.test import override_settings

from django_events import (
    Created,
    Creating,
    Event,
    EventDispatcher,
    EventListener,
    InvalidPattern,
    Observer,
    PayloadError,
    SignalToEvent,
    _models,
    changes,
    conf,
    dispatcher,
    model_event_name,
    observe_model,
    observes,
    off,
    on,
    path_from_class,
    signal_to_event,
)
from django_events._bulk import bulk_event_name
from django_events._payload import sign
from django_events.checks import check_settings
from django_events.exceptions import RefusedTask
from django_events.tasks import deliver
from django_events.testing import assert_dispatched, capture_events, expect, fake_events, mocks_dispatch
from tests.conftest import Recorder
from tests.testapp.models import Customer, Item, Order, PriorityOrder, Timestamped, Unobserved

README = Path(__file__).resolve().parent.parent / "README.md"


def _changes_of_an_untracked_customer() -> object:
    """changes() of a Customer as loaded from the database, while nothing tracks Customer."""
    observe_model(Customer)
    was_tracked = Customer in _models._tracked
    _models._tracked.discard(Customer)
    try:
        customer = Customer(pk=1, name="loaded")
        customer._state.adding = False  # as Model.from_db() leaves it
        return changes(customer)
    finally:
        if was_tracked:
            _models._tracked.add(Customer)


class OrderPaid(Event):
    order_id: int


def _any(value: object) -> Any:
    """A bad value, hidden from mypy (which would reject most of these calls)."""
    return value


def _event_class(name: str, namespace: dict[str, Any], **keywords: Any) -> type:
    """Define an Event subclass now, as a class statement would."""
    return types.new_class(name, (Event,), keywords, lambda ns: ns.update(namespace))


def _typed_name_without_instance(d: EventDispatcher) -> None:
    d.register(OrderPaid, Recorder())
    d.dispatch(OrderPaid.event_name, 1)


def _assert_with(d: EventDispatcher, **options: Any) -> None:
    with capture_events(d) as captured:
        captured.assert_dispatched("shop.*", **options)


def _assert_not_with(d: EventDispatcher, **options: Any) -> None:
    with capture_events(d) as captured:
        captured.assert_not_dispatched("shop.*", **options)


def _first_use(d: EventDispatcher) -> object:
    return conf.current()


class Attached(Event):
    attachment: object


def queued_receipt(event: Attached) -> None:
    """A queued handler (module level: a worker finds it by dotted path)."""


def queued_audit(name: str, *args: object) -> None:
    """A queued pattern handler."""


def _dispatch_queued(d: EventDispatcher, event: Attached | Priced | str, *args: object) -> None:
    d.register(Attached, queued_receipt, queue=True)
    d.register(Priced, queued_price, queue=True)
    d.register("shop.*", queued_audit, queue=True)
    d.dispatch(event, *args)


def _bulk_queued(d: EventDispatcher, action: str, call: Callable[[], object]) -> None:
    """``call`` (a bulk call on Item, which opts in) with a queued pattern handler of its event;
    the check comes before any query (no database is needed to fail)."""
    d.register(bulk_event_name(Item, action), queued_audit, queue=True)
    call()


class Priced(Event):
    amount: Decimal


def queued_price(event: Priced) -> None:
    """A queued handler of Priced."""


@dataclass
class Address:
    street: str


def _nested(depth: int) -> list[Any]:
    nested: list[Any] = []
    for _ in range(depth - 1):
        nested = [nested]
    return nested


AUDIT = ("tests.test_errors.queued_audit", "re:shop.*", "shop.paid", json.dumps({"args": [1], "kwargs": {}}))


def _deliver(d: EventDispatcher, attempt: int, signature: str | None = None) -> None:
    """The task as a worker runs it, in this process."""
    d.register("shop.*", queued_audit, queue=True)
    deliver.call(*AUDIT, attempt, sign(*AUDIT, attempt) if signature is None else signature)


@dataclass(frozen=True)
class Case:
    #: README's ``call`` cell (without the backticks), and the test id.
    call: str
    run: Callable[[EventDispatcher], object]
    error: type[Exception]
    #: A part of the message that shows the bad value.
    match: str
    #: Settings in force during the call; with ``check``, the system check id it fails.
    settings: dict[str, Any] = field(default_factory=dict)
    check: str | None = None


def _setting(raw: object, check: str, match: str) -> Case:
    return Case(
        f"DJANGO_EVENTS = {raw!r}", _first_use, ImproperlyConfigured, match, {"DJANGO_EVENTS": raw}, check
    )


CASES = [
    # -- on() and register()
    Case(
        "on(42)",
        lambda d: on(_any(42)),
        TypeError,
        "an event target must be a regex string or an Event subclass, got 42 (int)",
    ),
    Case(
        "on(Event)",
        lambda d: on(Event),
        TypeError,
        f"an event target must be a regex string or an Event subclass, got {Event!r} (_EventMeta)",
    ),
    Case(
        "dispatcher.register(None, handler)",
        lambda d: d.register(_any(None), Recorder()),
        TypeError,
        "an event target must be a regex string or an Event subclass, got None (NoneType)",
    ),
    Case(
        'dispatcher.register("shop.*", handler, retry=3)',
        lambda d: d.register("shop.*", Recorder(), **_any({"retry": 3})),
        TypeError,
        "unknown handler option(s) retry; expected after_commit, priority, queue, retries, using",
    ),
    Case('on("order(")', lambda d: on("order("), InvalidPattern, "invalid event pattern 'order(': "),
    Case(
        'on("")',
        lambda d: on(""),
        InvalidPattern,
        "invalid event pattern '': an empty pattern matches no event name",
    ),
    Case(
        'on("shop.*")("send_receipt")',
        lambda d: on("shop.*")(_any("send_receipt")),
        TypeError,
        "an event handler must be callable, got 'send_receipt' (str)",
    ),
    Case(
        'on("shop.*", after_commit="yes")',
        lambda d: on("shop.*", after_commit=_any("yes")),
        TypeError,
        "after_commit must be True or False, got 'yes' (str)",
    ),
    Case(
        'on("shop.*", using="other")',
        lambda d: on("shop.*", using="other"),
        TypeError,
        "using='other' only applies with after_commit=True",
    ),
    Case(
        'on("shop.*", after_commit=True, using=42)',
        lambda d: on("shop.*", after_commit=True, using=_any(42)),
        TypeError,
        "using must be a database alias (str), got 42 (int)",
    ),
    Case(
        'on("shop.*", dispatcher="default")',
        lambda d: on("shop.*", dispatcher=_any("default")),
        TypeError,
        "dispatcher must be an EventDispatcher or None, got 'default' (str)",
    ),
    Case(
        'on("shop.*", OrderPaid)',
        lambda d: on("shop.*", _any(OrderPaid)),
        TypeError,
        f"on() takes either Event classes or regex strings, not both: ('shop.*', {OrderPaid!r})",
    ),
    # -- queued handlers (Django's task framework)
    Case(
        'on("shop.*", priority=5)',
        lambda d: on("shop.*", priority=5),
        TypeError,
        "priority=5 only applies with queue=True or queue='name'",
    ),
    Case(
        'on("shop.*", retries=3)',
        lambda d: on("shop.*", retries=3),
        TypeError,
        "retries=3 only applies with queue=True or queue='name'",
    ),
    Case(
        'on("shop.*", queue=42)',
        lambda d: on("shop.*", queue=_any(42)),
        TypeError,
        "queue must be True, False or a queue name (str), got 42 (int)",
    ),
    Case(
        'on("shop.*", queue=True, priority=500)',
        lambda d: on("shop.*", queue=True, priority=500),
        TypeError,
        "priority must be None or a whole number from -100 to 100, got 500 (int)",
    ),
    Case(
        'on("shop.*", queue=True, retries=-1)',
        lambda d: on("shop.*", queue=True, retries=-1),
        TypeError,
        "retries must be a whole number from 0 to 20, got -1 (int)",
    ),
    Case(
        'on("shop.*", queue=True)(lambda name: None)',
        lambda d: on("shop.*", queue=True, dispatcher=d)(lambda name: None),
        TypeError,
        "<lambda> cannot be queued: a worker finds queued handlers by dotted path, and a lambda",
    ),
    Case(
        'on("shop.*", queue=True)(functools.partial(audit, "x"))',
        lambda d: on("shop.*", queue=True, dispatcher=d)(functools.partial(queued_audit, "x")),
        TypeError,
        "(partial) cannot be queued: a worker finds queued handlers by dotted path, which only a plain "
        "function defined at module level has",
    ),
    Case(
        "dispatcher.dispatch(Attached(object()))",
        lambda d: _dispatch_queued(d, Attached(object())),
        PayloadError,
        "cannot queue Attached.attachment: <object object at ",
    ),
    Case(
        'dispatcher.dispatch("shop.paid", Order())',
        lambda d: _dispatch_queued(d, "shop.paid", Order()),
        PayloadError,
        "cannot queue event 'shop.paid' args[0]: an unsaved Order (a worker loads model instances again "
        "by primary key)",
    ),
    Case(
        'dispatcher.dispatch("shop.paid", 10 ** 5000)',
        lambda d: _dispatch_queued(d, "shop.paid", 10**5000),
        PayloadError,
        "cannot queue event 'shop.paid' args[0]: an int of more than 4300 digits "
        "(sys.get_int_max_str_digits()), which JSON cannot carry",
    ),
    Case(
        'dispatcher.dispatch("shop.paid", [[[...]]])',
        lambda d: _dispatch_queued(d, "shop.paid", _nested(101)),
        PayloadError,
        "cannot queue event 'shop.paid' args[0][0][0]...: values nested more than 100 levels deep (lists, "
        "tuples, dicts and dataclasses), or a value that contains itself",
    ),
    Case(
        'dispatcher.dispatch("shop.paid", Address("Main St"))',
        lambda d: _dispatch_queued(d, "shop.paid", Address("Main St")),
        PayloadError,
        "cannot queue event 'shop.paid' args[0]: Address(street='Main St') is a tests.test_errors.Address: a "
        "queued pattern handler declares no types, so it gets no dataclass but the Event dispatched; "
        "dispatch an Event whose field declares the class",
    ),
    Case(
        'dispatcher.dispatch(Priced(amount="9.50"))',
        lambda d: _dispatch_queued(d, Priced(amount=_any("9.50"))),
        PayloadError,
        "cannot queue Priced.amount: '9.50' (str) is not Decimal, the declared type",
    ),
    Case(
        'Item.objects.update(quantity=F("quantity") + 1)',
        lambda d: _bulk_queued(
            d, "queryset_updated", lambda: Item.objects.update(quantity=F("quantity") + 1)
        ),
        PayloadError,
        "cannot queue event 'events::db::tests::testapp::models::Item::queryset_updated' "
        "args[1]['quantity']: <CombinedExpression: F(quantity) + Value(1)> is a "
        "django.db.models.expressions.CombinedExpression, which has no JSON form here",
    ),
    Case(
        'Item.objects.bulk_create([Item(sku="a")], ignore_conflicts=True)',
        lambda d: _bulk_queued(
            d, "bulk_created", lambda: Item.objects.bulk_create([Item(sku="a")], ignore_conflicts=True)
        ),
        PayloadError,
        "bulk_create(ignore_conflicts=True) leaves the primary keys of the rows it creates unset, and "
        "queued handler tests.test_errors.queued_audit of "
        "'events::db::tests::testapp::models::Item::bulk_created' gets each Item by primary key",
    ),
    Case(
        'deliver(handler, target, name, payload, attempt, "forged")',
        lambda d: _deliver(d, 1, "forged"),
        RefusedTask,
        "refused a task for handler 'tests.test_errors.queued_audit', target 're:shop.*' and event "
        "'shop.paid': its signature does not verify with this worker's SECRET_KEY or SECRET_KEY_FALLBACKS "
        "(a forged or altered task, or one signed with another key)",
    ),
    Case(
        "deliver(handler, target, name, payload, 5, signature)",
        lambda d: _deliver(d, 5),
        RefusedTask,
        "refused a task for handler tests.test_errors.queued_audit: attempt 5, where the handler takes a "
        "whole number from 1 to 1 (retries=0)",
    ),
    Case(
        "@observes(Unobserved, queue=True) class Mailer: def deleted(...)",
        lambda d: observes(Unobserved, queue=True, dispatcher=d)(
            type("Mailer", (), {"created": print, "deleted": print})
        ),
        TypeError,
        "Mailer cannot be queued: it defines deleted, and a worker loads the instance again by primary key",
    ),
    Case(
        "class Queued(EventListener, queue=42)",
        lambda d: types.new_class(
            "Queued",
            (EventListener,),
            {"queue": 42},
            lambda ns: ns.update(listensFor=["shop.*"], handle=print),
        ),
        TypeError,
        "queue must be True, False or a queue name (str), got 42 (int)",
    ),
    # -- Event subclasses
    Case(
        "class FieldOrder(Event): a: int = 0; b: str",
        lambda d: _event_class("FieldOrder", {"__annotations__": {"a": int, "b": str}, "a": 0}),
        TypeError,
        "Event class FieldOrder: non-default argument 'b' follows default argument",
    ),
    Case(
        "class Slotted(Event, slots=True)",
        lambda d: _event_class("Slotted", {}, slots=True),
        TypeError,
        "Slotted: unknown class keyword(s) slots; Event subclasses take frozen=True",
    ),
    Case(
        "class OwnInit(Event, frozen=True): def __init__(self): ...",
        lambda d: _event_class("OwnInit", {"__init__": object.__init__}, frozen=True),
        TypeError,
        "OwnInit writes its own __init__, so frozen=True cannot apply",
    ),
    Case(
        'class Annotated(Event): event_name: str = "shop.paid"',
        lambda d: _event_class(
            "Annotated", {"__annotations__": {"event_name": str}, "event_name": "shop.paid"}
        ),
        TypeError,
        "Annotated.event_name is annotated, which would make it a dataclass field",
    ),
    Case(
        'class Thawed(Event, frozen="yes")',
        lambda d: _event_class("Thawed", {}, frozen="yes"),
        TypeError,
        "Thawed: frozen must be True or False, got 'yes'",
    ),
    Case(
        'class Unnamed(Event): event_name = ""',
        lambda d: _event_class("Unnamed", {"event_name": ""}),
        TypeError,
        "Unnamed.event_name must be a non-empty str, got ''",
    ),
    Case(
        'class TwoNames(Event): event_name = "a"; Name = "b"',
        lambda d: _event_class("TwoNames", {"event_name": "a", "Name": "b"}),
        TypeError,
        "TwoNames sets event_name='a' and Name='b'; set one of them",
    ),
    # -- dispatch()
    Case(
        "dispatcher.dispatch(42)",
        lambda d: d.dispatch(_any(42)),
        TypeError,
        "dispatch() expects an event name (str) or an Event instance, got 42 (int)",
    ),
    Case(
        "dispatcher.dispatch(None)",
        lambda d: d.dispatch(_any(None)),
        TypeError,
        "dispatch() expects an event name (str) or an Event instance, got None (NoneType)",
    ),
    Case(
        "dispatcher.dispatch(OrderPaid)",
        lambda d: d.dispatch(_any(OrderPaid)),
        TypeError,
        f"got {OrderPaid!r} (_EventMeta); dispatch an instance: OrderPaid(...).dispatch()",
    ),
    Case(
        "dispatcher.dispatch(Event())",
        lambda d: d.dispatch(Event()),
        TypeError,
        "dispatch() of an instance of the Event base class: subclass Event",
    ),
    Case(
        "dispatcher.dispatch(OrderPaid(1), 2)",
        lambda d: d.dispatch(_any(OrderPaid(1)), 2),
        TypeError,
        "dispatch() of an Event instance takes no other arguments, got args=(2,) kwargs={}; "
        "put them in OrderPaid's fields",
    ),
    Case(
        "dispatcher.dispatch(OrderPaid.event_name, 1)",
        _typed_name_without_instance,
        TypeError,
        f"event {OrderPaid.event_name!r} has handlers typed for {OrderPaid!r}; dispatch an instance of it, "
        "not args=(1,) kwargs={}",
    ),
    # -- EventDispatcher()
    Case(
        'EventDispatcher(mode="bad")',
        lambda d: EventDispatcher(mode=_any("bad")),
        ValueError,
        "mode must be one of 'gevent', 'sync' or None, got 'bad' (str)",
    ),
    Case(
        'EventDispatcher(raise_handler_errors="yes")',
        lambda d: EventDispatcher(raise_handler_errors=_any("yes")),
        TypeError,
        "raise_handler_errors must be a bool or None, got 'yes' (str)",
    ),
    Case(
        "EventDispatcher(cache_size=0)",
        lambda d: EventDispatcher(cache_size=0),
        ValueError,
        "cache_size must be a whole number >= 1, got 0 (int)",
    ),
    Case(
        'EventDispatcher(cache_size="big")',
        lambda d: EventDispatcher(cache_size=_any("big")),
        ValueError,
        "cache_size must be a whole number >= 1, got 'big' (str)",
    ),
    Case(
        'dispatcher.register_many("shop.paid", handler)',
        lambda d: d.register_many(_any("shop.paid"), Recorder()),
        TypeError,
        "register_many() takes a tuple or list of targets, got 'shop.paid' (str); use register() for one",
    ),
    Case(
        "dispatcher.register_many((), 42)",
        lambda d: d.register_many((), _any(42)),
        TypeError,
        "an event handler must be callable, got 42 (int)",
    ),
    Case(
        'dispatcher.register_many((), handler, after_commit="yes")',
        lambda d: d.register_many((), Recorder(), after_commit=_any("yes")),
        TypeError,
        "after_commit must be True or False, got 'yes' (str)",
    ),
    Case(
        'dispatcher.unregister("shop.*", 42)',
        lambda d: d.unregister("shop.*", _any(42)),
        TypeError,
        "unregister() expects a handler (a callable), got 42 (int)",
    ),
    Case(
        "dispatcher.unregister(42, handler)",
        lambda d: d.unregister(_any(42), Recorder()),
        TypeError,
        "an event target must be a regex string or an Event subclass, got 42 (int)",
    ),
    Case(
        'dispatcher.off("send_receipt")',
        lambda d: d.off(_any("send_receipt")),
        TypeError,
        "off() expects a handler (a callable), got 'send_receipt' (str)",
    ),
    Case(
        'off(handler, dispatcher="default")',
        lambda d: off(Recorder(), dispatcher=_any("default")),
        TypeError,
        "dispatcher must be an EventDispatcher or None, got 'default' (str)",
    ),
    Case(
        "dispatcher.resolve(42)",
        lambda d: d.resolve(_any(42)),
        TypeError,
        "resolve() expects an event name (str), got 42 (int)",
    ),
    Case(
        "dispatcher.ensure_queue_is_cleared(42)",
        lambda d: d.ensure_queue_is_cleared(_any(42)),
        TypeError,
        "ensure_queue_is_cleared() decorates a function, got 42 (int)",
    ),
    # -- model events and observers
    Case(
        "observe_model(42)",
        lambda d: observe_model(_any(42)),
        TypeError,
        "observe_model() expects a Django model class, got 42 (int)",
    ),
    Case(
        "observe_model(Timestamped)",
        lambda d: observe_model(_any(Timestamped)),
        TypeError,
        "observe_model(): Timestamped is abstract and is never saved; observe its concrete subclasses",
    ),
    Case(
        'observes("Order")',
        lambda d: observes(_any("Order")),
        TypeError,
        "observes() expects a Django model class, got 'Order' (str)",
    ),
    Case(
        "observes(Timestamped)",
        lambda d: observes(_any(Timestamped)),
        TypeError,
        "observes(): Timestamped is abstract and is never saved; observe its concrete subclasses",
    ),
    Case(
        "@observes(Unobserved) class Empty: pass",
        lambda d: observes(Unobserved)(type("Empty", (), {})),
        TypeError,
        "Empty observes Unobserved but defines none of creating, created, updating, updated, deleting",
    ),
    Case(
        'observe_model(Customer, dispatcher="default")',
        lambda d: observe_model(Customer, dispatcher=_any("default")),
        TypeError,
        "dispatcher must be an EventDispatcher or None, got 'default' (str)",
    ),
    Case(
        'observes(Unobserved, dispatcher="default")',
        lambda d: observes(Unobserved, dispatcher=_any("default")),
        TypeError,
        "dispatcher must be an EventDispatcher or None, got 'default' (str)",
    ),
    Case(
        "observes(Unobserved, after_commit=1)",
        lambda d: observes(Unobserved, after_commit=_any(1)),
        TypeError,
        "after_commit must be True or False, got 1 (int)",
    ),
    Case(
        "Created[PriorityOrder]",
        lambda d: Created[PriorityOrder],
        TypeError,
        "Created[PriorityOrder]: PriorityOrder is a proxy, whose saves emit the events of Order; "
        "use Created[Order]",
    ),
    Case(
        "Created[Timestamped]",
        lambda d: Created.__class_getitem__(Timestamped),
        TypeError,
        "Created[Timestamped]: Timestamped is abstract and is never saved; use Created[...] of its "
        "concrete subclasses",
    ),
    Case(
        'Created(instance=order, using="default", raw=False)',
        lambda d: Created(instance=Order(), using="default", raw=False),
        TypeError,
        "Created is generic: name its model, as in Created[Order]",
    ),
    Case(
        "d.dispatch(Created[Order](...))",
        lambda d: d.dispatch(Created[Order](instance=Order(), using="default", raw=False)),
        TypeError,
        "Created[Order] is dispatched by the model's saves and deletes, not by code: save the "
        "instance, or dispatch an Event class of your own",
    ),
    Case(
        "on(Creating[Order], queue=True)(handler)",
        lambda d: on(Creating[Order], queue=True, dispatcher=d)(queued_receipt),  # type: ignore[arg-type]
        TypeError,
        "handler tests.test_errors.queued_receipt cannot be queued for Creating[Order]: a worker loads "
        "the instance again by primary key when it runs, so only Created and Updated can be queued",
    ),
    Case(
        "observes(Unobserved)(42)",
        lambda d: observes(Unobserved)(_any(42)),
        TypeError,
        "@observes(Unobserved) decorates a class, got 42 (int)",
    ),
    Case(
        'model_event_name(Order, "saved")',
        lambda d: model_event_name(Order, "saved"),
        ValueError,
        "action must be one of creating, created, updating, updated, deleting, deleted, got 'saved'",
    ),
    Case(
        "changes(42)",
        lambda d: changes(_any(42)),
        TypeError,
        "changes() expects a model instance, got 42 (int)",
    ),
    Case(
        'observe_model(Order, track_changes="yes")',
        lambda d: observe_model(Order, track_changes=_any("yes")),
        TypeError,
        "observe_model() track_changes must be True or False, got 'yes' (str)",
    ),
    Case(
        "changes(customer)",
        lambda d: _changes_of_an_untracked_customer(),
        ValueError,
        "changes() needs the changes of Customer to be tracked: they are once something handles "
        "its updating or updated events (an observer method or a handler), or with "
        "observe_model(Customer, track_changes=True)",
    ),
    Case(
        'changes(Unobserved(name="x"))',
        lambda d: changes(Unobserved(name="x")),
        ValueError,
        "changes() needs Unobserved to be observed",
    ),
    Case(
        'path_from_class("shop.Order")',
        lambda d: path_from_class(_any("shop.Order")),
        TypeError,
        "path_from_class() expects a class, got 'shop.Order' (str)",
    ),
    # -- the legacy API
    Case(
        "class NoModel(Observer): def created(...)",
        lambda d: types.new_class("NoModel", (Observer,), {}, lambda ns: ns.update(created=print)),
        TypeError,
        "NoModel must set observes = SomeModel",
    ),
    Case(
        "class NoTargets(EventListener): def handle(...)",
        lambda d: types.new_class("NoTargets", (EventListener,), {}, lambda ns: ns.update(handle=print)),
        TypeError,
        "NoTargets.listensFor must be a non-empty list of Event classes and/or regex strings, got None",
    ),
    Case(
        'class NoHandle(EventListener): listensFor = ["shop.*"]',
        lambda d: types.new_class(
            "NoHandle", (EventListener,), {}, lambda ns: ns.update(listensFor=["shop.*"])
        ),
        TypeError,
        "NoHandle must define handle(self, event, *args, **kwargs)",
    ),
    Case(
        "class BadTarget(EventListener): listensFor = [42]; def handle(...)",
        lambda d: types.new_class(
            "BadTarget", (EventListener,), {}, lambda ns: ns.update(listensFor=[42], handle=print)
        ),
        TypeError,
        "an event target must be a regex string or an Event subclass, got 42 (int)",
    ),
    Case(
        "class NotAList(EventListener): listensFor = 42; def handle(...)",
        lambda d: types.new_class(
            "NotAList", (EventListener,), {}, lambda ns: ns.update(listensFor=42, handle=print)
        ),
        TypeError,
        "NotAList.listensFor must be a non-empty list of Event classes and/or regex strings, got 42",
    ),
    Case(
        'class NotCallable(EventListener): listensFor = ["shop.*"]; handle = 42',
        lambda d: types.new_class(
            "NotCallable", (EventListener,), {}, lambda ns: ns.update(listensFor=["shop.*"], handle=42)
        ),
        TypeError,
        "NotCallable must define handle(self, event, *args, **kwargs), got 42 (int)",
    ),
    Case(
        'class Elsewhere(EventListener, dispatcher="default")',
        lambda d: types.new_class(
            "Elsewhere",
            (EventListener,),
            {"dispatcher": "default"},
            lambda ns: ns.update(listensFor=["shop.*"], handle=print),
        ),
        TypeError,
        "dispatcher must be an EventDispatcher or None, got 'default' (str)",
    ),
    Case(
        "class Retried(EventListener, retry=3)",
        lambda d: types.new_class(
            "Retried",
            (EventListener,),
            {"retry": 3},
            lambda ns: ns.update(listensFor=["shop.*"], handle=print),
        ),
        TypeError,
        "Retried: unknown class keyword(s) retry; "
        "EventListener subclasses take dispatcher=, after_commit=, using=, queue=, priority= and retries=",
    ),
    Case(
        'SignalToEvent(signal, event="shop.saved", dispatcher="default")',
        lambda d: SignalToEvent(Signal(), event="shop.saved", dispatcher=_any("default")),
        TypeError,
        "dispatcher must be an EventDispatcher or None, got 'default' (str)",
    ),
    Case(
        'SignalToEvent("post_save", event="shop.saved")',
        lambda d: SignalToEvent(_any("post_save"), event="shop.saved"),
        TypeError,
        "SignalToEvent() expects a django.dispatch.Signal, got 'post_save' (str)",
    ),
    Case(
        "SignalToEvent(signal)",
        lambda d: SignalToEvent(Signal()),
        TypeError,
        "SignalToEvent() needs at least one of event=... (a name or Event class) or hook=..., "
        "got event=None and hook=None",
    ),
    Case(
        'signal_to_event(signal, event="shop.saved", hook=hook)',
        lambda d: signal_to_event(Signal(), event="shop.saved", hook=str),
        TypeError,
        "signal_to_event() needs exactly one of event=... (a name or Event class) or hook=..., "
        "got event='shop.saved' and hook=<class 'str'>",
    ),
    Case(
        "SignalToEvent(signal, event=42)",
        lambda d: SignalToEvent(Signal(), event=_any(42)),
        TypeError,
        "SignalToEvent() event must be an event name or an Event class, got 42 (int)",
    ),
    Case(
        'SignalToEvent(signal, hook="hook")',
        lambda d: SignalToEvent(Signal(), hook=_any("hook")),
        TypeError,
        "SignalToEvent() hook must be callable, got 'hook' (str)",
    ),
    # -- settings: a system check, then ImproperlyConfigured at first use
    _setting("sync", "django_events.E001", "DJANGO_EVENTS must be a dict, got 'sync' (str)."),
    _setting({"MOD": "sync"}, "django_events.E002", "DJANGO_EVENTS has an unknown key 'MOD'."),
    _setting({"MODE": "async"}, "django_events.E003", "DJANGO_EVENTS['MODE'] is 'async'; expected one of"),
    _setting(
        {"RAISE_HANDLER_ERRORS": "yes"},
        "django_events.E004",
        "DJANGO_EVENTS['RAISE_HANDLER_ERRORS'] is 'yes'; expected True or False.",
    ),
    _setting(
        {"AUTODISCOVER": "yes"},
        "django_events.E005",
        "DJANGO_EVENTS['AUTODISCOVER'] is 'yes'; expected True, False or a list of module names.",
    ),
    # -- django_events.testing
    Case(
        'captured.assert_dispatched("shop.*", times=-1)',
        lambda d: _assert_with(d, times=-1),
        ValueError,
        "times must be a whole number >= 0, got -1 (int)",
    ),
    Case(
        'fake_events(only=["shop.*"], except_=["audit.*"])',
        lambda d: fake_events(only=["shop.*"], except_=["audit.*"]),
        TypeError,
        "fake_events() takes only= or except_=, not both: got only=['shop.*'], except_=['audit.*']",
    ),
    Case(
        'fake_events(dispatcher="default")',
        lambda d: fake_events(dispatcher=_any("default")),
        TypeError,
        "dispatcher must be an EventDispatcher or None, got 'default' (str)",
    ),
    Case(
        'capture_events("default")',
        lambda d: capture_events(_any("default")),
        TypeError,
        "dispatcher must be an EventDispatcher or None, got 'default' (str)",
    ),
    Case(
        'captured.assert_dispatched("shop.*", times="1")',
        lambda d: _assert_with(d, times="1"),
        ValueError,
        "times must be a whole number >= 0, got '1' (str)",
    ),
    Case(
        'captured.assert_dispatched("shop.*", where=42)',
        lambda d: _assert_with(d, where=42),
        TypeError,
        "where must be a callable (event) -> bool, got 42 (int)",
    ),
    Case(
        'captured.assert_not_dispatched("shop.*", where=42)',
        lambda d: _assert_not_with(d, where=42),
        TypeError,
        "where must be a callable (event) -> bool, got 42 (int)",
    ),
    Case(
        "mocks_dispatch(42)",
        lambda d: mocks_dispatch(_any(42)),
        TypeError,
        "MocksDispatch decorates a test function or method, got 42 (int)",
    ),
    Case(
        "fake_events(only=[42])",
        lambda d: fake_events(only=[_any(42)]),
        TypeError,
        "an event target must be a regex string or an Event subclass, got 42 (int)",
    ),
    Case(
        'assert_dispatched("shop.*")',
        lambda d: assert_dispatched("shop.*"),
        RuntimeError,
        "assert_dispatched() needs an active capture_events() or fake_events()",
    ),
    Case(
        'expect("shop.*")',
        lambda d: expect("shop.*"),
        RuntimeError,
        "Expect() works inside a test decorated with Dispatcher.MocksDispatch",
    ),
]


@pytest.fixture
def queued_before() -> Iterator[EventDispatcher]:
    """Events queued before the bad call; after it, ``clear_queue()`` delivers each exactly once."""
    queued = EventDispatcher(mode="gevent")
    on_queued, on_default = Recorder(), Recorder()
    queued.register("errors.before", on_queued)
    dispatcher.register("errors.before.default", on_default)  # inside the test: the registry is isolated
    queued.dispatch("errors.before", 1)
    dispatcher.dispatch("errors.before.default", 2)
    assert (on_queued.calls, on_default.calls) == ([], [])  # queued, not delivered yet
    yield queued
    for _ in range(2):  # a second drain delivers nothing again
        queued.clear_queue()
        dispatcher.clear_queue()
        assert on_queued.calls == [("errors.before", 1)]
        assert on_default.calls == [("errors.before.default", 2)]


@pytest.mark.parametrize("case", CASES, ids=[case.call for case in CASES])
def test_bad_input_fails_at_once_naming_the_value(case: Case, queued_before: EventDispatcher) -> None:
    with override_settings(**case.settings):
        if case.check is not None:
            assert [(m.id, case.match in m.msg) for m in check_settings()] == [(case.check, True)]
        with pytest.raises(case.error, match=re.escape(case.match)) as raised:
            case.run(queued_before)
    assert type(raised.value) is case.error


def test_case_ids_are_unique() -> None:
    calls = [case.call for case in CASES]
    assert len(calls) == len(set(calls))


def errors_table_calls(readme: Path) -> list[str]:
    """The ``call`` cells of the table in README's ``## Errors`` section, without backticks."""
    text = readme.read_text(encoding="utf-8")
    has_section = "\n## Errors\n" in text
    assert has_section, f"{readme} has no '## Errors' section"
    section = text.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    header, separator, *rows = [line for line in section.splitlines() if line.startswith("|")]
    assert [cell.strip() for cell in header.strip("|").split("|")] == ["call", "bad input", "error"]
    assert set(separator) <= set("|-: ")
    cells = [row.split("|")[1].strip() for row in rows]
    assert all(re.fullmatch(r"`[^`]+`", cell) for cell in cells), cells
    return [cell[1:-1] for cell in cells]


def test_readme_errors_table_lists_exactly_these_cases() -> None:
    calls = errors_table_calls(README)
    assert len(calls) == len(set(calls))
    assert set(calls) == {case.call for case in CASES}
