"""The GPU timing path without a GPU: a fake clock whose method is CUDA events and whose rounds last what each
workload's script says, so the choice of the path, of k, of the end of the warm-up and the CUDA-graph fallback
are checked on exact values, with nothing timed for real. And NVML's snapshots with pynvml's functions replaced."""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import pynvml
import pytest
import torch

from revmux.measure import clock as clock_module
from revmux.measure.clock import CpuClock, CudaClock
from revmux.measure.latency import LatencySettings, measure_latency
from revmux.measure.nvml import CLOCK_EVENT_REASONS, open_gpu


class Workload:
    """A call whose per-call latency follows a script (one entry per timed round), then stays at `steady_s`."""

    def __init__(self, name: str, script: list[float], steady_s: float, first_call_s: float = 0.5):
        self.name, self.script, self.steady_s, self.first_call_s = name, list(script), steady_s, first_call_s
        self.calls = 0

    def __call__(self):
        self.calls += 1

    def next_per_call(self) -> float:
        return self.script.pop(0) if self.script else self.steady_s


class Replay:
    def __init__(self, workload: Workload):
        self.workload, self.name = workload, f"replay of {workload.name}"

    def __call__(self):
        self.workload()

    def next_per_call(self) -> float:
        return self.workload.next_per_call()

    @property
    def first_call_s(self) -> float:
        return self.workload.first_call_s


class FakeCudaClock:
    """Times as CudaClock does (method cuda_events), from the workloads' scripts; logs what it was asked."""

    method = "cuda_events"

    def __init__(self, capture_fails: tuple[str, ...] = ()):
        self.capture_fails = capture_fails
        self.log: list[tuple] = []

    def sync(self) -> None:
        pass

    def time(self, fn) -> float:
        fn()
        self.log.append(("first", fn.name))
        return fn.first_call_s

    def time_calls(self, fn, calls: int) -> float:
        for _ in range(calls):
            fn()
        self.log.append(("round", fn.name, calls))
        return calls * fn.next_per_call()

    def capture_graph(self, fn):
        self.log.append(("capture", fn.name))
        if fn.name in self.capture_fails:
            raise RuntimeError("CUDA error: operation not permitted when stream is capturing\nmore detail")
        return Replay(fn)

    def telemetry(self) -> dict:
        self.log.append(("telemetry",))
        return {"sm_clock_mhz": 1980, "snapshot": sum(entry[0] == "telemetry" for entry in self.log)}


def rounds_of(log: list[tuple]) -> list[tuple]:
    return [entry for entry in log if entry[0] == "round"]


def test_a_cuda_events_clock_times_rounds_of_k_calls_with_k_from_the_warmup():
    # "a" is cold for three rounds, then 0.7 ms a call; "b" is 1.6 ms a call throughout.
    a, b = Workload("a", [0.004, 0.002, 0.0011], 0.0007), Workload("b", [], 0.0016)
    clock = FakeCudaClock()
    settings = LatencySettings(warmup_runs=2, min_iterations=5, min_duration_s=0.0)
    latency = measure_latency({"a": a, "b": b}, 8, clock, settings)

    # k grows 1 -> 38 (b's 1.6 ms) -> 55 (a at 1.1 ms) -> 86 (a at 0.7 ms: 86 x 0.7 ms >= 50 ms x 1.2), then six
    # rounds at k = 86 with nothing moving: steady after 10 warm-up rounds.
    warmup = rounds_of(clock.log)[:20]
    assert [entry[2] for entry in warmup[::2]] == [1, 38, 38, 55, 86, 86, 86, 86, 86, 86]
    for stats in latency.values():
        assert stats["method"] == "cuda_events" and stats["timing"] == "repeated_calls"
        assert stats["calls_per_round"] == 86  # the same k for both, so their rounds are comparable
        assert stats["warmup"]["rounds"] == 10 and stats["warmup"]["steady"] is True
        assert stats["warmup"]["last_change"] == 0.0
        assert stats["count"] == 5 and stats["timing_problems"] == []
        assert stats["cuda_graphs"] == {"requested": False, "used": False, "fallback_reason": None}
        assert stats["first_call_s"] == 0.5
    # Values are per call (round time / k), and every timed round lasted at least 50 ms.
    assert latency["a"]["values"] == pytest.approx([0.0007] * 5)
    assert latency["b"]["values"] == pytest.approx([0.0016] * 5)
    assert latency["a"]["shortest_round_s"] == pytest.approx(86 * 0.0007)
    assert latency["b"]["shortest_round_s"] == pytest.approx(86 * 0.0016)
    assert latency["a"]["samples_per_s"] == pytest.approx(8 / 0.0007)
    # Timed rounds alternate in an order that reverses every round, all at k = 86.
    timed = rounds_of(clock.log)[20:]
    assert [entry[1] for entry in timed] == ["a", "b", "b", "a", "a", "b", "b", "a", "a", "b"]
    assert {entry[2] for entry in timed} == {86}
    # First calls, then the plain warm-up calls, then the rounds: 1 + 2 + the calls of every round.
    assert a.calls == 1 + 2 + sum(entry[2] for entry in rounds_of(clock.log) if entry[1] == "a")


