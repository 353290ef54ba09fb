"""Clocks that time calls: CUDA events on a GPU (synchronised at the edges), a monotonic clock on CPU.

A clock's `method` also chooses how `measure_latency` times: one call per round on a CPU, and on a GPU
(`cuda_events`) rounds of back-to-back calls long enough for the events to resolve them, optionally
replayed from a CUDA graph (`revmux.measure.gpu_timing`).
"""

from __future__ import annotations

import time
from typing import Callable

import torch

from revmux.measure.nvml import NvmlGpu, Unavailable, cuda_uuid, open_gpu, window_telemetry

GRAPH_WARMUP_CALLS = 3  # calls on a side stream before capture, as torch.cuda.graphs asks


class CpuClock:
    method = "time.perf_counter"

    def sync(self) -> None:
        pass

    def time(self, fn: Callable[[], object]) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    def telemetry(self) -> dict:
        return window_telemetry(Unavailable("not an NVIDIA GPU run (device is not cuda): NVML measures NVIDIA GPUs only"))


class CudaClock:
    method = "cuda_events"

    def __init__(self, device: torch.device):
        self.device = device
        self._gpu: NvmlGpu | Unavailable | None = None

    def sync(self) -> None:
        torch.cuda.synchronize(self.device)

    def time(self, fn: Callable[[], object]) -> float:
        return self.time_calls(fn, 1)

    def time_calls(self, fn: Callable[[], object], calls: int) -> float:
        """Seconds for `calls` back-to-back calls, between two events on the device's current stream."""
        stream = torch.cuda.current_stream(self.device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        self.sync()
        start.record(stream)
        for _ in range(calls):
            fn()
        end.record(stream)
        end.synchronize()
        return start.elapsed_time(end) / 1000.0

    def capture_graph(self, fn: Callable[[], object]) -> Callable[[], object]:
        """A callable that replays `fn` captured once in a CUDA graph (same inputs, same work every replay).
        Raises what torch raises when the call cannot be captured (a host sync inside it, for one)."""
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(GRAPH_WARMUP_CALLS):
                fn()
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            fn()
        self.sync()
        return graph.replay

    def telemetry(self) -> dict:
        """An NVML snapshot of this GPU (clocks, power, temperature, throttle reasons, processes), or why none."""
        if self._gpu is None:
            self._gpu = open_gpu(cuda_uuid(self.device))
        return window_telemetry(self._gpu)


Clock = CpuClock | CudaClock


def clock_for(device: torch.device) -> Clock:
    return CudaClock(device) if device.type == "cuda" else CpuClock()
