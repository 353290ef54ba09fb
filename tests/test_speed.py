"""`revmux speed`: the ceiling against a hand count, real profiles of small backbones, contention, and their schema."""

from __future__ import annotations

import copy

import pytest

from revmux.backbones import resolve_backbone
from revmux.cli.main import main
from revmux.core.errors import RevmuxError
from revmux.backbones.load import load_backbone
from revmux.backbones.stages import stage_backbone
from revmux.multiplexing.heads import LinearHead
from revmux.measure import contention
from revmux.multiplexing.config import SpeedSettings
from revmux.multiplexing.speed import ceiling_from_parts, ceiling_parts, layer_ceiling, profile, random_batch
from revmux.core.schemas import check_result, load_result

QUICK = dict(warmup_runs=1, min_iterations=3, min_duration_s=0.0, memory_runs=1, energy_window_s=0.01)


def test_layer_ceiling():
    assert layer_ceiling(6, 3, 2) == pytest.approx(4 / 3)
    assert layer_ceiling(6, 3, 4) == pytest.approx(1.6)
    assert layer_ceiling(12, 0, 8) == pytest.approx(8.0)  # mux at the embeddings: N times fewer sequences


def _t5_hand_count(d, ff, inner, encoder_layers, decoder_layers, p, length, classes=2):
    """FLOPs per sample (2 x multiply-adds) of t5 split at encoder layer p, written out from the architecture."""
    encoder_layer = 4 * 2 * length * d * inner + 2 * 2 * length * d * ff + 2 * 2 * length * length * inner
    decoder_step = (4 * 2 * d * inner + 2 * 2 * 1 * inner          # self-attention on the one decoder token
                    + 2 * 2 * d * inner                            # cross-attention query and output
                    + 2 * 2 * length * d * inner                   # cross-attention keys and values over every encoder token
                    + 2 * 2 * length * inner                       # one query against `length` keys
                    + 2 * 2 * d * ff)                              # feed-forward on one token
    per_instance = p * encoder_layer + 2 * d * classes
    per_composite = (encoder_layers - p) * encoder_layer + decoder_layers * decoder_step
    return per_instance, per_composite


@pytest.mark.slow
def test_t5_ceiling_counts_the_decoder_as_a_hand_count_does():
    backbone = stage_backbone(load_backbone("t5-small-random"))
    batch = random_batch(backbone, 1, 128, seed=0)
    parts = ceiling_parts(backbone, LinearHead(512, 2), batch, prefill_layers=3)
    a, b = _t5_hand_count(d=512, ff=2048, inner=8 * 64, encoder_layers=6, decoder_layers=6, p=3, length=128)
    assert parts["per_instance_flops"] == pytest.approx(a, rel=0.02)
    assert parts["per_composite_flops"] == pytest.approx(b, rel=0.02)
    for n in (2, 4):
        by_hand = (a + b) / (a + b / n)
        assert ceiling_from_parts(parts["per_instance_flops"], parts["per_composite_flops"], n) == pytest.approx(by_hand, rel=0.02)
        # Counting layers alone understates the ceiling by more than the tolerance (the decoder is left out).
        assert abs(layer_ceiling(6, 3, n) - by_hand) / by_hand > 0.04


def test_encoder_ceiling_is_close_to_the_layer_count(resources):
    backbone = stage_backbone(load_backbone("minilm-l6", resources))
    parts = ceiling_parts(backbone, LinearHead(384, 2), random_batch(backbone, 2, 32, seed=0), prefill_layers=3)
    ceiling = ceiling_from_parts(parts["per_instance_flops"], parts["per_composite_flops"], 4)
    assert ceiling == pytest.approx(layer_ceiling(6, 3, 4), rel=0.01)


def test_foreign_cpu_is_measured_from_machine_and_own_cpu_time():
    before = contention.CpuReading(wall=0.0, machine_busy=100.0, own=10.0)
    after = contention.CpuReading(wall=2.0, machine_busy=104.0, own=12.0)
    assert contention.foreign_cores(before, after) == pytest.approx(1.0)  # 4 s busy, 2 s ours, over 2 s
    record, reasons = contention.assess_contention(1.0, threads=2, cpus=2, latency_drift=0.0)
    assert reasons and "other processes kept 1.00 CPU cores busy" in reasons[0]
    # Spare cores are not spare for memory bandwidth, caches and boost clocks: only the tolerance is allowed.
    assert contention.assess_contention(1.0, threads=2, cpus=4, latency_drift=0.0)[1]
    assert contention.assess_contention(0.2, threads=2, cpus=4, latency_drift=0.0)[1] == []
    assert record["foreign_cpu_cores"] == 1.0


def test_a_busy_process_beside_us_is_seen_as_foreign_cpu():
    import subprocess
    import sys
    import time

    spinner = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 3\nwhile time.time() < end: pass"])
    try:
        time.sleep(0.3)
        before = contention.read_cpu()
        time.sleep(1.5)
        after = contention.read_cpu()
    finally:
        spinner.kill()
        spinner.wait()
    assert contention.foreign_cores(before, after) > 0.5


