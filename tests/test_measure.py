"""The trackers on small real workloads, and the NVML code paths through the real `pynvml` module
with its functions replaced (no GPU is needed)."""

from __future__ import annotations

import itertools
import os
from types import SimpleNamespace

import pynvml
import pytest
import torch

from revmux.measure.clock import CpuClock
from revmux.measure.energy import measure_energy
from revmux.measure.flops import count_flops
from revmux.measure.latency import LatencySettings, measure_latency
from revmux.measure.memory import measure_memory
from revmux.measure.nvml import NvmlGpu, Unavailable, foreign_processes, open_gpu
from revmux.measure.stats import summarize_latency
from revmux.measure.validity import assess

CPU = torch.device("cpu")


def small_workload(size: int):
    left, right = torch.randn(size, size), torch.randn(size, size)
    return lambda: left @ right


def test_latency_of_two_workloads_timed_side_by_side():
    settings = LatencySettings(warmup_runs=2, min_iterations=6, min_duration_s=0.05)
    results = measure_latency({"small": small_workload(32), "large": small_workload(256)}, 8, CpuClock(), settings)
    for stats in results.values():
        assert stats["count"] == len(stats["values"]) >= 6
        assert all(value > 0 for value in stats["values"])
        assert stats["first_call_s"] > 0
        assert stats["p50"] <= stats["p90"] <= stats["p95"] <= stats["p99"] <= max(stats["values"])
        assert stats["samples_per_s"] == pytest.approx(8 / stats["mean"])
        assert stats["window_s"] >= 0.05
    # Rounds alternate, so both workloads have one value per round.
    assert results["small"]["count"] == results["large"]["count"]
    # 512x more multiply-adds: the larger product is slower at the median.
    assert results["large"]["p50"] > results["small"]["p50"]


def test_latency_summary_by_hand():
    stats = summarize_latency([1.0, 2.0, 3.0, 4.0], samples_per_call=10)
    assert stats["mean"] == 2.5 and stats["p50"] == 2.5 and stats["total"] == 10.0
    assert stats["stdev"] == pytest.approx(1.2909944)
    assert stats["cv"] == pytest.approx(1.2909944 / 2.5)
    assert stats["samples_per_s"] == 4.0


def test_bad_latency_settings_are_refused():
    with pytest.raises(ValueError, match="min_iterations >= 2"):
        LatencySettings(min_iterations=1)


def test_cpu_memory_is_measured_and_gpu_fields_are_null_with_a_reason():
    gpu = open_gpu(None)
    assert isinstance(gpu, Unavailable) and "NVIDIA" in gpu.reason
    memory = measure_memory(lambda: torch.ones(4_000_000).sum(), 3, CPU, gpu, lambda: None)
    assert memory["host_rss_peak"] >= memory["host_rss_before"] > 0
    assert memory["host_process_peak_rss"] >= memory["host_rss_peak"] * 0.9
    assert memory["samples"] >= 2
    for field in ("torch_max_allocated", "torch_max_reserved", "nvml_used_peak", "nvml_process_peak"):
        assert memory[field] is None
        assert memory["unavailable"][field]
    energy = measure_energy(lambda: None, 1, gpu, lambda: None)
    assert energy["gpu"] is None and energy["per_sample"] is None and energy["unavailable"]["gpu"] == gpu.reason


def test_flop_count_of_one_encoder_layer_matches_the_hand_count(resources):
    from revmux.backbones.load import load_backbone
    from revmux.backbones.stages import stage_backbone

    backbone = stage_backbone(load_backbone("minilm-l6", resources))
    length, width, ffn = 64, backbone.hidden_size, backbone.model.config.intermediate_size
    hidden, mask = torch.randn(1, length, width), torch.ones(1, length, dtype=torch.long)
    with torch.inference_mode():
        counted = count_flops(lambda: backbone.run_layers(hidden, mask, 0, 1))
    projections = 4 * 2 * length * width * width  # Q, K, V, output
    feed_forward = 2 * 2 * length * width * ffn  # up and down
    attention = 2 * 2 * length * length * width  # scores and weighted values
    assert counted == projections + feed_forward + attention


# --- NVML with the real pynvml module, its functions replaced -------------------------------------


