"""`revmux profile`: the analytic ceiling, real profiles of small backbones, and their schema."""

from __future__ import annotations

import copy

import pytest

from revmux.backbones import resolve_backbone
from revmux.cli import main
from revmux.errors import RevmuxError
from revmux.profiling import ProfileSettings, analytic_ceiling, profile
from revmux.schemas import check_result, load_result

QUICK = dict(warmup_runs=1, min_iterations=3, min_duration_s=0.0, memory_runs=1, energy_window_s=0.01)


def test_analytic_ceiling():
    assert analytic_ceiling(6, 3, 2) == pytest.approx(4 / 3)
    assert analytic_ceiling(6, 3, 4) == pytest.approx(1.6)
    assert analytic_ceiling(12, 0, 8) == pytest.approx(8.0)  # mux at the embeddings: N times fewer sequences
    assert analytic_ceiling(32, 16, 2) == pytest.approx(32 / 24)


@pytest.fixture(scope="module")
def tiny_profile():
    settings = ProfileSettings("t5-tiny-random", "revmux", 2, 1, batch_size=4, length=8, **QUICK)
    return profile(settings, resolve_backbone("t5-tiny-random"))


def test_profile_of_a_random_init_backbone_is_valid_against_the_schema(tiny_profile):
    check_result(tiny_profile, "profile", "tiny")
    assert tiny_profile["backbone"]["random_init"] is True
    assert "random init" in tiny_profile["backbone"]["provenance"]
    assert tiny_profile["speedup"]["ceiling"] == pytest.approx(analytic_ceiling(4, 1, 2))  # 4 encoder blocks
    latency = tiny_profile["latency"]
    assert latency["teacher"]["count"] == latency["multiplexed"]["count"] >= 3
    assert tiny_profile["speedup"]["per_round"]["count"] == latency["teacher"]["count"]
    assert tiny_profile["environment"]["gpu"] is None and tiny_profile["environment"]["gpu_unavailable"]


def test_profile_counts_fewer_flops_for_the_multiplexed_path(resources):
    settings = ProfileSettings("minilm-l6", "revmux", 4, 3, batch_size=8, length=16, **QUICK)
    result = profile(settings, resolve_backbone("minilm-l6"), resources)
    flops = result["flops_per_sample"]
    # Layers [3, 6) run on a quarter of the sequences; the mux/demux costs a little back.
    assert 1.0 < flops["ratio"] < result["speedup"]["ceiling"]
    assert result["memory"]["paths"]["multiplexed"]["host_rss_peak"] > 0


@pytest.mark.parametrize("breakage, field", [
    (lambda d: d["speedup"].pop("measured"), "speedup"),
    (lambda d: d["latency"]["teacher"].__setitem__("cv", -0.5), "latency/teacher/cv"),
    (lambda d: d["memory"]["paths"]["teacher"].__setitem__("unit", "MB"), "memory/paths/teacher/unit"),
    (lambda d: d["energy"]["multiplexed"]["unavailable"].__setitem__("gpu", ""), "energy/multiplexed/unavailable/gpu"),
])
def test_schema_rejects_a_broken_profile_naming_file_and_field(tiny_profile, breakage, field):
    broken = copy.deepcopy(tiny_profile)
    breakage(broken)
    with pytest.raises(RevmuxError, match=f"broken.json: not a valid profile result at {field}"):
        check_result(broken, "profile", "broken.json")


def test_load_result_names_a_truncated_file(tmp_path):
    path = tmp_path / "profile.json"
    path.write_text('{"schema_version": 1, "kind": ')
    with pytest.raises(RevmuxError, match=f"{path}: not valid JSON"):
        load_result(path, "profile")


def test_profile_command_writes_a_valid_file(tmp_path, capsys):
    out = tmp_path / "profile.json"
    code = main(["profile", "--backbone", "t5-tiny-random", "--method", "hadamard", "--n", "2", "-p", "1",
                 "--batch-size", "4", "--length", "8", "--warmup-runs", "1", "--min-iterations", "2",
                 "--min-duration", "0", "--memory-runs", "1", "--no-progress", "--out", str(out)])
    assert code == 0
    result = load_result(out, "profile")
    assert result["settings"]["method"] == "hadamard"
    assert "speedup" in capsys.readouterr().out


@pytest.mark.parametrize("arguments, message", [
    (["--method", "teacher", "--n", "2"], "compares a multiplexing method with the teacher"),
    (["--method", "revmux", "--n", "3"], "not a multiple of N = 3"),
    (["--method", "revmux", "--n", "2", "-p", "9"], "prefill layers must be in"),
    (["--method", "revmux", "--n", "2", "--device", "cuda:7"], "no CUDA GPU is visible"),
])
def test_profile_command_refuses_bad_settings(tmp_path, capsys, arguments, message):
    if "cuda:7" in arguments:
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is visible here")
    out = tmp_path / "profile.json"
    code = main(["profile", "--backbone", "t5-tiny-random", "--batch-size", "4", *arguments, "--out", str(out)])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
