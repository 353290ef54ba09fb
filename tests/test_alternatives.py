"""The alternatives to multiplexing: truncation at equal compute (its own stage 0), post-training
quantization of the backbone, and both with the multiplexers; the tables that put them beside RevMUX."""

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from revmux.analysis.tables import batch_sweep_table
from revmux.backbones import resolve_backbone
from revmux.backbones.load import load_backbone
from revmux.backbones.quantization import check_scheme, quantize
from revmux.backbones.stages import stage_backbone
from revmux.core.errors import RevmuxError
from revmux.multiplexing.config import AdapterConfig, DataConfig, SpeedSettings, TeacherConfig
from revmux.multiplexing.heads import LinearHead
from revmux.multiplexing.methods import canonical_method, method_traits
from revmux.multiplexing.methods.truncate import depth_flops, matched_flops, truncation_depth
from revmux.multiplexing.model import answer_states_from, teacher_answer_states
from revmux.multiplexing.speed import profile
from revmux.multiplexing.stage0 import load_teacher, predict, train_teacher
from revmux.multiplexing.train import refuse_untrainable
from revmux.workflow.multiplexing import ConfigError, build_grid, build_speed_grid, check_config, refuse_quantized_training

PAIRS = (["A man is playing a guitar on stage.", "Short one."], ["A person plays music.", "Tiny."])
QUICK = dict(warmup_runs=1, min_iterations=3, min_duration_s=0.0, memory_runs=1, energy_window_s=0.01)
# The stated tolerance of int8 dynamic quantization of MiniLM's linear layers, on 200 real review sentences:
# cosine similarity of each answer state ([CLS], before the head) to float32's at least 0.90 and 0.95 at the
# median (measured on this CPU: 0.93 at the least, 0.97 at the median), and the head's class the same on at
# least 90% of them.
INT8_MIN_COSINE = 0.90
INT8_MEDIAN_COSINE = 0.95
INT8_MIN_AGREEMENT = 0.9


@pytest.mark.parametrize(("name", "depth"), [("minilm-l6", 2), ("minilm-l6", 6), ("stories260k", 3), ("t5-tiny-random", 1)])
def test_a_truncated_model_is_the_full_models_first_k_layers_and_its_head(resources, name, depth):
    full = stage_backbone(load_backbone(name, resources))
    truncated = stage_backbone(load_backbone(name, resources))
    truncated.keep_layers(depth)
    assert truncated.num_layers == depth
    head = LinearHead(full.hidden_size, 2)
    batch = full.tokenize("rte", *PAIRS, max_length=48)
    with torch.no_grad():
        hidden, mask = full.embed(batch)
        reference = head(answer_states_from(full, hidden, mask, batch.answer_positions, 0, depth))
        mine = head(teacher_answer_states(truncated, batch))
    assert torch.allclose(mine, reference, atol=1e-5)
    if name == "minilm-l6":  # the library's own forward of the cut model agrees too
        with torch.no_grad():
            assert torch.allclose(truncated.forward_full(batch), full.model(
                input_ids=batch.input_ids, attention_mask=batch.attention_mask, token_type_ids=batch.token_type_ids,
                output_hidden_states=True).hidden_states[depth][:, 0], atol=1e-5)


@pytest.mark.parametrize("depth", [0, 7])
def test_a_depth_outside_the_layers_is_refused(resources, depth):
    backbone = stage_backbone(load_backbone("minilm-l6", resources))
    with pytest.raises(RevmuxError, match=r"truncation depth .* outside \[1, 6\]"):
        backbone.keep_layers(depth)


@pytest.mark.parametrize("n", [2, 4])
def test_the_matched_depth_is_the_one_whose_counted_flops_are_closest_to_revmux(resources, n):
    backbone = stage_backbone(load_backbone("minilm-l6", resources))
    depth, chosen = truncation_depth(backbone, n, 3, 64)
    target, per_depth = chosen["target_flops"], chosen["flops_per_depth"]
    assert all(abs(per_depth[depth] - target) <= abs(flops - target) for flops in per_depth.values())
    assert 3 <= depth <= 6  # between P and L: more than the prefix, less than the whole model
    assert per_depth[1] < per_depth[2] < per_depth[6]
    ids = torch.randint(0, 1000, (n, 64), generator=torch.Generator().manual_seed(0))
    batch = backbone.token_batch(ids, torch.ones(n, 64, dtype=torch.long))
    assert matched_flops(backbone, batch, n, 3) == pytest.approx(target)
    assert depth_flops(backbone, batch, depth) == pytest.approx(per_depth[depth])


