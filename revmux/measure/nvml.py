"""The NVIDIA GPU behind a torch device, through NVML (the `nvidia-ml-py` package).

The device is found by its UUID, never by index: CUDA and NVML number GPUs differently unless
CUDA_DEVICE_ORDER=PCI_BUS_ID. Memory uses the v2 structure, whose `used` excludes the memory the
driver reserves. Anything NVML cannot give here (no driver, no `nvidia-ml-py` package, a MIG slice,
an old GPU) comes back as `Unavailable` with the reason, for the caller to record as null.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

try:
    import pynvml
except ImportError as _missing:  # the package is a dependency, but a machine without it still times on the CPU
    pynvml = None
    PYNVML_MISSING: str | None = f"the nvidia-ml-py package (pynvml) is not installed ({_missing})"

    class NVMLError(Exception):
        """Stands in for pynvml's error class, which nothing raises without the package."""
else:
    PYNVML_MISSING = None
    NVMLError = pynvml.NVMLError

# NVML's clock-event reason bits (nvml.h, nvmlClocksEventReason*): why the clocks are below their maximum.
CLOCK_EVENT_REASONS = {
    "gpu_idle": 0x1,
    "applications_clocks_setting": 0x2,
    "sw_power_cap": 0x4,
    "hw_slowdown": 0x8,
    "sync_boost": 0x10,
    "sw_thermal_slowdown": 0x20,
    "hw_thermal_slowdown": 0x40,
    "hw_power_brake_slowdown": 0x80,
    "display_clock_setting": 0x100,
}
# Those that mean the GPU ran slower than it could (idle and set clocks do not).
SLOWDOWN_REASONS = {
    name: CLOCK_EVENT_REASONS[name]
    for name in ("sw_power_cap", "hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown")
}


@dataclass(frozen=True)
class Unavailable:
    reason: str


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _optional(call, *args):
    """A reading, or None where this GPU or driver does not support it."""
    try:
        return call(*args)
    except NVMLError:
        return None


class _Readings:
    """Readings that may each be unsupported: a failed one is None, with NVML's reason under `unavailable`."""

    def __init__(self):
        self.unavailable: dict[str, str] = {}

    def read(self, field: str, call, *args):
        try:
            return call(*args)
        except NVMLError as error:
            self.unavailable[field] = f"NVML cannot read it here ({error})"
            return None


