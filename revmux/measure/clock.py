"""Clocks that time one call: CUDA events on a GPU (synchronised at the edges), a monotonic clock on CPU."""

from __future__ import annotations

import time
from typing import Callable

import torch


class CpuClock:
    method = "time.perf_counter"

    def sync(self) -> None:
        pass

    def time(self, fn: Callable[[], object]) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start


class CudaClock:
    method = "cuda_events"

    def __init__(self, device: torch.device):
        self.device = device

    def sync(self) -> None:
        torch.cuda.synchronize(self.device)

    def time(self, fn: Callable[[], object]) -> float:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        self.sync()
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000.0


Clock = CpuClock | CudaClock


def clock_for(device: torch.device) -> Clock:
    return CudaClock(device) if device.type == "cuda" else CpuClock()
