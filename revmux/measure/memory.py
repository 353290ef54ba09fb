"""Peak memory of a workload: host RSS on every machine; on a GPU, torch's allocator peaks and NVML's
device and per-process memory, polled in a background thread (optimum-benchmark polls every 10 ms);
one workload's host peak in a fresh process of its own; and the bytes of the weights a workload reads.
All values are bytes.

A model's weights and its working set are told apart. Weights loaded from safetensors are memory-mapped
and only enter the RSS when first read, which is during the first call: a peak taken over the RSS right
after loading would count them as the call's. The fresh process therefore reads every page of the
model's weights before its baseline, and the weights are counted on their own, from the tensors the call
reads (`weights_in_use`)."""

from __future__ import annotations

import multiprocessing
import os
import queue
import resource
import threading
from dataclasses import dataclass
from itertools import chain
from typing import Callable, Iterable

import psutil
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from revmux.measure.nvml import NVMLError, NvmlGpu, Unavailable

POLL_INTERVAL_S = 0.01
PAGE_BYTES = resource.getpagesize()


@dataclass(frozen=True)
class Workload:
    """A callable and the modules whose weights it reads (what a fresh memory process makes resident)."""

    call: Callable[[], object]
    modules: tuple[torch.nn.Module, ...] = ()

    def __call__(self) -> object:
        return self.call()


def _storage_key(tensor: torch.Tensor) -> tuple[str, int] | None:
    """The identity of a tensor's memory (views and tied weights share it), or None for a tensor without any."""
    try:
        storage = tensor.untyped_storage()
        if storage.nbytes() == 0:
            return None
        return str(tensor.device), storage.data_ptr()
    except (RuntimeError, NotImplementedError):  # sparse, nested, meta or other tensors without their own memory
        return None


def _weight_storages(modules: Iterable[torch.nn.Module]) -> dict[tuple[str, int], torch.UntypedStorage]:
    """Every parameter's and buffer's storage of `modules` (and their submodules), each once."""
    storages = {}
    for module in modules:
        for tensor in chain(module.parameters(), module.buffers()):
            key = _storage_key(tensor)
            if key is not None:
                storages.setdefault(key, tensor.untyped_storage())
    return storages


def make_resident(modules: Iterable[torch.nn.Module]) -> int:
    """Reads one byte of every memory page of every parameter and buffer of `modules`, so that weights still
    memory-mapped from their file (safetensors) are in this process's RSS. Returns the bytes read into place."""
    total = 0
    with torch.no_grad():
        for (device, _), storage in _weight_storages(modules).items():
            if not device.startswith("cpu"):
                continue
            pages = torch.empty(0, dtype=torch.uint8).set_(storage)[::PAGE_BYTES]
            int(pages.sum())
            total += storage.nbytes()
    return total


class _ReadRecorder(TorchDispatchMode):
    """Records the storage of every tensor that an operation takes as an argument."""

    def __init__(self):
        super().__init__()
        self.read: set[tuple[str, int]] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        for value in tree_leaves((args, kwargs or {})):
            if isinstance(value, torch.Tensor) and (key := _storage_key(value)) is not None:
                self.read.add(key)
        return func(*args, **(kwargs or {}))


def _packed_int8_bytes(module: torch.nn.Module) -> int:
    """The int8 weights (one byte each), their per-channel scales if any, and the float bias of a dynamically
    quantized Linear, as unpacked from its packed parameters."""
    weight, bias = module._weight_bias()
    total = weight.numel() * weight.element_size()
    if weight.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
        total += weight.q_per_channel_scales().nbytes + weight.q_per_channel_zero_points().nbytes
    return total + (bias.nbytes if bias is not None else 0)


