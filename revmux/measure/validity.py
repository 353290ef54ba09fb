"""Whether a measurement can be trusted, with the reasons when it cannot (MLPerf's VALID/INVALID)."""

from __future__ import annotations

from revmux.measure.nvml import Unavailable

MAX_CV = 0.10


def assess(
    latency: dict[str, dict], energy: dict[str, dict], foreign: list[int] | Unavailable | None,
    telemetry: list[dict], max_cv: float = MAX_CV,
) -> dict:
    """`latency` and `energy`: per workload, as the trackers return them; `foreign`: other processes on
    the GPU (None without a GPU); `telemetry`: NVML snapshots taken around the measurement."""
    reasons: list[str] = []
    for name, stats in latency.items():
        if stats["cv"] is not None and stats["cv"] > max_cv:
            reasons.append(f"{name}: coefficient of variation {stats['cv']:.1%} is above {max_cv:.0%}")
        if stats["window_s"] < stats["min_duration_s"]:
            reasons.append(f"{name}: timing window {stats['window_s']:.2f} s is shorter than {stats['min_duration_s']} s")
        # GPU rounds: a warm-up that never settled, or rounds shorter than the timer can resolve well
        reasons.extend(f"{name}: {problem}" for problem in stats.get("timing_problems", []))
    for name, stats in energy.items():
        reasons.extend(f"{name}: {problem}" for problem in stats["problems"])
    if isinstance(foreign, list) and foreign:
        reasons.append(f"other processes used the GPU: pids {', '.join(map(str, foreign))}")
    slowdowns = sorted({reason for snapshot in telemetry for reason in (snapshot.get("slowdowns") or [])})
    if slowdowns:
        reasons.append(f"GPU clocks were held down: {', '.join(slowdowns)}")
    return {"valid": not reasons, "reasons": reasons, "max_cv": max_cv}
