"""Typing tests: checked by ``mypy --strict`` (with warn_unused_ignores), never run.

``assert_type`` lines state what must be inferred; a line ending in
``# type: ignore[code]`` must fail, and stops the check if it ever passes.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from typing_extensions import Unpack, assert_type

from django_events import Dispatcher, Event, EventDispatcher, HandlerOptions, dispatcher, on
from django_events._decorators import OnPattern


class OrderPaid(Event):
    order_id: int
    amount: Decimal


class Frozen(Event, frozen=True):
    value: int


class UserRenamed(Event):
    name: str


class Legacy(Event):
    def __init__(self, name: str, value: int) -> None:
        self.name = name
        self.value = value


class Unrelated(Event):
    x: int


# -- fields and __init__ ---------------------------------------------------------------------

paid = OrderPaid(order_id=1, amount=Decimal("9.99"))
assert_type(paid.order_id, int)
assert_type(paid.amount, Decimal)
assert_type(UserRenamed(name="ada").name, str)
assert_type(OrderPaid.event_name, str)
assert_type(OrderPaid.Name, str)

OrderPaid(order_id="1", amount=Decimal(1))  # type: ignore[arg-type]
OrderPaid(order_id=1)  # type: ignore[call-arg]
Frozen(1).value = 2  # type: ignore[misc]

# -- legacy E.Dispatch: typed with the constructor's parameters -------------------------------

assert_type(OrderPaid.Dispatch(1, Decimal(2)), OrderPaid)
assert_type(OrderPaid.Dispatch(order_id=1, amount=Decimal(2)), OrderPaid)
assert_type(Legacy.Dispatch("name", 1), Legacy)
Legacy.Dispatch("name", "not an int")  # type: ignore[arg-type]
OrderPaid.Dispatch(1)  # type: ignore[call-arg]

# -- event.dispatch() ----------------------------------------------------------------------------

assert_type(paid.dispatch(), None)


# -- on(EventClass): the handler must accept the event ----------------------------------------


@on(OrderPaid)
def send_receipt(event: OrderPaid) -> None: ...


assert_type(send_receipt, Callable[[OrderPaid], None])
send_receipt(paid)


@on(OrderPaid)
def accepts_any_event(event: Event) -> int:
    return 1


assert_type(accepts_any_event, Callable[[OrderPaid], int])


@on(OrderPaid)  # type: ignore[arg-type]
def wrong_event(event: Unrelated) -> None: ...


@on(OrderPaid, Unrelated)
def either(event: OrderPaid | Unrelated) -> None: ...


@on(OrderPaid, Unrelated)  # type: ignore[arg-type]
def only_one(event: OrderPaid) -> None: ...


# -- async handlers: the same checks -------------------------------------------------------------


@on(OrderPaid)
async def async_receipt(event: OrderPaid) -> None: ...


assert_type(async_receipt, Callable[[OrderPaid], Coroutine[Any, Any, None]])


@on(OrderPaid)  # type: ignore[arg-type]
async def async_wrong_event(event: Unrelated) -> None: ...


@on("shop::.*", queue=True)
async def async_audit(name: str, *args: object) -> None: ...


@on("x")  # type: ignore[arg-type]
async def async_int_name(name: int) -> None: ...


async def adispatching() -> None:
    assert_type(await paid.adispatch(), None)
    assert_type(await dispatcher.adispatch(paid), None)
    assert_type(await dispatcher.adispatch("shop::paid", 1, key="value"), None)
    await dispatcher.adispatch(42)  # type: ignore[call-overload]
    await dispatcher.adispatch(paid, 1)  # type: ignore[call-overload]


# -- on("regex"): the handler gets the name first ----------------------------------------------


@on("events::db::.*::created")
def audit(name: str, instance: object) -> None: ...


assert_type(audit("events::db::x::created", instance=object()), None)  # later names survive
audit("name")  # type: ignore[call-arg]


@on("x")  # type: ignore[arg-type]
def takes_int_name(name: int) -> None: ...


# -- queued handlers (queue=): the event type is checked as for in-process handlers -----------


@on(OrderPaid, queue=True, priority=10, retries=3)
def queued_receipt(event: OrderPaid) -> None: ...


assert_type(queued_receipt, Callable[[OrderPaid], None])


@on(OrderPaid, queue="mail", after_commit=True)  # type: ignore[arg-type]
def queued_wrong_event(event: Unrelated) -> None: ...


@on("shop::.*", queue="mail")
def queued_audit(name: str, *args: object) -> None: ...


@on("shop::.*", queue=True)  # type: ignore[arg-type]
def queued_int_name(name: int) -> None: ...


on(OrderPaid, queue=1.5)  # type: ignore[call-overload]
on(OrderPaid, queue=True, priority="high")  # type: ignore[call-overload]
on(OrderPaid, queue=True, retries=None)  # type: ignore[call-overload]


# -- the dispatcher ------------------------------------------------------------------------------


def takes_unrelated(event: Unrelated) -> None: ...


isolated = EventDispatcher(mode="sync")
EventDispatcher(mode="threads")  # type: ignore[arg-type]
dispatcher.register(OrderPaid, send_receipt)
dispatcher.register(OrderPaid, takes_unrelated)  # type: ignore[arg-type]
dispatcher.register("a", audit)
Dispatcher.RegisterHandler("event::name", audit)
Dispatcher.RegisterHandler("event::name", "not callable")  # type: ignore[call-overload]
Dispatcher.Dispatch("event::name", 1, key="value")
Dispatcher.Dispatch(paid)
Dispatcher.Dispatch(paid, 1)  # legacy: string handlers get (name, paid, 1)
Dispatcher.Dispatch(OrderPaid)  # legacy: the class's name
Dispatcher.Dispatch(42)  # type: ignore[arg-type]
dispatcher.register(OrderPaid, queued_receipt, queue=True, retries=2)
dispatcher.register(OrderPaid, takes_unrelated, queue=True)  # type: ignore[arg-type]
OrderPaid.AddListener(audit)  # handler(name, event), as the original registered the name
OrderPaid.AddListener(send_receipt)  # type: ignore[arg-type]
assert_type(OrderPaid.GetEventName(), str)
assert_type(OrderPaid.DispatchAsync(order_id=1, amount=Decimal(1)), OrderPaid)


@dispatcher.ensure_queue_is_cleared
def work(x: int) -> str:
    return str(x)


assert_type(work(1), str)


@Dispatcher.EnsureQueueIsCleared
async def async_work(x: int) -> str:
    return str(x)


async def caller() -> None:
    assert_type(await async_work(1), str)


# Handler options are typed once (HandlerOptions): an unknown option or a wrong type is an error.
on("shop::.*", retry=3)  # type: ignore[call-overload]
on("shop::.*", queue=42)  # type: ignore[call-overload]
on(OrderPaid, after_commit=True, using="replica")
dispatcher.register("shop::.*", audit, retry=3)  # type: ignore[call-overload]
dispatcher.register("shop::.*", audit, queue="mail", priority=5, retries=2)


def wrapped_on(pattern: str, **options: Unpack[HandlerOptions]) -> OnPattern:
    """A project's own decorator, passing the options through with their types."""
    return on(pattern, **options)