def weights_in_use(fn: Callable[[], object], modules: Iterable[torch.nn.Module]) -> tuple[int, str]:
    """The bytes of the weights one call of `fn` reads, and how they were counted: each parameter and buffer
    of `modules` that an operation of the call takes as an argument, by its storage's bytes (views and tied
    weights once), so layers a truncated model skips are not counted; and each dynamically quantized (int8)
    Linear that the call runs, whose packed weights no operation shows as a tensor."""
    modules = list(modules)
    storages = _weight_storages(modules)
    packed = [m for module in modules for m in module.modules() if hasattr(m, "_packed_params") and hasattr(m, "_weight_bias")]
    ran: set[int] = set()
    hooks = [m.register_forward_pre_hook(lambda module, args: ran.add(id(module))) for m in packed]
    recorder = _ReadRecorder()
    try:
        with recorder:
            fn()
    finally:
        for hook in hooks:
            hook.remove()
    total = sum(storage.nbytes() for key, storage in storages.items() if key in recorder.read)
    how = ("bytes of the parameters and buffers one call reads (each storage once), recorded by running the call "
           "once under a torch dispatch mode")
    if packed:
        total += sum(_packed_int8_bytes(m) for m in packed if id(m) in ran)
        how += ("; the int8 Linear layers it runs: their int8 weights at one byte each and their float bias, as "
                "unpacked from the packed parameters (the packed copy's column offsets and padding are not counted)")
    return total, how


class PeakSampler:
    """Calls `read` every `interval_s` in a thread while in the `with` block and keeps each key's peak."""

    def __init__(self, read: Callable[[], dict[str, int | None]], interval_s: float = POLL_INTERVAL_S):
        self.read = read
        self.interval_s = interval_s
        self.peaks: dict[str, int | None] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for key, value in self.read().items():
            if value is not None:
                previous = self.peaks.get(key)
                self.peaks[key] = value if previous is None else max(previous, value)
            else:
                self.peaks.setdefault(key, None)
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def __enter__(self) -> "PeakSampler":
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def host_rss() -> int:
    return psutil.Process().memory_info().rss


def reset_kernel_peak_rss() -> bool:
    """Resets this process's RSS high-water mark (VmHWM) to its current RSS; Linux >= 4.0 only.
    Returns False where the kernel offers no reset, and the caller must rely on polling."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # 5: reset the peak RSS (Documentation/filesystems/proc.rst)
        return True
    except OSError:
        return False


def kernel_peak_rss() -> int:
    """This process's VmHWM: the kernel's exact RSS high-water mark since start or the last reset."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("/proc/self/status has no VmHWM line")


def _fresh_process_child(build, runs: int, threads: int, interval_s: float, results) -> None:
    try:
        torch.set_num_threads(threads)
        workload = build()
        # Memory-mapped weights would otherwise enter the RSS during the first call, as if the call needed them.
        resident = make_resident(workload.modules) if isinstance(workload, Workload) else None
        baseline = host_rss()
        # Polling every 10 ms misses a peak that lasts less than that (or that holds the GIL while the
        # sampler waits for it); the kernel's high-water mark, reset after the build, misses nothing.
        exact = reset_kernel_peak_rss()
        with PeakSampler(lambda: {"host_rss": host_rss()}, interval_s) as sampler:
            for _ in range(runs):
                workload()
        peak = sampler.peaks["host_rss"]
        if exact:
            peak = max(peak, kernel_peak_rss())
        source = "kernel RSS high-water mark reset after the build" if exact else f"RSS polled every {interval_s * 1000:g} ms"
        if resident is not None:
            source += f", with every page of the model's weights ({resident} bytes) read into memory before it"
        results.put({"baseline": baseline, "peak": peak, "source": source})
    except BaseException as error:  # tell the parent why, rather than die silently
        results.put({"error": f"{type(error).__name__}: {error}"})


