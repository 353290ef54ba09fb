"""GPU energy of a workload from NVML's total-energy counter (the approach of Zeus).

The counter advances only every 20-100 ms, so each window runs at least `min_window_s` (1 s by
default). An idle window of the same length is read just before; the idle energy is scaled to the
active window's length and subtracted into a separate field, so the raw reading is kept.
"""

from __future__ import annotations

import time
from typing import Callable

from revmux.measure.nvml import NVMLError, NvmlGpu, Unavailable

MIN_WINDOW_S = 1.0


def _window(gpu: NvmlGpu, run: Callable[[], int], sync: Callable[[], None]) -> tuple[float, float, int]:
    """(joules, seconds, calls) over one synchronised window."""
    sync()
    before, started = gpu.energy_mj(), time.perf_counter()
    calls = run()
    sync()
    after, ended = gpu.energy_mj(), time.perf_counter()
    return (after - before) / 1000.0, ended - started, calls


def measure_energy(
    fn: Callable[[], object], samples_per_call: int, gpu: NvmlGpu | Unavailable, sync: Callable[[], None],
    min_window_s: float = MIN_WINDOW_S,
) -> dict:
    result = {
        "unit": "J", "method": "nvml_total_energy", "gpu": None, "gpu_idle": None, "gpu_net": None,
        "window_s": None, "idle_window_s": None, "calls": None, "per_sample": None, "net_per_sample": None,
        "min_window_s": min_window_s, "problems": [], "unavailable": {},
    }
    if isinstance(gpu, Unavailable):
        result["unavailable"]["gpu"] = gpu.reason
        return result

    def idle() -> int:
        time.sleep(min_window_s)
        return 0

    def active() -> int:
        calls, started = 0, time.perf_counter()
        while calls == 0 or time.perf_counter() - started < min_window_s:
            fn()
            calls += 1
        return calls

    try:
        idle_j, idle_s, _ = _window(gpu, idle, sync)
        active_j, active_s, calls = _window(gpu, active, sync)
    except NVMLError as error:
        result["unavailable"]["gpu"] = f"NVML has no energy counter for this GPU ({error}); MIG slices and pre-Volta GPUs lack one"
        return result
    idle_scaled = idle_j * active_s / idle_s
    samples = calls * samples_per_call
    result.update(
        gpu=active_j, gpu_idle=idle_scaled, gpu_net=active_j - idle_scaled, window_s=active_s,
        idle_window_s=idle_s, calls=calls, per_sample=active_j / samples, net_per_sample=(active_j - idle_scaled) / samples,
    )
    if active_j <= 0:
        result["problems"].append("the energy counter did not advance during the window")
    if active_s < min_window_s:
        result["problems"].append(f"energy window {active_s:.3f} s is shorter than {min_window_s} s")
    return result
