"""Scenario 7: resident memory while 1,000,000 distinct names are dispatched, none handled.

The resolution cache is bounded, so memory stays flat; an unbounded cache (the same
dispatcher with a cache as large as the run) is measured beside it for contrast.
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


def growth(dispatcher: EventDispatcher, names: int) -> float:
    """MB of resident memory added by dispatching ``names`` distinct names."""
    dispatch = dispatcher.dispatch
    for i in range(1000):  # warm-up: the cache's first entries and the allocator's arenas
        dispatch(f"metrics::warmup::{i}")
    gc.collect()
    before = resident()
    for i in range(names):
        dispatch(f"metrics::requests::{i}::count")
    gc.collect()
    return (resident() - before) / MB


def _dispatcher(cache_size: int, calls: list[str]) -> EventDispatcher:
    dispatcher = EventDispatcher(mode="sync", cache_size=cache_size)
    dispatcher.register(r"shop::orders::\w+", calls.append)  # registered, never matching
    dispatcher.register(r"metrics::requests::\d+::total", calls.append)
    return dispatcher


def scenario(names: int) -> tuple[list[str], list[Target]]:
    calls: list[str] = []
    bounded = growth(_dispatcher(4096, calls), names)
    unbounded = growth(_dispatcher(names + 2000, calls), names)
    if calls:
        raise SystemExit(f"memory scenario: handlers ran for {calls[:3]}...; no name should match")
    lines = [
        f"7  memory: {names:,} distinct names dispatched, no handler matches",
        f"    {'django_events, bounded cache (4096 names)':<54} {bounded:>10.1f} MB",
        f"    {'same dispatcher, unbounded cache (contrast)':<54} {unbounded:>10.1f} MB",
    ]
    return lines, [Target("7", f"RSS growth over {names:,} names, MB", bounded, 20)]
