"""Scenario 6: saves of observed models against saves with one plain post_save receiver.

All models have the same fields in the same in-memory SQLite database.
6a: an update of a model observed for ``updated``, in sync mode.
6b and 6c: inserts (``objects.create``) of a model whose observer defines ``creating`` and
``created``, in sync mode and in gevent mode (where each model event gives the hub a turn
and the thread's worker greenlet runs the handler, as the original package did).
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, models
from django.db.models.signals import post_save

from django_events import EventDispatcher, observes

from ._harness import Case, Counter, Target, ratio


def _model(name: str) -> type[models.Model]:
    attrs = {
        "name": models.CharField(max_length=100),
        "status": models.CharField(max_length=20, default="new"),
        "total": models.IntegerField(default=0),
        "__module__": __name__,
        "Meta": type("Meta", (), {"app_label": "django_events"}),
    }
    return type(name, (models.Model,), attrs)


def _receiver(counter: Counter) -> Callable[..., None]:
    def receiver(sender: object, **kwargs: object) -> None:
        counter.calls += 1

    return receiver


def _counting_observer(
    model: type[models.Model], counter: Counter, dispatcher: EventDispatcher | None
) -> None:
    @observes(model, dispatcher=dispatcher)
    class CountInserts:
        def creating(self, instance: object) -> None:
            counter.calls += 1

        def created(self, instance: object) -> None:
            counter.calls += 1


def scenarios() -> tuple[list[tuple[str, list[Case]]], Callable[[], list[Target]]]:
    Observed, Plain = _model("Observed"), _model("Plain")
    Inserted, InsertedGevent, PlainInsert = (
        _model("Inserted"),
        _model("InsertedGevent"),
        _model("PlainInsert"),
    )
    with connection.schema_editor() as editor:
        for model in (Observed, Plain, Inserted, InsertedGevent, PlainInsert):
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
    create = "M._default_manager.create(name='n')"
    insert_case = Case("insert, one post_save receiver", create, {"M": PlainInsert}, insert_counter, 1)
    sync_case = Case("insert, observed (creating, created), sync", create, {"M": Inserted}, sync_counter, 2)
    gevent_case = Case(
        "insert, observed (creating, created), gevent", create, {"M": InsertedGevent}, gevent_counter, 2
    )
    sections = [
        ("6  model save on SQLite in memory", [plain_case, observed_case]),
        ("6  model insert on SQLite in memory", [insert_case, sync_case, gevent_case]),
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

    return sections, targets