class FakeDevice:
    """A GPU as NVML would report it: an energy counter that advances with time (watts), memory, processes."""

    def __init__(self, watts: float = 100.0, used: int = 2_000_000_000, processes=None, events: int = 0):
        self.watts = watts
        self.used = used
        self.processes = processes if processes is not None else [(os.getpid(), 1_500_000_000)]
        self.events = events
        self.clock = itertools.count()

    def install(self, monkeypatch):
        import time

        started = time.perf_counter()
        handle = object()
        calls = {
            "nvmlInit": lambda: None,
            "nvmlDeviceGetHandleByUUID": lambda uuid: handle,
            "nvmlDeviceGetName": lambda h: "NVIDIA Fake 80GB",
            "nvmlSystemGetDriverVersion": lambda: "999.1",
            "nvmlSystemGetCudaDriverVersion": lambda: 12080,
            "nvmlSystemGetNVMLVersion": lambda: "12.999",
            "nvmlDeviceGetPciInfo": lambda h: SimpleNamespace(busId=b"00000000:65:00.0"),
            "nvmlDeviceGetMigMode": lambda h: (0, 0),
            "nvmlDeviceGetMemoryInfo": lambda h, version=None: SimpleNamespace(
                total=80_000_000_000, reserved=500_000_000, used=self.used, free=0),
            "nvmlDeviceGetComputeRunningProcesses": lambda h: [
                SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in self.processes],
            "nvmlDeviceGetTotalEnergyConsumption": lambda h: int((time.perf_counter() - started) * self.watts * 1000),
            "nvmlDeviceGetTemperature": lambda h, sensor: 45,
            "nvmlDeviceGetClockInfo": lambda h, kind: 1980,
            "nvmlDeviceGetPowerUsage": lambda h: int(self.watts * 1000),
            "nvmlDeviceGetEnforcedPowerLimit": lambda h: 700_000,
            "nvmlDeviceGetPersistenceMode": lambda h: 1,
            "nvmlDeviceGetCurrentClocksEventReasons": lambda h: self.events,
        }
        for name, fn in calls.items():
            assert hasattr(pynvml, name), name  # the real module's API, not an invented one
            monkeypatch.setattr(pynvml, name, fn)
        return handle


def test_gpu_absent_path_when_the_driver_is_missing(monkeypatch):
    def missing():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", missing)
    gpu = open_gpu("0d9f7a4e-0000-0000-0000-000000000000")
    assert isinstance(gpu, Unavailable)
    assert gpu.reason.startswith("no NVIDIA driver")


def test_gpu_unknown_uuid_is_unavailable_with_the_uuid(monkeypatch):
    FakeDevice().install(monkeypatch)

    def no_such_device(uuid):
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByUUID", no_such_device)
    gpu = open_gpu("abc")
    assert isinstance(gpu, Unavailable) and "GPU-abc" in gpu.reason


def test_gpu_present_identity_memory_and_telemetry(monkeypatch):
    device = FakeDevice()
    device.install(monkeypatch)
    gpu = open_gpu("abc")
    assert isinstance(gpu, NvmlGpu) and gpu.uuid == "GPU-abc"
    identity = gpu.identity()
    assert identity["name"] == "NVIDIA Fake 80GB" and identity["pci_bus_id"] == "00000000:65:00.0"
    assert identity["cuda_driver"] == "12.8" and identity["mig_enabled"] is False
    telemetry = gpu.telemetry()
    assert telemetry["power_limit_w"] == 700 and telemetry["slowdowns"] == []

    memory = measure_memory(lambda: None, 2, CPU, gpu, lambda: None)
    assert memory["nvml_used_peak"] == 2_000_000_000 and memory["nvml_reserved"] == 500_000_000
    assert memory["nvml_process_peak"] == 1_500_000_000 and memory["nvml_struct"] == "v2"
    assert "nvml_process_peak" not in memory["unavailable"]


def test_gpu_process_memory_hidden_by_a_pid_namespace_is_null_with_a_reason(monkeypatch):
    FakeDevice(processes=[(4_000_000, 1_000)]).install(monkeypatch)
    memory = measure_memory(lambda: None, 1, CPU, open_gpu("abc"), lambda: None)
    assert memory["nvml_process_peak"] is None
    assert "pid namespace" in memory["unavailable"]["nvml_process_peak"]


def test_gpu_energy_is_the_counter_difference_minus_the_idle_baseline(monkeypatch):
    device = FakeDevice(watts=200.0)
    device.install(monkeypatch)
    energy = measure_energy(small_workload(64), 4, open_gpu("abc"), lambda: None, min_window_s=0.2)
    assert energy["window_s"] >= 0.2 and energy["calls"] >= 1
    assert energy["gpu"] == pytest.approx(200.0 * energy["window_s"], rel=0.05)
    # The fake draws the same power at idle, so nothing is left after the baseline.
    assert abs(energy["gpu_net"]) < 0.1 * energy["gpu"]
    assert energy["per_sample"] == pytest.approx(energy["gpu"] / (4 * energy["calls"]))
    assert energy["problems"] == []


def test_gpu_without_an_energy_counter_gives_null_with_the_reason(monkeypatch):
    FakeDevice().install(monkeypatch)

    def not_supported(handle):
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    monkeypatch.setattr(pynvml, "nvmlDeviceGetTotalEnergyConsumption", not_supported)
    energy = measure_energy(lambda: None, 1, open_gpu("abc"), lambda: None, min_window_s=0.01)
    assert energy["gpu"] is None and "no energy counter" in energy["unavailable"]["gpu"]


