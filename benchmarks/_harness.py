"""A small timing harness: warm-up, repeats, medians, nanoseconds per operation."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def measure(operation: Callable[[], object], *, number: int, repeat: int) -> float:
    """Median nanoseconds per call of ``operation`` over ``repeat`` runs of ``number`` calls."""
    for _ in range(max(1, number // 10)):  # warm-up
        operation()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for _ in range(number):
            operation()
        samples.append((time.perf_counter_ns() - start) / number)
    return statistics.median(samples)


def verdict(ratio: float, target: float) -> str:
    return "PASS" if ratio <= target else "FAIL"
