"""Model events on a save: an observed model with one no-op handler vs one post_save receiver.

Both models have the same fields and live in the same in-memory SQLite database; the
dispatcher runs in sync mode, so the handler runs inside save() just like a receiver.
`python benchmarks/bench_model_save.py [--quick]`
"""

from __future__ import annotations

import argparse
import sys

import django
from django.conf import settings

TARGET = 1.15


def setup() -> None:
    settings.configure(
        INSTALLED_APPS=["django_events"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        DJANGO_EVENTS={"MODE": "sync"},
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny repeat counts (a smoke run)")
    options = parser.parse_args()
    number, repeat = (50, 3) if options.quick else (2000, 7)
    setup()

    from django.db import connection, models
    from django.db.models.signals import post_save

    from benchmarks._harness import measure, verdict
    from django_events import observes

    fields = {
        "name": models.CharField(max_length=100),
        "status": models.CharField(max_length=20, default="new"),
        "total": models.IntegerField(default=0),
        "__module__": __name__,
    }
    meta = {"app_label": "django_events"}
    Observed = type("Observed", (models.Model,), {**fields, "Meta": type("Meta", (), meta)})
    Plain = type("Plain", (models.Model,), {**fields, "Meta": type("Meta", (), meta)})
    with connection.schema_editor() as editor:
        editor.create_model(Observed)
        editor.create_model(Plain)

    calls = {"observed": 0, "plain": 0}

    @observes(Observed)
    class Observer:
        def updated(self, instance: object) -> None:
            calls["observed"] += 1

    def receiver(sender: object, **kwargs: object) -> None:
        calls["plain"] += 1

    post_save.connect(receiver, sender=Plain, weak=False)

    observed, plain = Observed.objects.create(name="o"), Plain.objects.create(name="p")
    calls.update(observed=0, plain=0)

    def save_observed() -> None:
        observed.total += 1
        observed.save()

    def save_plain() -> None:
        plain.total += 1
        plain.save()

    rows = []
    for label, operation in (
        ("plain post_save receiver", save_plain),
        ("observed, one handler", save_observed),
    ):
        rows.append((label, measure(operation, number=number, repeat=repeat)))
    # Every handler counts its calls: a broken path cannot look fast.
    expected = number // 10 + number * repeat
    assert calls == {"observed": expected, "plain": expected}, calls

    plain_ns, observed_ns = rows[0][1], rows[1][1]
    ratio = observed_ns / plain_ns
    print(f"model save on SQLite in memory ({number} saves x {repeat} repeats, medians)")
    for label, ns in rows:
        print(f"  {label:<28} {ns / 1000:8.2f} us/save")
    judged = "smoke run, not judged" if options.quick else verdict(ratio, TARGET)
    print(f"  ratio observed / plain       {ratio:8.3f}  (target <= {TARGET}: {judged})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