def test_nvml_is_read_just_before_and_just_after_the_timed_window():
    clock = FakeCudaClock()
    settings = LatencySettings(warmup_runs=0, min_iterations=3, min_duration_s=0.0)
    latency = measure_latency({"a": Workload("a", [], 0.1), "b": Workload("b", [], 0.1)}, 1, clock, settings)
    kinds = [entry[0] for entry in clock.log]
    # ... warm-up rounds, a snapshot, three timed rounds of two workloads, a snapshot, and nothing else.
    assert kinds[-9:] == ["round"] + ["telemetry"] + ["round"] * 6 + ["telemetry"]
    assert kinds.count("telemetry") == 2
    window = latency["a"]["nvml_window"]
    assert window["before"]["snapshot"] == 1 and window["after"]["snapshot"] == 2


def test_a_warmup_that_never_settles_stops_at_its_cap_and_says_so():
    # 200 ms a call (k stays 1), 5% faster every round: never within the 2% tolerance.
    drifting = [0.2 * 0.95 ** i for i in range(40)]
    clock = FakeCudaClock()
    settings = LatencySettings(warmup_runs=0, min_iterations=3, min_duration_s=0.0, max_warmup_rounds=12,
                               warmup_window=3, warmup_tolerance=0.02)
    latency = measure_latency({"a": Workload("a", drifting, 0.1)}, 1, clock, settings)
    stats = latency["a"]
    assert stats["calls_per_round"] == 1
    assert stats["warmup"] == {"rounds": 12, "steady": False, "last_change": pytest.approx(1 - 0.95 ** 3),
                               "tolerance": 0.02, "window": 3, "max_rounds": 12}
    assert stats["timing_problems"] == ["latency not steady after 12 warm-up rounds (last change 14.3%, tolerance 2%)"]
    assert len(rounds_of(clock.log)) == 12 + 3


def test_a_change_within_the_tolerance_counts_as_steady():
    # 0.5% slower every round: 1.5% between two windows of three rounds, under the default 2% tolerance.
    creeping = [0.1 * 1.005 ** i for i in range(40)]
    settings = LatencySettings(warmup_runs=0, min_iterations=2, min_duration_s=0.0)
    stats = measure_latency({"a": Workload("a", creeping, 0.1)}, 1, FakeCudaClock(), settings)["a"]
    assert stats["warmup"]["rounds"] == 6 and stats["warmup"]["steady"] is True
    assert stats["warmup"]["last_change"] == pytest.approx(1.005 ** 3 - 1)


def test_calls_per_round_stop_at_their_cap_and_the_short_rounds_are_reported():
    settings = LatencySettings(warmup_runs=0, min_iterations=2, min_duration_s=0.0, max_calls_per_round=100)
    stats = measure_latency({"a": Workload("a", [], 0.0001)}, 1, FakeCudaClock(), settings)["a"]
    assert stats["calls_per_round"] == 100
    assert stats["shortest_round_s"] == pytest.approx(0.01)
    assert stats["timing_problems"] == ["shortest timed round 10.0 ms is under 50 ms"]


def test_cuda_graphs_replay_every_workload_when_all_are_captured():
    a, b = Workload("a", [], 0.1), Workload("b", [], 0.1)
    clock = FakeCudaClock()
    settings = LatencySettings(warmup_runs=1, min_iterations=2, min_duration_s=0.0, cuda_graphs=True)
    latency = measure_latency({"a": a, "b": b}, 1, clock, settings)
    assert latency["a"]["cuda_graphs"] == {"requested": True, "used": True, "fallback_reason": None}
    assert {entry[1] for entry in rounds_of(clock.log)} == {"replay of a", "replay of b"}


