"""Scenario 7: resident memory while many distinct names are dispatched, none handled.

7a: 1,000,000 short names. 7b: 5,000 names of 64 KiB (event names can come from users).
The resolution cache is bounded in names and in characters, so memory stays flat; the
same dispatcher with an unbounded cache is measured beside it for contrast.
"""

from __future__ import annotations

import gc
import resource
import sys

from django_events import EventDispatcher

from ._harness import Target

MB = 1024 * 1024


def resident() -> int:
    """Resident memory now, in bytes (Linux); elsewhere the peak so far."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize()
    except OSError:  # not Linux
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def growth(dispatcher: EventDispatcher, names: int, padding: str = "") -> float:
    """MB of resident memory added by dispatching ``names`` distinct names."""
    dispatch = dispatcher.dispatch
    for i in range(1000):  # warm-up: the cache's first entries and the allocator's arenas
        dispatch(f"metrics::warmup::{i}")
    gc.collect()
    before = resident()
    for i in range(names):
        dispatch(f"metrics::requests::{i}::count{padding}")
    gc.collect()
    return (resident() - before) / MB


def _dispatcher(calls: list[str], *, unbounded: int = 0) -> EventDispatcher:
    dispatcher = EventDispatcher(mode="sync", cache_size=unbounded or 4096)
    if unbounded:  # for contrast only: what the cache would hold without its bounds
        dispatcher._table.max_bytes = 1 << 62
    dispatcher.register(r"shop::orders::\w+", calls.append)  # registered, never matching
    dispatcher.register(r"metrics::requests::\d+::total", calls.append)
    return dispatcher


def scenario(names: int, long_names: int) -> tuple[list[str], list[Target]]:
    calls: list[str] = []
    padding = "x" * (64 * 1024)
    bounded = growth(_dispatcher(calls), names)
    unbounded = growth(_dispatcher(calls, unbounded=names + 2000), names)
    long_bounded = growth(_dispatcher(calls), long_names, padding)
    long_unbounded = growth(_dispatcher(calls, unbounded=long_names + 2000), long_names, padding)
    if calls:
        raise SystemExit(f"memory scenario: handlers ran for {calls[:3]}...; no name should match")
    lines = [
        f"7a memory: {names:,} distinct names dispatched, no handler matches",
        f"    {'django_events, bounded cache (4096 names, 1 MiB)':<54} {bounded:>10.1f} MB",
        f"    {'same dispatcher, unbounded cache (contrast)':<54} {unbounded:>10.1f} MB",
        f"7b memory: {long_names:,} distinct names of 64 KiB dispatched, no handler matches",
        f"    {'django_events, bounded cache (4096 names, 1 MiB)':<54} {long_bounded:>10.1f} MB",
        f"    {'same dispatcher, unbounded cache (contrast)':<54} {long_unbounded:>10.1f} MB",
    ]
    return lines, [
        Target("7a", f"RSS growth over {names:,} names, MB", bounded, 20),
        Target("7b", f"RSS growth over {long_names:,} names of 64 KiB, MB", long_bounded, 20),
    ]