def test_drift_compares_the_first_and_last_quarter_of_the_rounds():
    steady = [1.0, 1.02, 0.98, 1.0] * 5
    slowed = [1.0] * 10 + [2.8] * 10  # a load that started halfway, hitting every workload alike
    assert abs(contention.drift(steady)) < 0.05
    assert contention.drift(slowed) == pytest.approx(1.8)
    assert contention.drift([1.0, 2.0, 3.0]) is None
    assert "moved +180.0%" in contention.assess_contention(0.0, 2, 2, contention.drift(slowed))[1][0]


def test_a_contended_profile_is_invalid_with_the_reason(monkeypatch):
    import revmux.multiplexing.speed

    monkeypatch.setattr(revmux.multiplexing.speed, "foreign_cores", lambda before, after: 1.7)
    settings = SpeedSettings("t5-tiny-random", "revmux", 2, 1, batch_size=4, length=8, **QUICK)
    result = profile(settings, resolve_backbone("t5-tiny-random"))
    assert result["validity"]["valid"] is False
    assert any("machine not quiet" in reason for reason in result["validity"]["reasons"])
    assert result["contention"]["foreign_cpu_cores"] == 1.7


def test_first_call_is_timed_before_flops_are_counted(monkeypatch):
    import revmux.multiplexing.speed

    calls = []
    real_latency, real_count = revmux.multiplexing.speed.measure_latency, revmux.multiplexing.speed.count_flops
    monkeypatch.setattr(revmux.multiplexing.speed, "measure_latency", lambda *a, **k: calls.append("time") or real_latency(*a, **k))
    monkeypatch.setattr(revmux.multiplexing.speed, "count_flops", lambda fn: calls.append("count") or real_count(fn))
    settings = SpeedSettings("t5-tiny-random", "revmux", 2, 1, batch_size=4, length=8, **QUICK)
    profile(settings, resolve_backbone("t5-tiny-random"))
    assert calls[0] == "time", calls


def test_a_t5_profile_times_the_soft_prompt_it_was_evaluated_with(tiny_profile):
    settings = SpeedSettings("t5-tiny-random", "revmux", 2, 1, batch_size=4, length=8, soft_prompt_length=6, **QUICK)
    prompted = profile(settings, resolve_backbone("t5-tiny-random"))
    assert prompted["settings"]["soft_prompt_length"] == 6
    assert prompted["flops_per_sample"]["teacher"] > tiny_profile["flops_per_sample"]["teacher"]
    assert "soft prompt of 6" in prompted["inputs"]


def test_soft_prompt_is_refused_for_a_backbone_without_one():
    settings = SpeedSettings("stories260k", "revmux", 2, 1, batch_size=4, length=8, soft_prompt_length=6, **QUICK)
    with pytest.raises(RevmuxError, match="encoder-decoder"):
        profile(settings, resolve_backbone("stories260k"))


@pytest.fixture(scope="module")
def tiny_profile():
    settings = SpeedSettings("t5-tiny-random", "revmux", 2, 1, batch_size=4, length=8, **QUICK)
    return profile(settings, resolve_backbone("t5-tiny-random"))


def test_profile_of_a_random_init_backbone_is_valid_against_the_schema(tiny_profile):
    check_result(tiny_profile, "speed", "tiny")
    assert tiny_profile["backbone"]["random_init"] is True
    assert "random init" in tiny_profile["backbone"]["provenance"]
    assert tiny_profile["speedup"]["layer_ceiling"] == pytest.approx(layer_ceiling(4, 1, 2))  # 4 encoder blocks
    # The decoder runs once per composite too, so the ceiling is above the layer count's.
    assert tiny_profile["speedup"]["ceiling"] > tiny_profile["speedup"]["layer_ceiling"]
    assert tiny_profile["settings"]["threads"] >= 1
    latency = tiny_profile["latency"]
    assert latency["teacher"]["count"] == latency["multiplexed"]["count"] >= 3
    assert tiny_profile["speedup"]["per_round"]["count"] == latency["teacher"]["count"]
    assert tiny_profile["environment"]["gpu"] is None and tiny_profile["environment"]["gpu_unavailable"]


def test_profile_counts_fewer_flops_for_the_multiplexed_path(resources):
    settings = SpeedSettings("minilm-l6", "revmux", 4, 3, batch_size=8, length=16, **QUICK)
    result = profile(settings, resolve_backbone("minilm-l6"), resources)
    flops = result["flops_per_sample"]
    # Layers [3, 6) run on a quarter of the sequences; the mux/demux costs a little back.
    assert 1.0 < flops["ratio"] < result["speedup"]["ceiling"]
    assert result["memory"]["paths"]["multiplexed"]["host_rss_peak"] > 0


