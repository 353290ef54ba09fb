"""When a speed profile is valid: a busy core beside a 1-thread timing, the drift check's rounds, and the CPU
kernels every profile records."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch
import yaml

from revmux.backbones import resolve_backbone
from revmux.core.layout import PROJECT_ROOT
from revmux.measure import contention, system
from revmux.multiplexing.config import SpeedSettings
from revmux.multiplexing.speed import profile

QUICK = dict(warmup_runs=1, min_iterations=3, min_duration_s=0.0, memory_runs=1, energy_window_s=0.01)
BUSY_LOOP = "import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass"


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def no_memory_processes(monkeypatch):
    """The fresh memory processes take seconds and play no part in whether the timing was quiet."""
    import revmux.multiplexing.speed

    monkeypatch.setattr(revmux.multiplexing.speed, "path_peaks", lambda *args, **kwargs: None)


def test_a_busy_core_makes_a_one_thread_timing_invalid_however_many_cores_are_spare():
    for cpus in (2, 4, 64):
        record, reasons = contention.assess_contention(1.0, threads=1, cpus=cpus, latency_drift=0.0)
        assert reasons and "other processes kept 1.00 CPU cores busy" in reasons[0], cpus
        assert record["allowed_foreign_cpu_cores"] == contention.FOREIGN_CPU_TOLERANCE
    # Shells and daemons within the tolerance are allowed.
    assert contention.assess_contention(0.2, threads=1, cpus=2, latency_drift=0.0)[1] == []


def test_a_one_thread_profile_beside_a_busy_core_is_invalid(monkeypatch, one_thread, no_memory_processes):
    import revmux.multiplexing.speed

    monkeypatch.setattr(revmux.multiplexing.speed, "foreign_cores", lambda before, after: 1.0)
    settings = SpeedSettings("t5-tiny-random", "revmux", 2, 1, batch_size=4, length=8, **QUICK)
    result = profile(settings, resolve_backbone("t5-tiny-random"))
    assert result["contention"]["threads"] == 1
    assert result["validity"]["valid"] is False
    assert any("machine not quiet" in reason for reason in result["validity"]["reasons"])


def test_a_real_busy_loop_beside_a_one_thread_profile_makes_it_invalid(one_thread, no_memory_processes):
    settings = SpeedSettings("t5-tiny-random", "revmux", 2, 1, batch_size=4, length=8,
                             **{**QUICK, "min_duration_s": 1.5})
    spinner = subprocess.Popen([sys.executable, "-c", BUSY_LOOP.format(seconds=60)])
    try:
        time.sleep(0.3)  # the interpreter is up and spinning
        result = profile(settings, resolve_backbone("t5-tiny-random"))
    finally:
        spinner.kill()
        spinner.wait()
    assert result["contention"]["foreign_cpu_cores"] > 0.5, result["contention"]
    assert result["validity"]["valid"] is False
    assert any("machine not quiet" in reason for reason in result["validity"]["reasons"])


def test_the_drift_check_needs_five_rounds_per_quarter():
    slowed = [1.0] * 8 + [2.0] * 8  # 16 rounds: quarters of 4
    assert contention.drift(slowed) is None
    assert contention.drift([1.0] * 10 + [2.0] * 10) == pytest.approx(1.0)  # quarters of 5
    assert contention.MIN_ROUNDS_FOR_DRIFT >= 20


def test_a_skipped_drift_check_is_recorded_with_the_reason():
    record, reasons = contention.assess_contention(0.0, 2, 2, contention.drift([1.0] * 10), rounds=10)
    assert reasons == []
    assert record["teacher_drift"] is None
    assert "only 10 timed rounds" in record["drift_skipped"] and "20" in record["drift_skipped"]
    record, _ = contention.assess_contention(0.0, 2, 2, contention.drift([1.0] * 20), rounds=20)
    assert record["teacher_drift"] == 0.0 and record["drift_skipped"] is None


@pytest.mark.parametrize("name", ["config.yaml", "alternatives.yaml"])
def test_the_default_runs_time_enough_rounds_for_the_drift_check(name):
    config = yaml.safe_load((PROJECT_ROOT / "config" / name).read_text())
    assert config["speed"]["min_iterations"] >= contention.MIN_ROUNDS_FOR_DRIFT >= 4 * 5


def test_the_environment_records_the_cpu_kernels_and_instruction_sets():
    host = system.host_info()
    assert host["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    kernels = host["cpu_kernels"]
    assert kernels["quantized_engine"] == torch.backends.quantized.engine
    assert kernels["onednn"]["available"] == torch.backends.mkldnn.is_available()
    assert kernels["mkl"]["available"] == torch.backends.mkl.is_available()
    try:
        with open("/proc/cpuinfo") as handle:
            flags = set(next(line for line in handle if line.startswith("flags")).partition(":")[2].split())
    except (OSError, StopIteration):
        pytest.skip("no x86 /proc/cpuinfo flags here")
    assert host["cpu_flags"] == [flag for flag in system.KERNEL_FLAGS if flag in flags]
    assert {"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16"} <= set(system.KERNEL_FLAGS)


def test_cpu_flags_without_proc_cpuinfo_are_null_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(system, "CPUINFO", str(tmp_path / "missing"))
    host = system.host_info()
    assert host["cpu_flags"] is None
    assert "/proc/cpuinfo" in host["unavailable"]["cpu_flags"]
    assert host["int8_instructions"] == []
    assert host["cpu_kernels"]["quantized_engine"]  # read from torch, not from the file
