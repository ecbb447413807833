"""Scenario 6: saves of observed models against saves with one plain post_save receiver.

All models have the same fields in the same in-memory SQLite database. Scenario 11 loads
rows (and saves a loaded instance once); scenario 13 inserts 1,000 rows with ``bulk_create``.
6a: an update of a model observed for ``updated``, in sync mode.
6b and 6c: inserts (``objects.create``) of a model whose observer defines ``creating`` and
``created``, in sync mode and in gevent mode (where each model event gives the hub a turn
and the thread's worker greenlet runs the handler, as the original package did). Shown
beside them, not judged: django-event-system 1.0.1's own observer of the same inserts, and
the floors: two bare receivers (pre_save, post_save) calling one function, and the same
receivers each also calling ``gevent.sleep(0)``, the floor of any observer that gives the hub
a turn at each model event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gevent
from django.db import connection, models
from django.db.models.signals import post_save, pre_save

from django_events import BulkCreated, BulkEventsManager, EventDispatcher, dispatcher, observes

from ._harness import Case, Counter, Target, has_original, ratio


def _model(name: str, **fields: models.Field[Any, Any]) -> type[models.Model]:
    attrs = {
        "name": models.CharField(max_length=100),
        "status": models.CharField(max_length=20, default="new"),
        "total": models.IntegerField(default=0),
        **fields,
        "__module__": __name__,
        "Meta": type("Meta", (), {"app_label": "django_events"}),
    }
    return type(name, (models.Model,), attrs)


ROWS = 1000


def loading() -> tuple[list[tuple[str, list[Case]]], Callable[[], list[Target]], Callable[[], list[str]]]:
    """Scenario 11: loading rows with a JSONField, of a model nobody observes, of one
    observed for ``created`` only (its changes are not tracked) and of one observed for
    ``updated`` (tracked), each judged against the first (<= 1.10x). Shown: what tracking
    costs instead, on the first save of a loaded instance (its row read by primary key),
    against the same load and save with one ``post_save`` receiver."""
    json = {"items": [{"sku": f"s{i}", "qty": i} for i in range(5)], "note": "n"}
    plain, untracked, tracked = (
        _model(name, data=models.JSONField(default=dict))
        for name in ("LoadPlain", "LoadUntracked", "LoadTracked")
    )
    with connection.schema_editor() as editor:
        for model in (plain, untracked, tracked):
            editor.create_model(model)
            model._default_manager.bulk_create([model(name=f"r{i}", data=json) for i in range(ROWS)])

    @observes(untracked)
    class Created:
        def created(self, instance: object) -> None: ...

    updated, received = Counter(), Counter()

    @observes(tracked)
    class Updated:
        def updated(self, instance: object) -> None:
            updated.calls += 1

    post_save.connect(_receiver(received), sender=plain, weak=False)
    load = "list(M._default_manager.all())"
    cases = [
        Case(f"load {ROWS:,} rows, {label}", load, {"M": model}, Counter(), 0, ops_per_run=ROWS, slower=200)
        for label, model in (
            ("not observed", plain),
            ("observed for created (not tracked)", untracked),
            ("observed for updated (tracked)", tracked),
        )
    ]

    def load_and_save(model: type[models.Model]) -> None:
        row = model._default_manager.get(pk=1)
        row.total += 1
        row.save()

    cases += [
        Case(f"get(pk=1) and save, {label}", "f(M)", {"f": load_and_save, "M": model}, counter, 1, slower=20)
        for label, model, counter in (
            ("one post_save receiver", plain, received),
            ("observed for updated (tracked)", tracked, updated),
        )
    ]

    def targets() -> list[Target]:
        return [
            Target("11a", "load observed rows / not observed (not tracked)", ratio(cases[1], cases[0]), 1.10),
            Target("11b", "load observed rows / not observed (tracked)", ratio(cases[2], cases[0]), 1.10),
        ]

    def notes() -> list[str]:
        return [
            "11 get and save of a tracked model / with one post_save receiver: "
            f"{ratio(cases[4], cases[3]):.3f} (its row is read before the UPDATE; not judged)"
        ]

    sections = [
        ("11 loading rows with a JSONField, per row", cases[:3]),
        ("11 the first save of a loaded instance, per get and save", cases[3:]),
    ]
    return sections, targets, notes


def bulk() -> tuple[tuple[str, list[Case]], Callable[[], list[Target]]]:
    """Scenario 13: ``bulk_create`` of 1,000 rows of a model opted in to bulk events
    (BulkEventsManager) with one ``BulkCreated`` handler, against a plain ``bulk_create``
    of the same rows on a model with Django's own manager."""
    fields: dict[str, models.Field[Any, Any]] = {"data": models.JSONField(default=dict)}
    plain = _model("BulkPlain", **fields)
    opted = type(
        "BulkOpted",
        (models.Model,),
        {
            "name": models.CharField(max_length=100),
            "status": models.CharField(max_length=20, default="new"),
            "total": models.IntegerField(default=0),
            "data": models.JSONField(default=dict),
            "objects": BulkEventsManager(),
            "__module__": __name__,
            "Meta": type("Meta", (), {"app_label": "django_events"}),
        },
    )
    with connection.schema_editor() as editor:
        for model in (plain, opted):
            editor.create_model(model)
    counter, plain_counter = Counter(), Counter()

    def handler(event: object) -> None:
        counter.calls += 1

    dispatcher.register(BulkCreated[opted], handler)  # type: ignore[valid-type]

    def insert(model: type[models.Model], counted: Counter | None) -> None:
        rows = [model(name=f"r{i}", data={"i": i}) for i in range(ROWS)]
        model._default_manager.bulk_create(rows)
        model._default_manager.all().delete()  # the table stays small: every run inserts anew
        if counted is not None:
            counted.calls += 1

    plain_case, opted_case = (
        Case(
            f"bulk_create of {ROWS:,} rows, {label}",
            "insert(M, c)",
            {"insert": insert, "M": model, "c": counted},
            counter if counted is None else counted,
            1,
            ops_per_run=ROWS,
            slower=400,
        )
        for label, model, counted in (
            ("Django's manager", plain, plain_counter),
            ("opted in, one BulkCreated handler", opted, None),
        )
    )

    def targets() -> list[Target]:
        value = ratio(opted_case, plain_case)
        return [Target("13", "bulk_create, opted in / plain, 1,000 rows", value, 1.10)]

    heading = f"13 bulk_create of {ROWS:,} rows on SQLite in memory, per row"
    return (heading, [plain_case, opted_case]), targets


