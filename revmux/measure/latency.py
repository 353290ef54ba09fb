"""Latency and throughput of several workloads timed side by side.

The protocol of optimum-benchmark: the first call of each workload is recorded on its own, then
warm-up calls, then timed rounds until both a minimum number of rounds and a minimum duration are
reached. The workloads alternate within each round, in an order that reverses every round, so
that drift of the machine (clock boost, other load) falls on all of them alike.

On a CPU a round times one call of each workload. On a GPU (a clock whose method is CUDA events) one
call is too short to time alone, so a round times k back-to-back calls, with k chosen during a warm-up
that lasts until the latency is steady (`revmux.measure.gpu_timing`); the values are per call.
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
    # The GPU path (a clock that times with CUDA events); a CPU clock ignores these, cuda_graphs aside.
    min_round_s: float = 0.05  # a timed round lasts at least this long: k calls back to back
    max_calls_per_round: int = 4096
    warmup_tolerance: float = 0.02  # steady: the median of the last warmup_window rounds moved less than this
    warmup_window: int = 3
    max_warmup_rounds: int = 40
    cuda_graphs: bool = False  # time a CUDA graph's replay of each call (no launch overhead); falls back with a reason

    def __post_init__(self):
        if self.warmup_runs < 0 or self.min_iterations < 2 or self.min_duration_s < 0:
            raise ValueError(
                "latency settings need warmup_runs >= 0, min_iterations >= 2 and min_duration_s >= 0, "
                f"got {self.warmup_runs}, {self.min_iterations}, {self.min_duration_s}"
            )
        if self.min_round_s <= 0 or self.max_calls_per_round < 1:
            raise ValueError(f"latency settings need min_round_s > 0 and max_calls_per_round >= 1, "
                             f"got {self.min_round_s}, {self.max_calls_per_round}")
        if not 0 < self.warmup_tolerance < 1 or self.warmup_window < 1 or self.max_warmup_rounds < 2 * self.warmup_window:
            raise ValueError(
                "latency settings need 0 < warmup_tolerance < 1, warmup_window >= 1 and max_warmup_rounds >= "
                f"2 x warmup_window, got {self.warmup_tolerance}, {self.warmup_window}, {self.max_warmup_rounds}"
            )


def alternate(order: list[str], round_index: int):
    """The workloads' order in one round: as given in even rounds, reversed in odd ones."""
    return order if round_index % 2 == 0 else reversed(order)


def timed_rounds(
    workloads: dict[str, Callable[[], object]], time_one: Callable[[Callable[[], object]], float],
    settings: LatencySettings, progress: bool,
) -> tuple[dict[str, list[float]], float]:
    """Values of every workload, one per round (round i of every workload is index i), and the window's seconds."""
    values: dict[str, list[float]] = {name: [] for name in workloads}
    order = list(workloads)
    started = time.perf_counter()
    bar = progress_bar(total=settings.min_iterations, desc="timing", unit="round", enabled=progress, leave=False)
    rounds = 0
    while rounds < settings.min_iterations or time.perf_counter() - started < settings.min_duration_s:
        for name in alternate(order, rounds):
            values[name].append(time_one(workloads[name]))
        rounds += 1
        if rounds <= settings.min_iterations:
            bar.update()
    bar.close()
    window = time.perf_counter() - started
    log.info("timing: %d rounds of %s in %.1f s", rounds, ", ".join(workloads), window)
    return values, window


def measure_latency(
    workloads: dict[str, Callable[[], object]], samples_per_call: int, clock: Clock,
    settings: LatencySettings, progress: bool = False,
) -> dict[str, dict]:
    """Per workload: latency statistics, raw values (round i of every workload is index i), samples per
    second, the first call, and how it was measured (`timing`, `calls_per_round` and, on a GPU, the warm-up,
    CUDA graphs and the NVML snapshots around the timed window)."""
    from revmux.measure import gpu_timing

    first_call = {name: clock.time(fn) for name, fn in workloads.items()}
    if gpu_timing.repeats_calls(clock):
        values, window, how = gpu_timing.time_in_rounds(workloads, clock, settings, progress)
    else:
        for _ in range(settings.warmup_runs):
            for fn in workloads.values():
                fn()
        clock.sync()
        values, window = timed_rounds(workloads, clock.time, settings, progress)
        how = gpu_timing.single_call_record(clock, settings, workloads)
    return {
        name: {
            **summarize_latency(values[name], samples_per_call),
            "first_call_s": first_call[name],
            "warmup_runs": settings.warmup_runs,
            "min_iterations": settings.min_iterations,
            "min_duration_s": settings.min_duration_s,
            "window_s": window,
            "method": clock.method,
            **how[name],
        }
        for name in workloads
    }
