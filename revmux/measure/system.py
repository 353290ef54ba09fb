"""The host a measurement ran on."""

from __future__ import annotations

import os
import platform
import re

import psutil
import torch


# Instructions that torch's int8 CPU kernels (fbgemm, oneDNN) are fast with: without them an int8 speed-up
# is a fraction of what it is with them, so a profile of a quantized model must say which were there.
INT8_INSTRUCTIONS = ("avx512_vnni", "avx_vnni", "amx_int8")
# The /proc/cpuinfo flags that decide which CPU kernels run (float32, bfloat16, float16 and int8 matrix
# products in MKL, oneDNN and fbgemm), recorded when present.
KERNEL_FLAGS = (
    "sse4_2", "fma", "f16c", "avx", "avx2", "avx_vnni", "avx512f", "avx512dq", "avx512bw", "avx512vl",
    "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_int8", "amx_bf16", "amx_fp16",
)
CPUINFO = "/proc/cpuinfo"


def _first_cpu() -> dict[str, str]:
    """The first processor's fields in /proc/cpuinfo (every core reports the same model and flags); {} elsewhere."""
    fields = {}
    try:
        with open(CPUINFO) as handle:
            for line in handle:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def _library_version(config: str, pattern: str) -> str | None:
    """The version that torch's build summary gives a library (`torch.__config__.show()`), or None."""
    found = re.search(pattern, config)
    return found.group(1) if found else None


def cpu_kernels() -> dict:
    """What torch's CPU kernels can use here: the math libraries it was built with and the quantized engine
    its int8 kernels run on. Reading it costs no computation; what torch cannot tell is None."""
    try:
        config = torch.__config__.show()
    except Exception:  # a build without the summary: the versions stay unknown
        config = ""
    return {
        "onednn": {"available": torch.backends.mkldnn.is_available(),
                   "version": _library_version(config, r"MKL-DNN v(\S+)")},
        "mkl": {"available": torch.backends.mkl.is_available(),
                "version": _library_version(config, r"Math Kernel Library Version (\S+?)(?:-Product)?\s")},
        "openmp": torch.backends.openmp.is_available(),
        # the engine of torch's quantized (int8) kernels, and the ones this build offers
        "quantized_engine": torch.backends.quantized.engine,
        "quantized_engines": list(torch.backends.quantized.supported_engines),
    }


def host_info() -> dict:
    cpu = _first_cpu()
    flags = set(cpu.get("flags", "").split())
    unavailable = {}
    if not flags:
        unavailable["cpu_flags"] = ("no CPU flags to read: /proc/cpuinfo is missing or lists none (not Linux, or "
                                    "an architecture without them)")
    return {
        "cpu": cpu.get("model name") or platform.processor() or "unknown",
        # the vector instruction level torch's CPU kernels dispatch to (e.g. AVX512, AVX2)
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "int8_instructions": [name for name in INT8_INSTRUCTIONS if name in flags],
        "cpu_flags": [name for name in KERNEL_FLAGS if name in flags] if flags else None,
        "cpu_kernels": cpu_kernels(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "memory_total": psutil.virtual_memory().total,
        "platform": platform.platform(),
        "unavailable": unavailable,
    }