def _receiver(counter: Counter) -> Callable[..., None]:
    def receiver(sender: object, **kwargs: object) -> None:
        counter.calls += 1

    return receiver


def _count(counter: Counter) -> None:
    counter.calls += 1


def _counting_observer(
    model: type[models.Model], counter: Counter, dispatcher: EventDispatcher | None
) -> None:
    @observes(model, dispatcher=dispatcher)
    class CountInserts:
        def creating(self, instance: object) -> None:
            counter.calls += 1

        def created(self, instance: object) -> None:
            counter.calls += 1


def _original_observer(model: type[models.Model], create: str) -> list[Case]:
    """django-event-system 1.0.1's Observer of ``model`` with ``creating`` and ``created``
    (it yields to the hub after each model event, as our gevent mode does), when installed.

    Its one class-level Dispatcher tries every registered pattern on every event: the
    observer's six patterns live in a table of their own, swapped in around each save, so
    that scenario 9's original still has its one pattern."""
    if not has_original():
        return []
    from collections import defaultdict

    from events.events import Dispatcher, Observer  # its AppConfig does not load on Django 4+

    counter = Counter()
    others, Dispatcher.handlers = Dispatcher.handlers, defaultdict(list)
    try:

        class CountOriginalInserts(Observer):
            observes = model

            def creating(self, name: str, instance: object) -> None:
                counter.calls += 1

            def created(self, name: str, instance: object) -> None:
                counter.calls += 1

        own = Dispatcher.handlers
    finally:
        Dispatcher.handlers = others
    stmt = f"D.handlers = own\n{create}\nD.handlers = others"
    namespace = {"M": model, "D": Dispatcher, "own": own, "others": others}
    return [Case("insert, django-event-system 1.0.1 observer (gevent)", stmt, namespace, counter, 2)]