def test_a_stalled_energy_counter_makes_the_measurement_invalid(monkeypatch):
    FakeDevice(watts=0.0).install(monkeypatch)
    energy = measure_energy(lambda: None, 1, open_gpu("abc"), lambda: None, min_window_s=0.05)
    latency = {"x": summarize_latency([1.0, 1.0], 1) | {"window_s": 1.0, "min_duration_s": 0.5}}
    verdict = assess(latency, {"x": energy}, [], [])
    assert not verdict["valid"] and "did not advance" in verdict["reasons"][0]


def test_other_processes_and_throttled_clocks_make_the_measurement_invalid(monkeypatch):
    FakeDevice(processes=[(os.getpid(), 10), (123456, 10)],
               events=pynvml.nvmlClocksEventReasonHwThermalSlowdown | pynvml.nvmlClocksEventReasonGpuIdle,
               ).install(monkeypatch)
    gpu = open_gpu("abc")
    foreign = foreign_processes(gpu)
    assert foreign == [123456]
    telemetry = [gpu.telemetry()]
    assert telemetry[0]["slowdowns"] == ["hw_thermal_slowdown"]  # idle is not a slowdown
    steady = {"x": summarize_latency([1.0, 1.01, 0.99], 1) | {"window_s": 1.0, "min_duration_s": 0.5}}
    verdict = assess(steady, {}, foreign, telemetry)
    assert not verdict["valid"]
    assert any("pids 123456" in reason for reason in verdict["reasons"])
    assert any("hw_thermal_slowdown" in reason for reason in verdict["reasons"])


def test_noisy_timings_make_the_measurement_invalid():
    noisy = {"x": summarize_latency([1.0, 2.0, 1.0, 2.0], 1) | {"window_s": 1.0, "min_duration_s": 0.5}}
    steady = {"x": summarize_latency([1.0, 1.01, 0.99], 1) | {"window_s": 1.0, "min_duration_s": 0.5}}
    assert assess(steady, {}, None, [])["valid"]
    verdict = assess(noisy, {}, None, [])
    assert not verdict["valid"] and "coefficient of variation" in verdict["reasons"][0]


MIB = 1024 * 1024


def _touch(megabytes: int) -> bytearray:
    # bytearray(n) may map zero pages lazily; writing every page makes the RSS real.
    buffer = bytearray(megabytes * MIB)
    buffer[::4096] = b"\x01" * len(buffer[::4096])
    return buffer


def _holds_a_model_then_allocates_per_call():
    """A stand-in for a loaded model (kept, 150 MiB) and a call that needs 60 MiB while it runs."""
    model = _touch(150)
    return lambda: len(model) + len(_touch(60))


def _dies_while_building():
    os._exit(7)  # as the kernel's OOM killer would: no exception, no message


def test_a_fresh_process_peak_counts_the_call_and_not_what_was_loaded():
    from revmux.measure.memory import peak_in_fresh_process

    # A polling interval far longer than the call: polling alone would see only the RSS before and after it
    # (a loaded CI machine starves a 10 ms poller the same way), so the call's peak must come from the kernel.
    measured = peak_in_fresh_process(_holds_a_model_then_allocates_per_call, runs=2, threads=1, interval_s=30.0)
    # The 150 MiB loaded before the baseline stays out; the call's 60 MiB is in (with the interpreter's slack).
    assert 50 * MIB < measured["peak_bytes"] < 120 * MIB, measured
    assert measured["baseline_bytes"] > 150 * MIB
    assert "high-water mark" in measured["source"]


def test_a_fresh_process_that_dies_gives_null_with_the_exit_code_without_waiting():
    from revmux.measure.memory import peak_in_fresh_process

    measured = peak_in_fresh_process(_dies_while_building, runs=1, threads=1)
    assert measured["peak_bytes"] is None
    assert "exit code 7" in measured["reason"]


def test_gpu_peak_of_a_path_is_over_what_was_allocated_before_it(monkeypatch):
    from revmux.multiplexing.speed import path_peaks

    events, allocated = [], {"now": 1000, "max": 1000}

    def run():
        events.append("run")
        allocated["max"] = max(allocated["max"], 5000)

    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: allocated["now"])
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: events.append("reset"))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: allocated["max"])
    monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda device=None: 8192)
    cuda = torch.device("cuda")
    memory = {"teacher": measure_memory(run, 2, cuda, Unavailable("no NVML here"), lambda: None)}
    path_peaks(memory, None, None, None, cuda)
    assert events[0] == "reset"  # the previous path's peak is forgotten before this one runs
    assert memory["teacher"]["peak_bytes"] == 4000
    assert "torch max allocated" in memory["teacher"]["peak_source"]
