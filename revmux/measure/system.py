"""The host a measurement ran on."""

from __future__ import annotations

import os
import platform

import psutil
import torch


# Instructions that torch's int8 CPU kernels (fbgemm, oneDNN) are fast with: without them an int8 speed-up
# is a fraction of what it is with them, so a profile of a quantized model must say which were there.
INT8_INSTRUCTIONS = ("avx512_vnni", "avx_vnni", "amx_int8")


def _first_cpu() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo (every core reports the same model and flags); {} elsewhere."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def host_info() -> dict:
    cpu = _first_cpu()
    flags = set(cpu.get("flags", "").split())
    return {
        "cpu": cpu.get("model name") or platform.processor() or "unknown",
        # the vector instruction level torch's CPU kernels dispatch to (e.g. AVX512, AVX2)
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "int8_instructions": [name for name in INT8_INSTRUCTIONS if name in flags],
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "memory_total": psutil.virtual_memory().total,
        "platform": platform.platform(),
    }
