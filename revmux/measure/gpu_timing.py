"""How workloads are timed on a GPU: rounds of k back-to-back calls between two CUDA events.

One call of a model at the shapes the harness times lasts a few milliseconds, about what a host
synchronisation, a launch queue running dry or a clock change costs, so timing calls one by one
measures those (the old single-call GPU profiles had coefficients of variation of 16 to 61%). Here:

1. the first call and `warmup_runs` plain calls of each workload, as on a CPU;
2. optionally (`cuda_graphs`) each call is captured once in a CUDA graph and replayed from then on; if
   any workload cannot be captured, every workload runs without graphs (so they stay comparable) and
   the reason is recorded;
3. warm-up rounds, workloads alternating, until the per-call latency is steady: for every workload the
   median of the last `warmup_window` rounds is within `warmup_tolerance` of the median of the
   `warmup_window` before, with the same k (at most `max_warmup_rounds`; not steady is recorded). During
   them k grows until the fastest workload's round lasts `min_round_s` (with headroom), and one k serves
   every workload, so their rounds stay comparable;
4. timed rounds as on a CPU (alternating, reversed every round), each value = round time / k, with NVML
   snapshots just before and after the timed window.
"""

from __future__ import annotations

import logging
import math
import statistics
from dataclasses import dataclass
from typing import Callable

from revmux.measure.clock import CudaClock
from revmux.measure.latency import LatencySettings, alternate, timed_rounds

log = logging.getLogger(__name__)

SINGLE_CALL = "single_call"  # one call per round, timed alone
REPEATED_CALLS = "repeated_calls"  # k back-to-back calls per round, one pair of CUDA events around them
ROUND_HEADROOM = 1.2  # k aims at rounds this much longer than min_round_s, so jitter does not push them under it
REASON_CHARS = 300


def repeats_calls(clock) -> bool:
    """Whether `measure_latency` times rounds of repeated calls: the clock times with CUDA events."""
    return clock.method == CudaClock.method


def calls_for(per_call_s: float, settings: LatencySettings) -> int:
    """Calls per round that make a round of calls of `per_call_s` last min_round_s (with headroom)."""
    if per_call_s <= 0:
        return settings.max_calls_per_round
    return max(1, min(settings.max_calls_per_round, math.ceil(settings.min_round_s * ROUND_HEADROOM / per_call_s)))


@dataclass(frozen=True)
class Warmup:
    rounds: int
    steady: bool
    change: float | None  # the largest relative change of a workload's median between the last two windows
    calls_per_round: int

    def record(self, settings: LatencySettings) -> dict:
        return {"rounds": self.rounds, "steady": self.steady, "last_change": self.change,
                "tolerance": settings.warmup_tolerance, "window": settings.warmup_window,
                "max_rounds": settings.max_warmup_rounds}


def window_change(per_call: dict[str, list[float]], window: int) -> float:
    """The largest relative change, over workloads, from the median of the window before to the last one's."""
    changes = []
    for values in per_call.values():
        before, last = statistics.median(values[-2 * window:-window]), statistics.median(values[-window:])
        changes.append(abs(last - before) / before)
    return max(changes)


def warm_up(workloads: dict[str, Callable[[], object]], clock, settings: LatencySettings) -> Warmup:
    """Warm-up rounds until the per-call latency is steady, choosing the calls per round on the way."""
    order = list(workloads)
    per_call: dict[str, list[float]] = {name: [] for name in workloads}
    calls, rounds_at_calls, change = 1, 0, None
    for index in range(settings.max_warmup_rounds):
        for name in alternate(order, index):
            per_call[name].append(clock.time_calls(workloads[name], calls) / calls)
        rounds_at_calls += 1
        fastest = min(per_call[name][-1] for name in order)
        if fastest * calls < settings.min_round_s and calls < settings.max_calls_per_round:
            calls, rounds_at_calls = max(calls + 1, calls_for(fastest, settings)), 0
            continue
        if rounds_at_calls >= 2 * settings.warmup_window:
            change = window_change(per_call, settings.warmup_window)  # both windows ran at this k
            if change < settings.warmup_tolerance:
                return Warmup(index + 1, True, change, calls)
    return Warmup(settings.max_warmup_rounds, False, change, calls)


def _reason(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:REASON_CHARS]


def graph_workloads(workloads: dict[str, Callable[[], object]], clock, settings: LatencySettings):
    """The callables to time (graph replays when asked for and every capture worked) and the record of it."""
    if not settings.cuda_graphs:
        return workloads, {"requested": False, "used": False, "fallback_reason": None}
    replays, failures = {}, []
    for name, fn in workloads.items():
        try:
            replays[name] = clock.capture_graph(fn)
        except Exception as error:  # torch raises several kinds; any of them means no graph, recorded below
            failures.append(f"{name}: {_reason(error)}")
    if failures:
        reason = "capture failed, so every workload is timed without graphs: " + "; ".join(failures)
        log.warning("CUDA graphs: %s", reason)
        clock.sync()
        return workloads, {"requested": True, "used": False, "fallback_reason": reason}
    return replays, {"requested": True, "used": True, "fallback_reason": None}


def single_call_record(clock, settings: LatencySettings, names) -> dict[str, dict]:
    """How a CPU clock timed: one call per round; CUDA graphs, if asked for, were not used, and why."""
    graphs = {"requested": settings.cuda_graphs, "used": False,
              "fallback_reason": f"CUDA graphs need a CUDA device; the {clock.method} clock timed without them"
              if settings.cuda_graphs else None}
    snapshot = clock.telemetry()
    record = {"timing": SINGLE_CALL, "calls_per_round": 1, "cuda_graphs": graphs,
              "nvml_window": {"before": snapshot, "after": snapshot}, "timing_problems": []}
    return {name: record for name in names}


def time_in_rounds(workloads: dict[str, Callable[[], object]], clock, settings: LatencySettings, progress: bool):
    """Per-call values of every workload, one per timed round, the window's seconds, and per workload how
    it was timed. The first calls are already made (by `measure_latency`)."""
    for _ in range(settings.warmup_runs):
        for fn in workloads.values():
            fn()
    clock.sync()
    timed, graphs = graph_workloads(workloads, clock, settings)
    warmup = warm_up(timed, clock, settings)
    calls = warmup.calls_per_round
    log.info("GPU timing: %d calls per round after %d warm-up rounds (steady: %s), CUDA graphs %s",
             calls, warmup.rounds, warmup.steady, "used" if graphs["used"] else "not used")
    before = clock.telemetry()
    values, window = timed_rounds(timed, lambda fn: clock.time_calls(fn, calls) / calls, settings, progress)
    after = clock.telemetry()
    problems = []
    if not warmup.steady:
        change = "n/a" if warmup.change is None else f"{warmup.change:.1%}"
        problems.append(f"latency not steady after {warmup.rounds} warm-up rounds (last change {change}, "
                        f"tolerance {settings.warmup_tolerance:.0%})")
    how = {}
    for name in workloads:
        shortest = min(values[name]) * calls
        own = list(problems)
        if shortest < settings.min_round_s:
            own.append(f"shortest timed round {shortest * 1000:.1f} ms is under {settings.min_round_s * 1000:.0f} ms")
        how[name] = {
            "timing": REPEATED_CALLS, "calls_per_round": calls, "max_calls_per_round": settings.max_calls_per_round,
            "min_round_s": settings.min_round_s,
            "shortest_round_s": shortest, "warmup": warmup.record(settings), "cuda_graphs": graphs,
            "nvml_window": {"before": before, "after": after}, "timing_problems": own,
        }
    return values, window, how