def test_a_failed_graph_capture_falls_back_for_every_workload_with_the_reason():
    a, b = Workload("teacher", [], 0.1), Workload("multiplexed", [], 0.1)
    clock = FakeCudaClock(capture_fails=("multiplexed",))
    settings = LatencySettings(warmup_runs=1, min_iterations=2, min_duration_s=0.0, cuda_graphs=True)
    latency = measure_latency({"teacher": a, "multiplexed": b}, 1, clock, settings)
    for stats in latency.values():
        graphs = stats["cuda_graphs"]
        assert graphs["requested"] is True and graphs["used"] is False
        assert graphs["fallback_reason"] == (
            "capture failed, so every workload is timed without graphs: multiplexed: RuntimeError: "
            "CUDA error: operation not permitted when stream is capturing")
    # The teacher was captured, but both are timed eagerly so that they stay comparable.
    assert {entry[1] for entry in rounds_of(clock.log)} == {"teacher", "multiplexed"}


def test_a_cpu_clock_keeps_one_call_per_round_and_records_why_there_is_no_gpu_data():
    calls = []
    settings = LatencySettings(warmup_runs=2, min_iterations=4, min_duration_s=0.0, cuda_graphs=True)
    latency = measure_latency({"x": lambda: calls.append(1)}, 1, CpuClock(), settings)
    stats = latency["x"]
    assert len(calls) == 1 + 2 + 4  # first call, warm-up calls, one call per timed round
    assert stats["method"] == "time.perf_counter" and stats["timing"] == "single_call"
    assert stats["calls_per_round"] == 1 and stats["count"] == 4
    assert "warmup" not in stats and "shortest_round_s" not in stats
    assert stats["cuda_graphs"]["used"] is False
    assert "need a CUDA device" in stats["cuda_graphs"]["fallback_reason"]
    assert "not an NVIDIA GPU run" in stats["nvml_window"]["before"]["unavailable"]["gpu"]


def test_a_clock_of_another_method_is_not_timed_in_rounds():
    class OtherClock(FakeCudaClock):
        method = "time.perf_counter"

        def time(self, fn) -> float:
            fn()
            self.log.append(("single", fn.name))
            return 0.01

    clock = OtherClock()
    settings = LatencySettings(warmup_runs=0, min_iterations=3, min_duration_s=0.0)
    stats = measure_latency({"a": Workload("a", [], 0.0001)}, 1, clock, settings)["a"]
    assert stats["timing"] == "single_call" and stats["calls_per_round"] == 1
    assert rounds_of(clock.log) == [] and [entry[0] for entry in clock.log].count("single") == 1 + 3


def test_bad_gpu_timing_settings_are_refused():
    with pytest.raises(ValueError, match="min_round_s > 0"):
        LatencySettings(min_round_s=0)
    with pytest.raises(ValueError, match="max_warmup_rounds >= 2 x warmup_window"):
        LatencySettings(warmup_window=5, max_warmup_rounds=8)
    with pytest.raises(ValueError, match="0 < warmup_tolerance < 1"):
        LatencySettings(warmup_tolerance=0)


# --- NVML snapshots --------------------------------------------------------------------------------


def install_fake_gpu(monkeypatch, events: int, processes, unsupported=()):
    handle = object()
    calls = {
        "nvmlInit": lambda: None,
        "nvmlDeviceGetHandleByUUID": lambda uuid: handle,
        "nvmlDeviceGetTemperature": lambda h, sensor: 61,
        "nvmlDeviceGetClockInfo": lambda h, kind: {pynvml.NVML_CLOCK_SM: 1755, pynvml.NVML_CLOCK_MEM: 2619}[kind],
        "nvmlDeviceGetMaxClockInfo": lambda h, kind: {pynvml.NVML_CLOCK_SM: 1980, pynvml.NVML_CLOCK_MEM: 2619}[kind],
        "nvmlDeviceGetPowerUsage": lambda h: 512_250,
        "nvmlDeviceGetEnforcedPowerLimit": lambda h: 600_000,
        "nvmlDeviceGetPowerManagementDefaultLimit": lambda h: 700_000,
        "nvmlDeviceGetPerformanceState": lambda h: 0,
        "nvmlDeviceGetUtilizationRates": lambda h: SimpleNamespace(gpu=97, memory=41),
        "nvmlDeviceGetPersistenceMode": lambda h: 1,
        "nvmlDeviceGetCurrentClocksEventReasons": lambda h: events,
        "nvmlDeviceGetComputeRunningProcesses": lambda h: [
            SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in processes],
    }

    def not_supported(*args):
        raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    for name, fn in calls.items():
        assert hasattr(pynvml, name), name  # the real module's API, not an invented one
        monkeypatch.setattr(pynvml, name, not_supported if name in unsupported else fn)


