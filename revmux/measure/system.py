"""The host a measurement ran on."""

from __future__ import annotations

import os
import platform

import psutil
import torch


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# Instructions that torch's int8 CPU kernels (fbgemm, oneDNN) are fast with: without them an int8 speed-up
# is a fraction of what it is with them, so a profile of a quantized model must say which were there.
INT8_INSTRUCTIONS = ("avx512_vnni", "avx_vnni", "amx_int8")


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def host_info() -> dict:
    return {
        "cpu": _cpu_model(),
        # the vector instruction level torch's CPU kernels dispatch to (e.g. AVX512, AVX2)
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "int8_instructions": [name for name in INT8_INSTRUCTIONS if name in _cpu_flags()],
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "memory_total": psutil.virtual_memory().total,
        "platform": platform.platform(),
    }
