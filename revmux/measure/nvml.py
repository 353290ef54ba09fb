"""The NVIDIA GPU behind a torch device, through NVML (the `nvidia-ml-py` package).

The device is found by its UUID, never by index: CUDA and NVML number GPUs differently unless
CUDA_DEVICE_ORDER=PCI_BUS_ID. Memory uses the v2 structure, whose `used` excludes the memory the
driver reserves. Anything NVML cannot give here (no driver, a MIG slice, an old GPU) comes back
as `Unavailable` with the reason, for the caller to record as null.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pynvml

# Clock-event reasons that mean the GPU ran slower than it could (idle and set clocks do not).
SLOWDOWN_REASONS = {
    "sw_power_cap": pynvml.nvmlClocksEventReasonSwPowerCap,
    "hw_slowdown": pynvml.nvmlClocksEventReasonHwSlowdown,
    "sw_thermal_slowdown": pynvml.nvmlClocksEventReasonSwThermalSlowdown,
    "hw_thermal_slowdown": pynvml.nvmlClocksEventReasonHwThermalSlowdown,
    "hw_power_brake_slowdown": pynvml.nvmlClocksEventReasonHwPowerBrakeSlowdown,
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
    except pynvml.NVMLError:
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
        limit = _optional(pynvml.nvmlDeviceGetEnforcedPowerLimit, self.handle)
        power = _optional(pynvml.nvmlDeviceGetPowerUsage, self.handle)
        events = _optional(pynvml.nvmlDeviceGetCurrentClocksEventReasons, self.handle)
        return {
            "temperature_c": _optional(pynvml.nvmlDeviceGetTemperature, self.handle, pynvml.NVML_TEMPERATURE_GPU),
            "sm_clock_mhz": _optional(pynvml.nvmlDeviceGetClockInfo, self.handle, pynvml.NVML_CLOCK_SM),
            "memory_clock_mhz": _optional(pynvml.nvmlDeviceGetClockInfo, self.handle, pynvml.NVML_CLOCK_MEM),
            "power_w": power / 1000 if power is not None else None,
            "power_limit_w": limit / 1000 if limit is not None else None,
            "persistence_mode": _optional(pynvml.nvmlDeviceGetPersistenceMode, self.handle),
            "slowdowns": None if events is None else sorted(
                name for name, bit in SLOWDOWN_REASONS.items() if events & bit
            ),
        }


def open_gpu(uuid: str | None) -> NvmlGpu | Unavailable:
    """The NVML view of the GPU with this UUID (as torch reports it), or why there is none."""
    if uuid is None:
        return Unavailable("not an NVIDIA GPU run (device is not cuda): NVML measures NVIDIA GPUs only")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        return Unavailable(f"no NVIDIA driver: NVML could not start ({error})")
    nvml_uuid = uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"
    try:
        return NvmlGpu(pynvml.nvmlDeviceGetHandleByUUID(nvml_uuid), nvml_uuid)
    except pynvml.NVMLError as error:
        return Unavailable(f"NVML has no device with UUID {nvml_uuid} ({error})")


def cuda_uuid(device) -> str | None:
    """The UUID torch reports for a cuda device; None for other devices."""
    import torch

    if device.type != "cuda":
        return None
    return str(torch.cuda.get_device_properties(device).uuid)


def foreign_processes(gpu: NvmlGpu) -> list[int] | Unavailable:
    """Compute processes on the GPU other than this one. Inside a container NVML lists host pids,
    so when the list has one process and it is not ours by pid, it is taken to be ours."""
    try:
        running = gpu.processes()
    except pynvml.NVMLError as error:
        return Unavailable(f"NVML cannot list the GPU's processes ({error})")
    pids = [pid for pid, _ in running]
    if os.getpid() in pids:
        return [pid for pid in pids if pid != os.getpid()]
    return pids[1:]