def test_a_telemetry_snapshot_has_clocks_power_cap_throttle_reasons_and_other_processes(monkeypatch):
    events = pynvml.nvmlClocksEventReasonSwPowerCap | pynvml.nvmlClocksEventReasonSyncBoost
    install_fake_gpu(monkeypatch, events, [(os.getpid(), 9_000_000_000), (4242, 1_000_000)])
    snapshot = open_gpu("abc").telemetry()
    assert snapshot["sm_clock_mhz"] == 1755 and snapshot["max_sm_clock_mhz"] == 1980
    assert snapshot["memory_clock_mhz"] == 2619 and snapshot["max_memory_clock_mhz"] == 2619
    assert snapshot["power_w"] == 512.25 and snapshot["power_limit_w"] == 600 and snapshot["default_power_limit_w"] == 700
    assert snapshot["temperature_c"] == 61 and snapshot["performance_state"] == 0
    assert snapshot["utilization_gpu_percent"] == 97 and snapshot["utilization_memory_percent"] == 41
    assert snapshot["clock_event_reasons"] == ["sw_power_cap", "sync_boost"]
    assert snapshot["slowdowns"] == ["sw_power_cap"]
    assert snapshot["processes"] == [{"pid": os.getpid(), "used_bytes": 9_000_000_000}, {"pid": 4242, "used_bytes": 1_000_000}]
    assert snapshot["foreign_pids"] == [4242]
    assert snapshot["unavailable"] == {}


def test_readings_a_gpu_does_not_support_are_null_with_the_reason(monkeypatch):
    install_fake_gpu(monkeypatch, 0, [], unsupported=("nvmlDeviceGetPowerUsage", "nvmlDeviceGetComputeRunningProcesses"))
    snapshot = open_gpu("abc").telemetry()
    assert snapshot["power_w"] is None and snapshot["processes"] is None and snapshot["foreign_pids"] is None
    assert set(snapshot["unavailable"]) == {"power_w", "processes"}
    assert "Not Supported" in snapshot["unavailable"]["power_w"]
    assert snapshot["power_limit_w"] == 600 and snapshot["clock_event_reasons"] == []


def test_the_clock_event_bits_are_nvmls():
    assert CLOCK_EVENT_REASONS["gpu_idle"] == pynvml.nvmlClocksEventReasonGpuIdle
    assert CLOCK_EVENT_REASONS["sw_power_cap"] == pynvml.nvmlClocksEventReasonSwPowerCap
    assert CLOCK_EVENT_REASONS["hw_power_brake_slowdown"] == pynvml.nvmlClocksEventReasonHwPowerBrakeSlowdown
    assert CLOCK_EVENT_REASONS["display_clock_setting"] == pynvml.nvmlClocksEventReasonDisplayClockSetting


def test_a_cuda_clock_without_a_driver_records_why_it_has_no_snapshot(monkeypatch):
    def missing():
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", missing)
    monkeypatch.setattr(clock_module, "cuda_uuid", lambda device: "0d9f7a4e")
    snapshot = CudaClock(torch.device("cuda")).telemetry()
    assert snapshot["unavailable"]["gpu"].startswith("no NVIDIA driver")


def test_without_the_pynvml_package_the_gpu_is_unavailable_with_the_reason():
    script = ("import sys; sys.modules['pynvml'] = None\n"
              "from revmux.measure.nvml import open_gpu\n"
              "from revmux.measure.energy import measure_energy\n"
              "gpu = open_gpu('abc')\n"
              "print(gpu.reason)\n"
              "print(measure_energy(lambda: None, 1, gpu, lambda: None)['unavailable']['gpu'])\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("the nvidia-ml-py package (pynvml) is not installed") and lines[1] == lines[0]


def test_a_gpu_timing_problem_makes_the_profile_invalid():
    from revmux.measure.validity import assess

    settings = LatencySettings(warmup_runs=0, min_iterations=2, min_duration_s=0.0, max_calls_per_round=100)
    latency = measure_latency({"a": Workload("a", [], 0.0001)}, 1, FakeCudaClock(), settings)
    verdict = assess(latency, {}, None, [])
    assert verdict["valid"] is False
    assert verdict["reasons"] == ["a: shortest timed round 10.0 ms is under 50 ms"]


def test_revmux_speed_passes_cuda_graphs_to_the_timing():
    from revmux.cli.main import build_parser

    args = build_parser().parse_args(["speed", "--backbone", "minilm-l6", "--method", "revmux", "--n", "2", "--out", "p.json", "--cuda-graphs"])
    assert args.cuda_graphs is True
    assert build_parser().parse_args(["speed", "--backbone", "minilm-l6", "--method", "revmux", "--n", "2", "--out", "p.json"]).cuda_graphs is False
