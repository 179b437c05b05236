"""Timing helpers shared by the benchmark workers (standard library only).

`_peers.py` runs under the peers' own venv as a plain script and imports this module as
``timing`` from its own folder, so nothing here may import gaitlink.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median CPU time of the process over `repeats` calls, with a garbage collection
    before each. CPU time, not wall time: on a shared machine other processes take turns
    on the pinned core, and wall time would count their share too (on the project's
    2-core VM under a load of 5, wall time read a third of the per-core throughput that
    CPU time reads). All of the process's threads count, so a peer that spreads work over
    threads is not favoured."""
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    times.sort()
    return times[len(times) // 2]


def median_times_alternating(fns: list[Callable[[], object]], repeats: int) -> list[float]:
    """`median_time` of each function, the functions taking turns within every repeat, so
    that a change of the machine's load during the run hits them alike (the only fair
    way to compare two versions of the code on a shared machine)."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, mine in zip(fns, times, strict=True):
            gc.collect()
            start = time.process_time()
            fn()
            mine.append(time.process_time() - start)
    return [sorted(t)[len(t) // 2] for t in times]


def sized_slice(run: Callable[[int], object], n_total: int, n_start: int, budget_s: float) -> int:
    """How many samples to time a slow implementation on: about budget_s / 4 to / 2 per call.

    `run(n)` processes the first n samples. The first call warms up (imports, JIT) and is
    not counted; then n doubles from `n_start` until one call takes budget_s / 4 or n
    reaches `n_total`.
    """
    n = min(n_start, n_total)
    run(n)
    while n < n_total and median_time(lambda n=n: run(n), 1) < budget_s / 4:
        n = min(n_total, 2 * n)
    return n