def peak_in_fresh_process(
    build: Callable[[], Callable[[], object]], runs: int, threads: int, interval_s: float = POLL_INTERVAL_S,
) -> dict:
    """Host RSS peak while the callable that `build()` returns runs `runs` times, over the RSS right after
    `build()`, in a fresh (spawned) process that runs nothing else. In one process the RSS high-water mark
    cannot tell two workloads apart, and memory one frees stays mapped for the next. The baseline is taken
    before any call rather than after a warm-up call: the allocator keeps a call's freed activations mapped,
    so a baseline after one call would hide what the call needs. When `build()` returns a `Workload`, every
    page of its modules' weights is read before the baseline, so the peak is the working set above the
    loaded, resident model. `build` must be picklable (a module-level function or a functools.partial of
    one). Returns peak_bytes, baseline_bytes and how the peak was read (source), or peak_bytes None and the
    reason."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_fresh_process_child, args=(build, runs, threads, interval_s, results))
    process.start()
    try:
        while True:
            try:
                result = results.get(timeout=1.0)
                break
            except queue.Empty:
                if not process.is_alive():  # killed (out of memory?) before it could report
                    try:
                        result = results.get(timeout=1.0)
                        break
                    except queue.Empty:
                        return {"peak_bytes": None, "baseline_bytes": None,
                                "reason": f"the fresh process ended with exit code {process.exitcode} before reporting"}
    finally:
        process.join()
    if "error" in result:
        return {"peak_bytes": None, "baseline_bytes": None, "reason": f"the fresh process failed: {result['error']}"}
    return {"peak_bytes": max(result["peak"] - result["baseline"], 0), "baseline_bytes": result["baseline"],
            "source": result["source"]}


def process_peak_rss() -> int:
    """The kernel's high-water mark of this process's RSS (since it started)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def nvml_reader(gpu: NvmlGpu) -> Callable[[], dict[str, int | None]]:
    pid = os.getpid()

    def read() -> dict[str, int | None]:
        memory = gpu.memory()
        try:
            mine = [used for p, used in gpu.processes() if p == pid]
        except NVMLError:
            mine = []
        return {"nvml_used": memory["used"], "nvml_reserved": memory["reserved"],
                "nvml_process": mine[0] if mine else None}

    return read


def measure_memory(
    fn: Callable[[], object], runs: int, device: torch.device, gpu: NvmlGpu | Unavailable,
    sync: Callable[[], None], interval_s: float = POLL_INTERVAL_S,
) -> dict:
    """Peaks while `fn` runs `runs` times."""
    unavailable: dict[str, str] = {}
    sync()
    allocated_before = None
    if device.type == "cuda":
        allocated_before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    readers = [lambda: {"host_rss": host_rss()}]
    if isinstance(gpu, NvmlGpu):
        readers.append(nvml_reader(gpu))
    host_before = host_rss()
    with PeakSampler(lambda: {k: v for read in readers for k, v in read().items()}, interval_s) as sampler:
        for _ in range(runs):
            fn()
        sync()
    peaks = sampler.peaks
    result = {
        "unit": "bytes",
        "poll_interval_ms": interval_s * 1000,
        "samples": sampler.samples,
        "runs": runs,
        "host_rss_before": host_before,
        "host_rss_peak": peaks["host_rss"],
        "host_process_peak_rss": process_peak_rss(),
        "torch_allocated_before": allocated_before,
        "torch_max_allocated": None,
        "torch_max_reserved": None,
        "nvml_used_peak": peaks.get("nvml_used"),
        "nvml_reserved": peaks.get("nvml_reserved"),
        "nvml_process_peak": peaks.get("nvml_process"),
        "nvml_struct": "v2" if isinstance(gpu, NvmlGpu) else None,
    }
    if device.type == "cuda":
        result["torch_max_allocated"] = torch.cuda.max_memory_allocated(device)
        result["torch_max_reserved"] = torch.cuda.max_memory_reserved(device)
    else:
        reason = f"device is {device.type}: torch's allocator counters exist for cuda only"
        unavailable.update(torch_allocated_before=reason, torch_max_allocated=reason, torch_max_reserved=reason)
    if isinstance(gpu, Unavailable):
        unavailable.update(nvml_used_peak=gpu.reason, nvml_reserved=gpu.reason, nvml_process_peak=gpu.reason)
    elif result["nvml_process_peak"] is None:
        unavailable["nvml_process_peak"] = (
            "NVML did not list this process (a container's pid namespace hides host pids, or the driver "
            "reports no per-process memory)"
        )
    result["unavailable"] = unavailable
    return result