def test_n_equal_one_keeps_p_layers(resources):
    backbone = stage_backbone(load_backbone("minilm-l6", resources))
    assert truncation_depth(backbone, 1, 4, 64)[0] == 4


def rt_polarity_data(resources, **sizes) -> DataConfig:
    return DataConfig(task="rt-polarity", resources=str(resources), max_length=48,
                      **{"train_size": 64, "validation_size": 32, "eval_size": 64, **sizes})


def test_truncation_trains_its_own_stage_0_and_saves_only_its_layers(resources, tmp_path):
    data = rt_polarity_data(resources)
    info = train_teacher(TeacherConfig(data, "minilm-l6", mode="full", epochs=1, truncate=(1, 2)), tmp_path)
    assert info["truncation"]["depth"] == 2 and info["layers"] == 2
    saved = load_file(tmp_path / "teacher.safetensors")
    assert not any(".layer.2." in name for name in saved) and any(".layer.1." in name for name in saved)
    backbone, head, loaded = load_teacher(tmp_path, resources)
    assert backbone.num_layers == 2
    from revmux.multiplexing.inputs import load_run_splits
    from revmux.multiplexing.stage0 import accuracy

    splits, _ = load_run_splits(data)
    assert accuracy(predict(backbone, head, "rt-polarity", splits["eval"], 48), splits["eval"]) == loaded["eval_accuracy"]


def test_a_truncation_can_start_from_its_fine_tuned_teachers_first_layers_and_head(resources, tmp_path):
    """What the multiplexers start from (the seed's fine-tuned teacher) a truncation can start from too: with
    0 epochs it is exactly the teacher's first k layers and its head; a teacher that is not fully fine-tuned
    (or of another task) is refused, naming what to pass."""
    data = rt_polarity_data(resources)
    teacher_dir, truncated_dir = tmp_path / "teacher", tmp_path / "truncated"
    train_teacher(TeacherConfig(data, "minilm-l6", mode="full", epochs=1, lr=1e-3, seed=3), teacher_dir)
    # lr 0: the weights it keeps are the ones it started from
    info = train_teacher(TeacherConfig(data, "minilm-l6", mode="full", epochs=1, lr=0.0, truncate=(1, 2),
                                       start_from=str(teacher_dir)), truncated_dir)
    assert info["started_from"]["directory"] == str(teacher_dir) and info["started_from"]["seed"] == 3
    teacher, teacher_head, _ = load_teacher(teacher_dir, resources)
    truncated, truncated_head, _ = load_teacher(truncated_dir, resources)
    batch = teacher.tokenize("rt-polarity", ["A moving film.", "Dull."], None, max_length=48)
    with torch.no_grad():
        hidden, mask = teacher.embed(batch)
        reference = teacher_head(answer_states_from(teacher, hidden, mask, batch.answer_positions, 0, 2))
        assert torch.allclose(truncated_head(teacher_answer_states(truncated, batch)), reference, atol=1e-5)
    pretrained = stage_backbone(load_backbone("minilm-l6", resources))
    pretrained.keep_layers(2)
    assert not torch.allclose(truncated.layers[0].output.dense.weight, pretrained.layers[0].output.dense.weight)

    head_only = tmp_path / "head-teacher"
    train_teacher(TeacherConfig(data, "minilm-l6", mode="head", epochs=1), head_only)
    with pytest.raises(RevmuxError, match="--start-from is for a truncation"):
        train_teacher(TeacherConfig(data, "minilm-l6", mode="head", epochs=1, truncate=(1, 2), start_from=str(head_only)),
                      tmp_path / "x")
    with pytest.raises(RevmuxError, match="not the whole minilm-l6 fully fine-tuned on rt-polarity"):
        train_teacher(TeacherConfig(data, "minilm-l6", mode="full", epochs=1, truncate=(1, 2), start_from=str(head_only)),
                      tmp_path / "y")


