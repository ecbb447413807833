"""Scenarios 1 to 5, 9 and 10: the cost of one dispatch, against django.dispatch.Signal,
peers, django-event-system 1.0.1, and the README's own idioms.

django_events runs in sync mode (handlers inline, like Signal.send) unless the scenario
is a gevent one. Every handler and receiver does the same work: it counts its call.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from decimal import Decimal

import gevent
from django.dispatch import Signal

from django_events import Event, EventDispatcher, dispatcher

from ._harness import Case, Counter, Target, has_original, ratio

NAME = "shop::orders::paid"
PATTERNS = 1000


class OrderPaid(Event, frozen=True):
    order_id: int
    amount: Decimal


def _name_handlers(counter: Counter, count: int) -> list[Callable[..., None]]:
    def make() -> Callable[..., None]:
        def handler(name: str, *args: object, **kwargs: object) -> None:
            counter.calls += 1

        return handler

    return [make() for _ in range(count)]


def _receivers(counter: Counter, count: int) -> list[Callable[..., None]]:
    def make() -> Callable[..., None]:
        def receiver(sender: object, **kwargs: object) -> None:
            counter.calls += 1

        return receiver

    return [make() for _ in range(count)]


def ours(label: str, handlers: int, *, mode: str = "sync") -> Case:
    counter = Counter()
    dispatcher = EventDispatcher(mode="sync" if mode == "sync" else "gevent")
    for handler in _name_handlers(counter, handlers):
        dispatcher.register(NAME, handler)
    return Case(label, f"d.dispatch({NAME!r})", {"d": dispatcher}, counter, handlers)


def django_signal(label: str, receivers: int) -> Case:
    counter = Counter()
    signal = Signal()
    for receiver in _receivers(counter, receivers):
        signal.connect(receiver, weak=False)
    return Case(label, "s.send(None)", {"s": signal}, counter, receivers)


def peers(receivers: int) -> list[Case]:
    """blinker and pyee, when the bench dependency group is installed."""
    found = []
    if importlib.util.find_spec("blinker"):
        import blinker

        counter = Counter()
        signal = blinker.Signal()
        for receiver in _receivers(counter, receivers):
            signal.connect(receiver, weak=False)
        found.append(Case("blinker Signal.send", "s.send(None)", {"s": signal}, counter, receivers))
    if importlib.util.find_spec("pyee"):
        from pyee import EventEmitter

        counter = Counter()
        emitter = EventEmitter()
        for handler in _name_handlers(counter, receivers):
            emitter.on(NAME, handler)
        found.append(
            Case("pyee EventEmitter.emit", f"e.emit({NAME!r}, {NAME!r})", {"e": emitter}, counter, receivers)
        )
    return found


def many_patterns() -> tuple[Case, Case]:
    """1,000 registered regexes, one of which matches: ours, and the original's loop."""
    patterns = [rf"app{i}::models::\w+::(created|updated)" for i in range(PATTERNS - 1)]
    patterns.insert(PATTERNS // 2, r"shop::orders::(paid|refunded)")
    counter = Counter()
    dispatcher = EventDispatcher(mode="sync")

    def handler(name: str, *args: object, **kwargs: object) -> None:
        counter.calls += 1

    for pattern in patterns:
        dispatcher.register(pattern, handler)
    case = Case(f"django_events, {PATTERNS} patterns", f"d.dispatch({NAME!r})", {"d": dispatcher}, counter, 1)

    naive_counter = Counter()

    def naive_handler(name: str, *args: object, **kwargs: object) -> None:
        naive_counter.calls += 1

    compiled = [(re.compile(p), naive_handler) for p in patterns]

    def naive_dispatch(name: str, *args: object, **kwargs: object) -> None:
        # django-event-system 1.0.1: every registered pattern is tried on every dispatch.
        for pattern, handler in compiled:
            if pattern.fullmatch(name):
                handler(name, *args, **kwargs)

    naive = Case(
        f"naive fullmatch loop, {PATTERNS} patterns",
        f"dispatch({NAME!r})",
        {"dispatch": naive_dispatch},
        naive_counter,
        1,
        slower=100,
    )
    return case, naive


def gevent_burst(burst: int) -> Case:
    counter = Counter()
    dispatcher = EventDispatcher(mode="gevent")
    for handler in _name_handlers(counter, 1):
        dispatcher.register(NAME, handler)
    stmt = f"for _ in r: d.dispatch({NAME!r})\nd.clear_queue()"
    return Case(
        f"django_events, gevent: {burst} dispatches + clear_queue",
        stmt,
        {"d": dispatcher, "r": range(burst)},
        counter,
        burst,
        ops_per_run=burst,
        slower=burst,
    )


def gevent_yield_per_event() -> list[Case]:
    """The shape of a gevent request: dispatch, then I/O (here gevent.sleep()) lets it run;
    ours, and django-event-system 1.0.1 (its gevent Queue and handler greenlet)."""
    counter = Counter()
    queued = EventDispatcher(mode="gevent")
    for handler in _name_handlers(counter, 1):
        queued.register(NAME, handler)
    cases = [
        Case(
            "django_events, gevent: dispatch + gevent.sleep()",
            f"d.dispatch({NAME!r}); sleep()",
            {"d": queued, "sleep": gevent.sleep},
            counter,
            1,
        )
    ]
    if has_original():
        from events.events import Dispatcher as Original  # its AppConfig does not load on Django 4+

        original_counter = Counter()
        for handler in _name_handlers(original_counter, 1):
            Original.RegisterHandler(NAME, handler)
        cases.append(
            Case(
                "django-event-system 1.0.1: Dispatch + gevent.sleep()",
                f"D.Dispatch({NAME!r}); sleep()",
                {"D": Original, "sleep": gevent.sleep},
                original_counter,
                1,
            )
        )
    return cases


class PaidByIdiom(Event, frozen=True):
    order_id: int
    amount: Decimal


class PaidByDispatcher(Event, frozen=True):
    order_id: int
    amount: Decimal


def event_idiom() -> tuple[Case, Case]:
    """``OrderPaid(...).dispatch()`` (the README's idiom) against
    ``dispatcher.dispatch(OrderPaid(...))``, construction included in both (the default
    dispatcher, in sync mode here)."""
    idiom_counter, plain_counter = Counter(), Counter()

    def on_idiom(event: PaidByIdiom) -> None:
        idiom_counter.calls += 1

    def on_plain(event: PaidByDispatcher) -> None:
        plain_counter.calls += 1

    dispatcher.register(PaidByIdiom, on_idiom)
    dispatcher.register(PaidByDispatcher, on_plain)
    amount = Decimal("9.50")
    idiom = Case(
        "django_events, OrderPaid(...).dispatch()",
        "E(order_id=1, amount=a).dispatch()",
        {"E": PaidByIdiom, "a": amount},
        idiom_counter,
        1,
    )
    plain = Case(
        "django_events, dispatcher.dispatch(OrderPaid(...))",
        "d.dispatch(E(order_id=1, amount=a))",
        {"d": dispatcher, "E": PaidByDispatcher, "a": amount},
        plain_counter,
        1,
    )
    return idiom, plain


def event_instance() -> Case:
    counter = Counter()
    dispatcher = EventDispatcher(mode="sync")

    def send_receipt(event: OrderPaid) -> None:
        counter.calls += 1

    dispatcher.register(OrderPaid, send_receipt)
    paid = OrderPaid(order_id=1, amount=Decimal("9.50"))
    return Case(
        "django_events, OrderPaid(...) to @on(OrderPaid)",
        "d.dispatch(e)",
        {"d": dispatcher, "e": paid},
        counter,
        1,
    )


def scenarios(*, burst: int = 1000) -> tuple[list[tuple[str, list[Case]]], Callable[[], list[Target]]]:
    """The cases to time, by section, and a function that computes the targets afterwards."""
    one, signal_one = ours("django_events, sync", 1), django_signal("django.dispatch.Signal.send", 1)
    ten, signal_ten = ours("django_events, sync", 10), django_signal("django.dispatch.Signal.send", 10)
    peers_one, peers_ten = peers(1), peers(10)
    patterns, naive = many_patterns()
    burst_case = gevent_burst(burst)
    instance = event_instance()
    yielding = gevent_yield_per_event()
    idiom, plain = event_idiom()
    sections = [
        ("1  one name, one handler", [one, signal_one, *peers_one]),
        ("2  one name, ten handlers", [ten, signal_ten, *peers_ten]),
        (f"3  {PATTERNS} regex patterns registered, one matches", [patterns, naive]),
        ("4  gevent mode, per event", [burst_case]),
        ("5  Event instance to a typed handler", [instance]),
        ("9  gevent mode, dispatch then gevent.sleep(), per event", yielding),
        ("10 the README's idiom, construction included", [idiom, plain]),
    ]

    def targets() -> list[Target]:
        found = [
            Target("1", "ours / Signal.send, one handler", ratio(one, signal_one), 0.25),
            Target("2", "ours / Signal.send, ten handlers", ratio(ten, signal_ten), 0.25),
            Target("3a", f"{PATTERNS} patterns / scenario 1", ratio(patterns, one), 1.2),
            Target(
                "3b",
                f"naive loop / ours, {PATTERNS} patterns (times faster)",
                ratio(naive, patterns),
                100,
                True,
            ),
            Target("4", "gevent, per event / scenario 1", ratio(burst_case, one), 1.5),
            Target("5", "Event instance / scenario 1", ratio(instance, one), 1.3),
            Target("10", "OrderPaid(...).dispatch() / dispatcher.dispatch(...)", ratio(idiom, plain), 1.1),
        ]
        if len(yielding) == 2:
            found.append(Target("9", "gevent + sleep, ours / django-event-system", ratio(*yielding), 0.75))
        return found

    return sections, targets
