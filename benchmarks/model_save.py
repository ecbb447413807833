"""Scenario 6: a save of an observed model (one no-op handler) vs one plain post_save receiver.

Both models have the same fields in the same in-memory SQLite database; the dispatcher is
in sync mode, so the handler runs inside save() as the receiver does.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, models
from django.db.models.signals import post_save

from django_events import observes

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


def scenarios() -> tuple[list[tuple[str, list[Case]]], Callable[[], list[Target]]]:
    Observed, Plain = _model("Observed"), _model("Plain")
    with connection.schema_editor() as editor:
        editor.create_model(Observed)
        editor.create_model(Plain)

    observed_counter, plain_counter = Counter(), Counter()

    @observes(Observed)
    class CountUpdates:
        def updated(self, instance: object) -> None:
            observed_counter.calls += 1

    def receiver(sender: object, **kwargs: object) -> None:
        plain_counter.calls += 1

    post_save.connect(receiver, sender=Plain, weak=False)
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
    sections = [("6  model save on SQLite in memory", [plain_case, observed_case])]

    def targets() -> list[Target]:
        return [Target("6", "observed save / post_save receiver", ratio(observed_case, plain_case), 1.15)]

    return sections, targets
