"""Run every benchmark in one process and print one table: ``python -m benchmarks [--quick]``.

Exits 1 when a target is missed (not with --quick, whose tiny counts are only a smoke run
that proves every path still works and every handler is called as often as expected).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from ._harness import has_original, has_task_backend, machine, measure, report, setup_django, target_order


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="tiny counts: a smoke run, not judged")
    options = parser.parse_args()
    number, repeat, names, long_names = (
        (200, 3, 20_000, 50) if options.quick else (20_000, 9, 1_000_000, 5_000)
    )
    with tempfile.TemporaryDirectory() as directory:
        setup_django(os.path.join(directory, "tasks.sqlite3"))
        return run(options.quick, number, repeat, names, long_names)


def run(quick: bool, number: int, repeat: int, names: int, long_names: int) -> int:
    from . import async_dispatch, dispatch, memory, model_save

    dispatch_sections, dispatch_targets = dispatch.scenarios()
    save_sections, save_targets, save_floor = model_save.scenarios()
    load_sections, load_targets, load_notes = model_save.loading()
    bulk_section, bulk_targets = model_save.bulk()
    save_sections += [*load_sections, bulk_section]
    sections = dispatch_sections + save_sections
    target_lists = [dispatch_targets, save_targets, load_targets, bulk_targets]
    notes = [""]
    if has_task_backend():
        from . import queued

        queued_sections, queued_targets = queued.scenarios()
        sections += queued_sections
        target_lists.append(queued_targets)
    else:
        notes.append("8  not measured: django-tasks-db is not installed (the `tasks` dependency group)")
    if not has_original():
        notes.append(
            "9  not compared: django-event-system 1.0.1 is not installed (the `bench` dependency group)"
        )
    async_sections, async_targets, async_notes = async_dispatch.scenarios()
    sections += async_sections
    target_lists.append(async_targets)
    # Every case in the same interleaved rounds, so drift on a busy machine hits all alike.
    measure([case for _heading, cases in sections for case in cases], number=number, repeat=repeat)
    memory_lines, memory_targets = memory.scenario(names, long_names)
    title = (
        f"django_events benchmarks: {machine()}\n"
        f"medians of {repeat} interleaved rounds of {number:,} runs (fewer for slow cases), "
        "nanoseconds per dispatch, await or save"
    )
    met = report(
        title,
        sections,
        sorted([t for targets in target_lists for t in targets()] + memory_targets, key=target_order),
        [*notes, *save_floor(), *load_notes(), *async_notes(), *memory_lines],
        judged=not quick,
    )
    return 0 if met or quick else 1


if __name__ == "__main__":
    sys.exit(main())