def test_each_path_has_its_own_memory_peak_from_a_fresh_process(tiny_profile):
    paths = tiny_profile["memory"]["paths"]
    for path in ("teacher", "multiplexed"):
        assert isinstance(paths[path]["peak_bytes"], int), paths[path]
        assert "own fresh process" in paths[path]["peak_source"]


def test_each_path_reports_its_weights_and_its_working_set_apart(tiny_profile):
    paths = tiny_profile["memory"]["paths"]
    for path in ("teacher", "multiplexed"):
        record = paths[path]
        assert isinstance(record["weights_bytes"], int) and record["weights_bytes"] > 0, record
        assert isinstance(record["working_set_bytes"], int), record
        assert record["peak_bytes"] == record["weights_bytes"] + record["working_set_bytes"]
        assert "weights resident" in record["working_set_source"]
    # The multiplexed path reads the teacher's weights and the multiplexer's.
    assert paths["multiplexed"]["weights_bytes"] > paths["teacher"]["weights_bytes"]


@pytest.mark.parametrize("breakage, field", [
    (lambda d: d["speedup"].pop("measured"), "speedup"),
    (lambda d: d["latency"]["teacher"].__setitem__("cv", -0.5), "latency/teacher/cv"),
    (lambda d: d["memory"]["paths"]["teacher"].__setitem__("unit", "MB"), "memory/paths/teacher/unit"),
    (lambda d: d["memory"]["paths"]["teacher"].pop("working_set_bytes"), "memory/paths/teacher"),
    (lambda d: d["energy"]["multiplexed"]["unavailable"].__setitem__("gpu", ""), "energy/multiplexed/unavailable/gpu"),
])
def test_schema_rejects_a_broken_profile_naming_file_and_field(tiny_profile, breakage, field):
    broken = copy.deepcopy(tiny_profile)
    breakage(broken)
    with pytest.raises(RevmuxError, match=f"broken.json: not a valid speed result at {field}"):
        check_result(broken, "speed", "broken.json")


def test_load_result_names_a_truncated_file(tmp_path):
    path = tmp_path / "speed.json"
    path.write_text('{"schema_version": 1, "kind": ')
    with pytest.raises(RevmuxError, match=f"{path}: not valid JSON"):
        load_result(path, "speed")


def test_profile_command_writes_a_valid_file(tmp_path, capsys):
    out = tmp_path / "speed.json"
    code = main(["speed", "--backbone", "t5-tiny-random", "--method", "hadamard", "--n", "2", "-p", "1",
                 "--batch-size", "4", "--length", "8", "--warmup-runs", "1", "--min-iterations", "2",
                 "--min-duration", "0", "--memory-runs", "1", "--no-progress", "--out", str(out)])
    assert code == 0
    result = load_result(out, "speed")
    assert result["settings"]["method"] == "hadamard"
    assert "speedup" in capsys.readouterr().out


@pytest.mark.parametrize("arguments, message", [
    (["--method", "teacher", "--n", "2"], "speed compares a method with the teacher: pick a multiplexer"),
    (["--method", "identity+bfloat16", "--n", "1"], "quantization bfloat16 runs on cuda only, not on cpu: use int8"),
    (["--method", "revmux", "--n", "3"], "not a multiple of N = 3"),
    (["--method", "revmux", "--n", "2", "-p", "9"], "prefill layers must be in"),
    (["--method", "revmux", "--n", "2", "--device", "cuda:7"], "no CUDA GPU is visible"),
])
def test_profile_command_refuses_bad_settings(tmp_path, capsys, arguments, message):
    if "cuda:7" in arguments:
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is visible here")
    out = tmp_path / "speed.json"
    code = main(["speed", "--backbone", "t5-tiny-random", "--batch-size", "4", *arguments, "--out", str(out)])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_the_cpu_benchmark_gives_no_verdict_on_invalid_profiles():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "benchmarks" / "profile_cpu.py"
    spec = importlib.util.spec_from_file_location("profile_cpu", path)
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    row = {"n": 4, "share": 0.95, "cv": 0.01, "valid": False, "reasons": ["machine not quiet: ..."]}
    assert benchmark.verdict(row).startswith("INVALID: machine not quiet")
    assert "meets" not in benchmark.verdict(row)
    assert benchmark.verdict({**row, "valid": True, "reasons": []}).startswith("meets")


def test_timing_a_random_init_shape_needs_nothing_fetched(tmp_path):
    # A GPU node with an empty cache: the profile's random token ids need no tokenizer.
    settings = SpeedSettings("t5-tiny-random", "revmux", 2, 1, batch_size=4, length=8, **QUICK)
    assert profile(settings, resolve_backbone("t5-tiny-random"), resources=tmp_path)["backbone"]["random_init"]
    with pytest.raises(RevmuxError, match="fetch minilm-l6"):
        load_backbone("t5-tiny-random", tmp_path)