def scenarios() -> tuple[list[tuple[str, list[Case]]], Callable[[], list[Target]], Callable[[], list[str]]]:
    Observed, Plain = _model("Observed"), _model("Plain")
    Inserted, InsertedGevent, PlainInsert, BareInsert, YieldingInsert, InsertedOriginal = (
        _model("Inserted"),
        _model("InsertedGevent"),
        _model("PlainInsert"),
        _model("BareInsert"),
        _model("YieldingInsert"),
        _model("InsertedOriginal"),
    )
    models_ = (
        Observed,
        Plain,
        Inserted,
        InsertedGevent,
        PlainInsert,
        BareInsert,
        YieldingInsert,
        InsertedOriginal,
    )
    with connection.schema_editor() as editor:
        for model in models_:
            editor.create_model(model)

    observed_counter, plain_counter = Counter(), Counter()

    @observes(Observed)
    class CountUpdates:
        def updated(self, instance: object) -> None:
            observed_counter.calls += 1

    post_save.connect(_receiver(plain_counter), sender=Plain, weak=False)
    observed = Observed._default_manager.create(name="o")
    plain = Plain._default_manager.create(name="p")
    observed_counter.calls = plain_counter.calls = 0

    def save(instance: models.Model) -> None:
        instance.total += 1  # type: ignore[attr-defined]
        instance.save()

    plain_case = Case("save, one post_save receiver", "save(m)", {"save": save, "m": plain}, plain_counter, 1)
    observed_case = Case(
        "save, observed model, one handler", "save(m)", {"save": save, "m": observed}, observed_counter, 1
    )

    sync_counter, gevent_counter, insert_counter = Counter(), Counter(), Counter()
    _counting_observer(Inserted, sync_counter, None)  # the default dispatcher: sync mode here
    queued = EventDispatcher(mode="gevent")  # held here: observers hold their dispatcher weakly
    _counting_observer(InsertedGevent, gevent_counter, queued)
    post_save.connect(_receiver(insert_counter), sender=PlainInsert, weak=False)
    # The floor of any signal-based library: a pre_save and a post_save receiver that each
    # call one function, and nothing else (no routing, no context, no error policy).
    bare_counter = Counter()

    def bare(sender: object, **kwargs: object) -> None:
        _count(bare_counter)

    pre_save.connect(bare, sender=BareInsert, weak=False)
    post_save.connect(bare, sender=BareInsert, weak=False)
    # The floor of giving the hub a turn at each model event, as the original did and 6c
    # does: the same two receivers, each also yielding once (nothing else runs in the turn).
    yielding_counter = Counter()

    def yielding(sender: object, **kwargs: object) -> None:
        _count(yielding_counter)
        gevent.sleep(0)

    pre_save.connect(yielding, sender=YieldingInsert, weak=False)
    post_save.connect(yielding, sender=YieldingInsert, weak=False)
    create = "M._default_manager.create(name='n')"
    insert_case = Case("insert, one post_save receiver", create, {"M": PlainInsert}, insert_counter, 1)
    bare_case = Case(
        "insert, bare pre_save + post_save receivers", create, {"M": BareInsert}, bare_counter, 2
    )
    yielding_case = Case(
        "insert, the same receivers, each gevent.sleep(0)", create, {"M": YieldingInsert}, yielding_counter, 2
    )
    sync_case = Case("insert, observed (creating, created), sync", create, {"M": Inserted}, sync_counter, 2)
    gevent_case = Case(
        "insert, observed (creating, created), gevent", create, {"M": InsertedGevent}, gevent_counter, 2
    )
    inserts = [
        insert_case,
        bare_case,
        yielding_case,
        sync_case,
        gevent_case,
        *_original_observer(InsertedOriginal, create),
    ]
    sections = [
        ("6  model save on SQLite in memory", [plain_case, observed_case]),
        ("6  model insert on SQLite in memory", inserts),
    ]

    def targets() -> list[Target]:
        assert queued.pending() == 0
        return [
            Target("6a", "observed update / post_save receiver", ratio(observed_case, plain_case), 1.15),
            Target("6b", "observed insert / post_save receiver, sync", ratio(sync_case, insert_case), 1.05),
            Target(
                "6c", "observed insert / post_save receiver, gevent", ratio(gevent_case, insert_case), 1.10
            ),
        ]

    def floor() -> list[str]:
        notes = [
            "6  floor: bare pre_save + post_save receivers calling one function / post_save "
            f"receiver: {ratio(bare_case, insert_case):.3f} (6b/6c cannot go below it)",
            "6  floor of 6c: the same receivers, each gevent.sleep(0) / post_save receiver: "
            f"{ratio(yielding_case, insert_case):.3f} (two hub turns per insert, nothing run in them)",
        ]
        if len(inserts) > 5:
            notes.append(
                "6  django-event-system 1.0.1's observer / post_save receiver: "
                f"{ratio(inserts[5], insert_case):.3f} (ours in gevent mode: 6c; not judged)"
            )
        return notes

    return sections, targets, floor