def test_int8_answers_stay_within_the_stated_tolerance_of_float32_on_real_sentences(resources, tmp_path):
    data = rt_polarity_data(resources, train_size=256, eval_size=200)
    train_teacher(TeacherConfig(data, "minilm-l6", mode="head", epochs=2, lr=1e-3), tmp_path)
    float_backbone, float_head, _ = load_teacher(tmp_path, resources)
    int8_backbone, int8_head, _ = load_teacher(tmp_path, resources, quantization="int8")
    assert "DynamicQuantizedLinear" in repr(int8_backbone.model) and "DynamicQuantizedLinear" not in repr(float_backbone.model)
    from revmux.multiplexing.inputs import load_run_splits, tokenize_rows

    rows = load_run_splits(data)[0]["eval"]
    tokens = tokenize_rows(float_backbone, "rt-polarity", rows, 48)
    with torch.no_grad():
        exact, approximate = teacher_answer_states(float_backbone, tokens), teacher_answer_states(int8_backbone, tokens)
    cosine = torch.nn.functional.cosine_similarity(exact, approximate, dim=-1)
    assert not torch.equal(exact, approximate)  # it did quantize
    assert cosine.min() >= INT8_MIN_COSINE and cosine.median() >= INT8_MEDIAN_COSINE, (cosine.min(), cosine.median())
    agreement = (float_head(exact).argmax(-1) == int8_head(approximate).argmax(-1)).float().mean()
    print(f"int8 vs float32 on {len(cosine)} sentences: cosine min {cosine.min():.4f}, median {cosine.median():.4f}, "
          f"class agreement {agreement:.3f}")
    assert agreement >= INT8_MIN_AGREEMENT, agreement


@pytest.mark.parametrize(("scheme", "device", "message"), [
    ("int8", "cuda", "int8 runs on cpu only, not on cuda: use bfloat16 or float16"),
    ("bfloat16", "cpu", "bfloat16 runs on cuda only, not on cpu: use int8"),
    ("int4", "cpu", "unknown quantization 'int4'"),
])
def test_a_quantization_the_device_cannot_run_is_refused_with_what_fits(scheme, device, message):
    with pytest.raises(RevmuxError, match=message):
        check_scheme(scheme, device)


def test_a_quantized_backbone_is_never_trained(resources):
    assert method_traits(canonical_method("teacher+int8")) == {**method_traits("identity"), "quantization": "int8"}
    with pytest.raises(RevmuxError, match="int8 backbone is never trained .* train revmux, then evaluate and time it as revmux\\+int8"):
        refuse_untrainable("revmux+int8")
    with pytest.raises(RevmuxError, match="revmux teacher --truncate"):
        refuse_untrainable("truncate")
    backbone = stage_backbone(load_backbone("minilm-l6", resources))
    quantize(backbone, "int8")
    assert not any(p.requires_grad for p in backbone.parameters())


def test_profiles_time_truncation_and_quantization_against_the_float_teacher(resources):
    truncated = profile(SpeedSettings("minilm-l6", "truncate", 2, 3, batch_size=4, length=16, **QUICK),
                        resolve_backbone("minilm-l6"), resources)
    depth = truncated["method_path"]["depth"]
    assert truncated["method_path"]["truncation"]["length"] == 16 and 3 <= depth <= 6
    assert truncated["flops_per_sample"]["ratio"] == pytest.approx(truncated["speedup"]["ceiling"])
    assert truncated["flops_per_sample"]["ratio"] > 1
    quantized = profile(SpeedSettings("minilm-l6", "identity+int8", 1, 3, batch_size=4, length=16, **QUICK),
                        resolve_backbone("minilm-l6"), resources)
    # the int8 path does the same arithmetic (counted on its float twin): only time can differ
    assert quantized["flops_per_sample"]["ratio"] == pytest.approx(1.0)
    assert "quantized to int8" in quantized["method_path"]["description"]
    both = profile(SpeedSettings("minilm-l6", "revmux+int8", 2, 3, batch_size=4, length=16, **QUICK),
                   resolve_backbone("minilm-l6"), resources)
    assert both["flops_per_sample"]["ratio"] > 1 and both["speedup"]["ceiling"] > 1
    with pytest.raises(RevmuxError, match="speed compares a method with the teacher"):
        profile(SpeedSettings("minilm-l6", "identity", 1, 3, batch_size=4, length=16, **QUICK), resolve_backbone("minilm-l6"))
    with pytest.raises(RevmuxError, match=r"truncation depth 7 is outside \[1, 6\]"):
        profile(SpeedSettings("minilm-l6", "truncate", 1, 7, batch_size=4, length=16, **QUICK), resolve_backbone("minilm-l6"))


