"""Was the machine quiet while we timed? Two checks that the latency spread inside a run cannot give:
when another process takes the CPU, every workload slows together and the coefficient of variation
stays small, so a contended run looks clean unless the machine itself is asked.

- Foreign CPU: machine-wide busy CPU time (steal included: a hypervisor taking cores is contention
  too) minus this process's own CPU time (its children included), averaged over the window, in cores.
  Any of it beyond a small tolerance makes the timing invalid, whatever the thread count: a process on
  a core the measurement does not use still shares the memory bandwidth, the caches and the boost
  budget of the package, so a 1-thread timing beside a busy core is not a quiet-machine timing.
- Drift: the first workload's median latency in the first quarter of the rounds against the last
  quarter; a load that starts or stops mid-run shows up there even when it hits all workloads alike.
  A quarter's median needs a few rounds to mean anything, so with fewer rounds the check is skipped,
  and the record says so and why.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass

import psutil

FOREIGN_CPU_TOLERANCE = 0.25  # cores of other work that a run may see (shells, daemons), on any core
MAX_DRIFT = 0.10
MIN_ROUNDS_PER_QUARTER = 5  # the median of fewer rounds moves with a single slow call
MIN_ROUNDS_FOR_DRIFT = 4 * MIN_ROUNDS_PER_QUARTER


def _busy_seconds(times) -> float:
    return sum(getattr(times, field, 0.0) for field in ("user", "nice", "system", "irq", "softirq", "steal"))


def _own_seconds(times) -> float:
    return times.user + times.system + times.children_user + times.children_system


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return psutil.cpu_count() or 1


@dataclass
class CpuReading:
    wall: float
    machine_busy: float
    own: float


def read_cpu() -> CpuReading:
    return CpuReading(time.perf_counter(), _busy_seconds(psutil.cpu_times()), _own_seconds(psutil.Process().cpu_times()))


def foreign_cores(before: CpuReading, after: CpuReading) -> float | None:
    """Average number of cores other processes kept busy between two readings."""
    window = after.wall - before.wall
    if window <= 0:
        return None
    foreign = (after.machine_busy - before.machine_busy) - (after.own - before.own)
    return max(foreign, 0.0) / window


def drift(values: list[float]) -> float | None:
    """Relative change of the median from the first quarter of the rounds to the last; None with fewer than
    MIN_ROUNDS_FOR_DRIFT rounds (`drift_skipped` says why)."""
    if len(values) < MIN_ROUNDS_FOR_DRIFT:
        return None
    quarter = len(values) // 4
    first, last = statistics.median(values[:quarter]), statistics.median(values[-quarter:])
    return (last - first) / first


def drift_skipped(rounds: int) -> str | None:
    """Why the drift check cannot be made on `rounds` timed rounds, or None when it can."""
    if rounds >= MIN_ROUNDS_FOR_DRIFT:
        return None
    return (f"only {rounds} timed rounds: the drift check needs at least {MIN_ROUNDS_FOR_DRIFT} "
            f"({MIN_ROUNDS_PER_QUARTER} per quarter); time more rounds (--min-iterations) to have it")


def assess_contention(
    foreign: float | None, threads: int, cpus: int, latency_drift: float | None,
    tolerance: float = FOREIGN_CPU_TOLERANCE, max_drift: float = MAX_DRIFT, rounds: int | None = None,
) -> tuple[dict, list[str]]:
    """The contention record of a profile and the reasons it makes the timing invalid (if any).
    Other work is allowed up to `tolerance` cores in all, on any core: spare cores are not spare for
    the memory bandwidth, caches and boost clocks the measurement shares with them. `rounds`: how many
    rounds were timed, to say why the drift is None when there were too few for it."""
    allowed = tolerance
    reasons = []
    if foreign is not None and foreign > allowed:
        reasons.append(
            f"machine not quiet: other processes kept {foreign:.2f} CPU cores busy during timing "
            f"(allowed {allowed:.2f} on any of the {cpus} cores: the measurement ran {threads} threads, and "
            "other work on the other cores still shares their memory bandwidth, caches and boost clocks)"
        )
    if latency_drift is not None and abs(latency_drift) > max_drift:
        reasons.append(
            f"machine not steady: the first workload's median latency moved {latency_drift:+.1%} from the first "
            f"to the last quarter of the rounds (allowed {max_drift:.0%})"
        )
    if latency_drift is not None:
        skipped = None
    elif rounds is not None and (too_few := drift_skipped(rounds)):
        skipped = too_few
    else:
        skipped = "no drift was given to assess"
    record = {"foreign_cpu_cores": foreign, "allowed_foreign_cpu_cores": allowed, "cpus": cpus, "threads": threads,
              "teacher_drift": latency_drift, "max_drift": max_drift, "drift_skipped": skipped,
              "min_rounds_for_drift": MIN_ROUNDS_FOR_DRIFT}
    return record, reasons
