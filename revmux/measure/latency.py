"""Latency and throughput of several workloads timed side by side.

The protocol of optimum-benchmark: the first call of each workload is recorded on its own, then
warm-up calls, then timed calls until both a minimum number of rounds and a minimum duration are
reached. The workloads alternate within each round, in an order that reverses every round, so
that drift of the machine (clock boost, other load) falls on all of them alike.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from revmux.core.progress import progress_bar
from revmux.measure.clock import Clock
from revmux.measure.stats import summarize_latency

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LatencySettings:
    warmup_runs: int = 10
    min_iterations: int = 20
    min_duration_s: float = 10.0

    def __post_init__(self):
        if self.warmup_runs < 0 or self.min_iterations < 2 or self.min_duration_s < 0:
            raise ValueError(
                "latency settings need warmup_runs >= 0, min_iterations >= 2 and min_duration_s >= 0, "
                f"got {self.warmup_runs}, {self.min_iterations}, {self.min_duration_s}"
            )


def measure_latency(
    workloads: dict[str, Callable[[], object]], samples_per_call: int, clock: Clock,
    settings: LatencySettings, progress: bool = False,
) -> dict[str, dict]:
    """Per workload: latency statistics, raw values (round i of every workload is index i),
    samples per second, the first call, and how it was measured."""
    first_call = {name: clock.time(fn) for name, fn in workloads.items()}
    for _ in range(settings.warmup_runs):
        for fn in workloads.values():
            fn()
    clock.sync()
    values: dict[str, list[float]] = {name: [] for name in workloads}
    order = list(workloads)
    started = time.perf_counter()
    bar = progress_bar(total=settings.min_iterations, desc="timing", unit="round", enabled=progress, leave=False)
    rounds = 0
    while rounds < settings.min_iterations or time.perf_counter() - started < settings.min_duration_s:
        for name in order if rounds % 2 == 0 else reversed(order):
            values[name].append(clock.time(workloads[name]))
        rounds += 1
        if rounds <= settings.min_iterations:
            bar.update()
    bar.close()
    window = time.perf_counter() - started
    log.info("timing: %d rounds of %s in %.1f s", rounds, ", ".join(workloads), window)
    return {
        name: {
            **summarize_latency(values[name], samples_per_call),
            "first_call_s": first_call[name],
            "warmup_runs": settings.warmup_runs,
            "min_iterations": settings.min_iterations,
            "min_duration_s": settings.min_duration_s,
            "window_s": window,
            "method": clock.method,
        }
        for name in workloads
    }