def base_config(**overrides) -> dict:
    config = {
        "tasks": ["rt-polarity"], "data": {"max_length": 64}, "backbones": {"minilm-l6": {"prefill_layers": [3]}},
        "methods": ["identity", "revmux", "truncate", "identity+int8", "revmux+int8"], "compose_sizes": [2, 4],
        "seeds": [0, 1], "truncation": {"depths": "matched"}, "device": "cpu",
        "speed": {"enabled": True, "batch_sizes": [1, 8], "lengths": [64], "shapes": {}},
    }
    return {**config, **overrides}


def test_the_grid_has_a_matched_truncation_per_n_and_seed_and_quantized_forms_of_trained_methods():
    config = base_config()
    check_config(config)
    grid = build_grid(config)
    truncations = grid[grid.method == "truncate"]
    assert sorted(zip(truncations.n, truncations.p, truncations.seed)) == [(2, 3, 0), (2, 3, 1), (4, 3, 0), (4, 3, 1)]
    # every seed has its own teacher, so its own int8 teacher too
    assert len(grid[grid.method == "identity+int8"]) == 2 and len(grid[grid.method == "revmux+int8"]) == 4
    speed = build_speed_grid(config)
    # a batch of 1 fills no composite of N = 2 or 4: multiplexers are timed at 8 only; the others at both
    assert set(speed[speed.method == "revmux"].batch) == {8}
    assert set(speed[speed.method == "truncate"].batch) == {1, 8} and set(speed[speed.method == "identity+int8"].batch) == {1, 8}
    explicit = base_config(truncation={"depths": [2, 5]})
    check_config(explicit)
    rows = build_grid(explicit)
    assert sorted(zip(rows[rows.method == "truncate"].n, rows[rows.method == "truncate"].p)) == [(1, 2), (1, 2), (1, 5), (1, 5)]


@pytest.mark.parametrize(("overrides", "key", "message"), [
    ({"truncation": {"depths": [7]}}, "truncation.depths", r"depth 7 is outside \[1, 6\] for minilm-l6"),
    ({"truncation": {"depths": [0]}}, "truncation.depths", r"depth 0 is outside \[1, 6\]"),
    ({"device": "cuda"}, "methods", "identity\\+int8: quantization int8 runs on cpu only, not on cuda"),
    ({"methods": ["revmux+int4"]}, "methods", "unknown quantization 'int4' in method 'revmux\\+int4'"),
])
def test_a_bad_alternative_is_refused_with_the_key_to_fix(overrides, key, message):
    with pytest.raises(ConfigError, match=f"config key {key}: .*{message}"):
        check_config(base_config(**overrides))


@pytest.mark.parametrize("key", ["dtype", "speed.dtype"])
def test_asking_to_train_or_time_the_float_model_in_int8_is_refused_before_the_schema(key):
    config = base_config(dtype="int8") if key == "dtype" else base_config(speed={"dtype": "int8"})
    with pytest.raises(ConfigError, match=f"config key {key}: int8 is a post-training quantization.*identity\\+int8"):
        refuse_quantized_training(config)
    refuse_quantized_training(base_config(dtype="bfloat16"))  # a float dtype is fine