class NvmlGpu:
    """One GPU's NVML handle and the readings the trackers use (bytes, millijoules, watts)."""

    def __init__(self, handle, uuid: str):
        self.handle = handle
        self.uuid = uuid

    def identity(self) -> dict:
        pci = _optional(pynvml.nvmlDeviceGetPciInfo, self.handle)
        cuda = _optional(pynvml.nvmlSystemGetCudaDriverVersion)
        mig = _optional(pynvml.nvmlDeviceGetMigMode, self.handle)
        return {
            "name": _text(pynvml.nvmlDeviceGetName(self.handle)),
            "uuid": self.uuid,
            "pci_bus_id": _text(pci.busId) if pci is not None else None,
            "driver": _text(pynvml.nvmlSystemGetDriverVersion()),
            "cuda_driver": f"{cuda // 1000}.{cuda % 1000 // 10}" if cuda else None,
            "nvml": _text(_optional(pynvml.nvmlSystemGetNVMLVersion) or "") or None,
            "mig_enabled": bool(mig[0]) if mig is not None else None,
            "memory_total": int(self.memory()["total"]),
        }

    def memory(self) -> dict:
        info = pynvml.nvmlDeviceGetMemoryInfo(self.handle, version=pynvml.nvmlMemory_v2)
        return {"total": int(info.total), "reserved": int(info.reserved), "used": int(info.used)}

    def processes(self) -> list[tuple[int, int | None]]:
        """(pid, bytes used) of every compute process on the GPU; pids are the host's, not a container's."""
        running = pynvml.nvmlDeviceGetComputeRunningProcesses(self.handle)
        return [(int(p.pid), int(p.usedGpuMemory) if p.usedGpuMemory is not None else None) for p in running]

    def energy_mj(self) -> int:
        """Millijoules since the driver was loaded (Volta and newer)."""
        return int(pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle))

    def telemetry(self) -> dict:
        """One snapshot of what decides how fast the GPU runs: clocks (now and their maximum), power draw and
        the enforced power limit (the cap), temperature, the clock-event (throttle) reasons, and the compute
        processes on the device. Each reading it cannot take is None, with the reason under `unavailable`."""
        readings = _Readings()
        read = readings.read
        handle = self.handle
        limit = read("power_limit_w", pynvml.nvmlDeviceGetEnforcedPowerLimit, handle)
        default_limit = read("default_power_limit_w", pynvml.nvmlDeviceGetPowerManagementDefaultLimit, handle)
        power = read("power_w", pynvml.nvmlDeviceGetPowerUsage, handle)
        events = read("clock_event_reasons", pynvml.nvmlDeviceGetCurrentClocksEventReasons, handle)
        utilization = read("utilization", pynvml.nvmlDeviceGetUtilizationRates, handle)
        running = read("processes", self.processes)
        return {
            "temperature_c": read("temperature_c", pynvml.nvmlDeviceGetTemperature, handle, pynvml.NVML_TEMPERATURE_GPU),
            "sm_clock_mhz": read("sm_clock_mhz", pynvml.nvmlDeviceGetClockInfo, handle, pynvml.NVML_CLOCK_SM),
            "memory_clock_mhz": read("memory_clock_mhz", pynvml.nvmlDeviceGetClockInfo, handle, pynvml.NVML_CLOCK_MEM),
            "max_sm_clock_mhz": read("max_sm_clock_mhz", pynvml.nvmlDeviceGetMaxClockInfo, handle, pynvml.NVML_CLOCK_SM),
            "max_memory_clock_mhz": read("max_memory_clock_mhz", pynvml.nvmlDeviceGetMaxClockInfo, handle,
                                         pynvml.NVML_CLOCK_MEM),
            "power_w": power / 1000 if power is not None else None,
            "power_limit_w": limit / 1000 if limit is not None else None,
            "default_power_limit_w": default_limit / 1000 if default_limit is not None else None,
            "performance_state": read("performance_state", pynvml.nvmlDeviceGetPerformanceState, handle),
            "utilization_gpu_percent": int(utilization.gpu) if utilization is not None else None,
            "utilization_memory_percent": int(utilization.memory) if utilization is not None else None,
            "persistence_mode": read("persistence_mode", pynvml.nvmlDeviceGetPersistenceMode, handle),
            "clock_event_reasons": None if events is None else sorted(
                name for name, bit in CLOCK_EVENT_REASONS.items() if events & bit
            ),
            "slowdowns": None if events is None else sorted(
                name for name, bit in SLOWDOWN_REASONS.items() if events & bit
            ),
            "processes": None if running is None else [{"pid": pid, "used_bytes": used} for pid, used in running],
            "foreign_pids": None if running is None else _foreign([pid for pid, _ in running]),
            "unavailable": readings.unavailable,
        }


def open_gpu(uuid: str | None) -> NvmlGpu | Unavailable:
    """The NVML view of the GPU with this UUID (as torch reports it), or why there is none."""
    if uuid is None:
        return Unavailable("not an NVIDIA GPU run (device is not cuda): NVML measures NVIDIA GPUs only")
    if PYNVML_MISSING:
        return Unavailable(PYNVML_MISSING)
    try:
        pynvml.nvmlInit()
    except NVMLError as error:
        return Unavailable(f"no NVIDIA driver: NVML could not start ({error})")
    nvml_uuid = uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"
    try:
        return NvmlGpu(pynvml.nvmlDeviceGetHandleByUUID(nvml_uuid), nvml_uuid)
    except NVMLError as error:
        return Unavailable(f"NVML has no device with UUID {nvml_uuid} ({error})")


def cuda_uuid(device) -> str | None:
    """The UUID torch reports for a cuda device; None for other devices."""
    import torch

    if device.type != "cuda":
        return None
    return str(torch.cuda.get_device_properties(device).uuid)


def foreign_processes(gpu: NvmlGpu) -> list[int] | Unavailable:
    """Compute processes on the GPU other than this one (see `_foreign`)."""
    try:
        running = gpu.processes()
    except NVMLError as error:
        return Unavailable(f"NVML cannot list the GPU's processes ({error})")
    return _foreign([pid for pid, _ in running])


def _foreign(pids: list[int]) -> list[int]:
    """The pids that are not this process. Inside a container NVML lists host pids, so when our pid is not
    among them the first process is taken to be ours."""
    if os.getpid() in pids:
        return [pid for pid in pids if pid != os.getpid()]
    return pids[1:]


def window_telemetry(gpu: NvmlGpu | Unavailable) -> dict:
    """A telemetry snapshot of the GPU, or a record that says why there is none (no GPU, no NVML)."""
    if isinstance(gpu, Unavailable):
        return {"unavailable": {"gpu": gpu.reason}}
    return gpu.telemetry()