def test_the_batch_sweep_marks_every_cell_whose_timing_is_invalid():
    setting = {"backbone": "b", "device": "cpu", "dtype": "float32", "threads": 2, "length": 64, "p": 3, "depth": None}
    profiles = pd.DataFrame([
        {**setting, "method": "revmux", "n": 2, "batch": batch, "teacher_samples_per_s": 50.0 * batch,
         "multiplexed_samples_per_s": 65.0 * batch, "speedup": 1.3, "valid": batch == 8}
        for batch in (8, 32)
    ])
    table = batch_sweep_table(profiles).set_index("model")
    assert table.loc["revmux N=2 P=3", "batch 8"] == "520.0 (1.30x)"
    assert table.loc["revmux N=2 P=3", "batch 32"] == "2080.0 (1.30x, invalid)"
    assert table.loc["teacher", "batch 32"] == "1600.0 (invalid)"  # timed inside the invalid profile


@pytest.fixture(scope="module")
def alternatives_run(tmp_path_factory, resources):
    from workflow_run import copy_project, snakemake

    workdir = copy_project(tmp_path_factory.mktemp("alternatives-run"))
    configfile = str(Path(__file__).parent / "fixtures" / "alternatives-tiny.yaml")
    first = snakemake("--cores", "2", "--configfile", configfile, cwd=workdir, timeout=1500)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    report = workdir / "reports" / "report.html"
    report.parent.mkdir(exist_ok=True)
    built = snakemake("--cores", "2", "--configfile", configfile, "--report", str(report), cwd=workdir)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return workdir


@pytest.mark.slow
def test_every_alternative_goes_through_training_evaluation_timing_tables_and_the_report(alternatives_run):
    results = alternatives_run / "results"
    runs = results / "rte" / "minilm-l6"
    truncation = json.loads((runs / "truncate-n2-p3-s0" / "teacher.json").read_text())
    depth = truncation["truncation"]["depth"]
    assert 3 <= depth <= 6 and truncation["layers"] == depth
    for run in ("identity-n1-p3-s0", "revmux-n2-p3-s0", "truncate-n2-p3-s0", "identity+int8-n1-p3-s0", "revmux+int8-n2-p3-s0"):
        metrics = json.loads((runs / run / "metrics.json").read_text())
        assert metrics["accuracy"]["examples"] == 48, run
    assert not (runs / "revmux+int8-n2-p3-s0" / "adapter.pt").exists()  # evaluated with revmux's training, never trained
    assert json.loads((runs / "identity+int8-n1-p3-s0" / "metrics.json").read_text())["quantization"] == "int8"
    profiles = sorted(path.name for path in (results / "speed" / "minilm-l6").glob("*.json"))
    assert profiles == sorted([
        "revmux-n2-p3-b8-len16.json", "revmux+int8-n2-p3-b8-len16.json",
        "truncate-n2-p3-b1-len16.json", "truncate-n2-p3-b8-len16.json",
        "identity+int8-n1-p3-b1-len16.json", "identity+int8-n1-p3-b8-len16.json",
    ])
    summary = pd.read_csv(results / "tables" / "summary.csv")
    assert set(summary.method) == {"identity", "revmux", "truncate", "identity+int8", "revmux+int8"}
    assert summary.loc[summary.method == "truncate", "depth"].item() == depth
    assert summary["speedup"].notna().all() and (summary["timed_batch"] == 8).all()
    # quantized paths have no FLOP ceiling; float ones the counted-FLOP ratio
    assert summary.loc[summary.method.str.contains("+", regex=False), "ceiling"].isna().all()
    assert summary.loc[summary.method == "truncate", "ceiling"].item() > 1
    markdown = (results / "tables" / "summary.md").read_text()
    assert "## Verdicts" in markdown and "Batching headroom" in markdown
    verdicts = [line for line in (results / "tables" / "verdicts.md").read_text().splitlines() if line.startswith("- ")]
    assert verdicts[0].startswith("- Seed-to-seed variation was not measured with at least 3 seeds")
    assert not any(" dominates " in line or "more accurate" in line for line in verdicts)  # one seed: speed only
    assert all("this holds for this machine's CPU kernels" in line for line in verdicts if "on int8" in line)
    assert "Pareto front" in (results / "plots" / "minilm-l6-accuracy-vs-speedup.svg").read_text()
    assert (alternatives_run / "reports" / "report.html").stat().st_size > 0
    page = (results / "tables" / "summary.html").read_text()  # what the report shows as its summary
    assert all(label in page for label in ("teacher on int8", "revmux N=2 on int8", f"truncate {depth} layers"))
