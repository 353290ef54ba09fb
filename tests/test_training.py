"""Stage 0, adapter training, resume and evaluation end to end on small real data."""

import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from revmux.backbones.load import load_backbone
from revmux.multiplexing.config import AdapterConfig, DataConfig, TeacherConfig, validate_adapter
from revmux.core.errors import RevmuxError
from revmux.multiplexing.scoring import METRICS_FILE, PREDICTIONS_FILE, VALIDATION_PREDICTIONS_FILE, evaluate_run
from revmux.multiplexing.stage0 import load_teacher, train_teacher
from revmux.multiplexing.train import ADAPTER_FILE, CHECKPOINT_FILE, train_adapter

pytestmark = pytest.mark.slow

# validation_size fits the excerpts in tests/fixtures (30 validation rows carved from 300) as well as the full files.
DATA = DataConfig(task="sst-2", train_size=96, validation_size=30, eval_size=37, max_length=32)


@pytest.fixture(scope="module")
def minilm_teacher(tmp_path_factory, resources):
    directory = tmp_path_factory.mktemp("teacher")
    data = dataclasses.replace(DATA, resources=str(resources))
    info = train_teacher(TeacherConfig(data, "minilm-l6", mode="head", epochs=2, lr=1e-3), directory)
    return directory, data, info


def adapter_config(data=DATA, **overrides):
    values = dict(data=data, backbone="minilm-l6", method="revmux", n=2, prefill_layers=3, epochs=2,
                  batch_size=16, lr=1e-3, eval_regroupings=3)
    values.update(overrides)
    return AdapterConfig(**values)


def test_teacher_stage_writes_a_reloadable_frozen_teacher(minilm_teacher, resources):
    directory, _, info = minilm_teacher
    assert info["mode"] == "head" and info["data_hashes"]["eval"]
    assert 0.0 <= info["eval_accuracy"] <= 1.0 and len(info["history"]) == 3
    backbone, head, reloaded = load_teacher(directory, resources)
    assert reloaded["validation_accuracy"] == info["validation_accuracy"]
    assert not any(p.requires_grad for p in backbone.model.parameters())
    assert not any(p.requires_grad for p in head.parameters())


def test_training_keeps_the_backbone_it_uses_bit_identical_and_lowers_the_loss(minilm_teacher, tmp_path, monkeypatch):
    import revmux.multiplexing.train

    directory, data, _ = minilm_teacher
    used, optimisers = {}, []
    real_build, real_optimizer = revmux.multiplexing.train.build_model, revmux.multiplexing.train._optimizer

    def build_and_keep(*args, **kwargs):  # the very instance train_adapter trains with
        model, info = real_build(*args, **kwargs)
        used["model"] = model
        used["before"] = {k: v.clone() for k, v in model.backbone.model.state_dict().items()}
        return model, info

    monkeypatch.setattr(revmux.multiplexing.train, "build_model", build_and_keep)
    monkeypatch.setattr(revmux.multiplexing.train, "_optimizer", lambda *a: optimisers.append(real_optimizer(*a)) or optimisers[-1])
    summary = train_adapter(adapter_config(data, epochs=4), tmp_path / "run", directory, tmp_path / "cache")
    losses = [record["train_loss"] for record in summary["history"][1:]]
    assert losses[-1] < losses[0]
    after = used["model"].backbone.model.state_dict()
    assert used["before"].keys() == after.keys()
    assert all(torch.equal(used["before"][k], after[k]) for k in after)
    optimised = {id(p) for group in optimisers[0].param_groups for p in group["params"]}
    assert optimised and not optimised & {id(p) for p in used["model"].backbone.parameters()}
    assert optimised == {id(p) for p in used["model"].multiplexer.parameters()}


def test_a_gpu_run_checkpoints_and_restores_the_gpu_generators(minilm_teacher, tmp_path, monkeypatch):
    directory, data, _ = minilm_teacher
    marker = [torch.tensor([7, 7, 7], dtype=torch.uint8)]
    restored = []
    # No GPU here: torch.cuda's generator functions are stood in for, as on a machine with one.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: marker)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: restored.append(states))
    config = adapter_config(data, epochs=2)
    assert train_adapter(config, tmp_path / "run", directory, tmp_path / "cache", stop_after_epoch=1) == {"interrupted_after_epoch": 1}
    saved = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    assert saved["rng"]["cuda"] is not None and torch.equal(saved["rng"]["cuda"][0], marker[0])
    restored.clear()
    train_adapter(config, tmp_path / "run", directory, tmp_path / "cache")
    assert restored and torch.equal(restored[0][0], marker[0])


def test_the_paper_style_figure_re_evaluates_the_held_out_selected_epoch_over_every_regrouping(minilm_teacher, tmp_path):
    from revmux.multiplexing.evaluate import evaluate
    from revmux.multiplexing.train import DEV_SELECTED_ADAPTER_FILE, build_model, run_features

    directory, data, _ = minilm_teacher
    config = adapter_config(data, epochs=3, eval_regroupings=4)
    summary = train_adapter(config, tmp_path / "run", directory, tmp_path / "cache")
    metrics = evaluate_run(config, tmp_path / "run", directory, tmp_path / "cache")
    paper = metrics["paper_style_dev_selected"]
    best = max(summary["history"], key=lambda record: record["eval_accuracy"])
    assert paper["epoch"] == best["epoch"] and len(paper["per_regrouping"]) == 4
    model, _ = build_model(config, directory)
    model.multiplexer.load_state_dict(torch.load(tmp_path / "run" / DEV_SELECTED_ADAPTER_FILE, weights_only=True))
    model.multiplexer.eval()
    splits, features, *_ = run_features(config, model, directory, tmp_path / "cache", ("eval",))
    direct, _ = evaluate(model, features["eval"], splits["eval"]["idx"].to_numpy(), 4, config.eval_batch_size, config.eval_seed)
    assert paper["accuracy"] == pytest.approx(direct["mean"]) and paper["per_regrouping"] == pytest.approx(direct["per_regrouping"])
    assert "optimistic" in paper["note"]


def test_same_seed_gives_identical_predictions_and_metrics(minilm_teacher, tmp_path):
    directory, data, _ = minilm_teacher
    config = adapter_config(data)
    results = []
    for name in ("first", "second"):
        train_adapter(config, tmp_path / name, directory, tmp_path / "cache")
        metrics = evaluate_run(config, tmp_path / name, directory, tmp_path / "cache")
        results.append((metrics["accuracy"], pd.read_csv(tmp_path / name / PREDICTIONS_FILE)))
    assert results[0][0] == results[1][0]
    pd.testing.assert_frame_equal(results[0][1], results[1][1])


def test_an_interrupted_run_resumes_to_the_same_result(minilm_teacher, tmp_path):
    directory, data, _ = minilm_teacher
    config = adapter_config(data, epochs=3)
    whole = train_adapter(config, tmp_path / "whole", directory, tmp_path / "cache")
    interrupted = train_adapter(config, tmp_path / "cut", directory, tmp_path / "cache", stop_after_epoch=1)
    assert interrupted == {"interrupted_after_epoch": 1}
    assert not (tmp_path / "cut" / ADAPTER_FILE).exists()
    resumed = train_adapter(config, tmp_path / "cut", directory, tmp_path / "cache")
    strip = lambda history: [{k: v for k, v in r.items() if k != "seconds"} for r in history]  # noqa: E731
    assert strip(resumed["history"]) == strip(whole["history"])
    assert torch.equal(
        torch.load(tmp_path / "cut" / ADAPTER_FILE)["down.weight"], torch.load(tmp_path / "whole" / ADAPTER_FILE)["down.weight"],
    )


def test_a_checkpoint_of_another_run_is_set_aside_never_resumed(minilm_teacher, tmp_path):
    directory, data, _ = minilm_teacher
    first, changed = adapter_config(data, epochs=1), adapter_config(data, epochs=2, lr=5e-4)
    train_adapter(first, tmp_path / "run", directory, tmp_path / "cache")
    assert not (tmp_path / "run" / CHECKPOINT_FILE).exists()  # a finished run leaves no checkpoint
    # an interruption of another configuration's run, left in the folder: not this run's
    interrupted = adapter_config(data, epochs=2)
    assert train_adapter(interrupted, tmp_path / "other", directory, tmp_path / "cache", stop_after_epoch=1) == {"interrupted_after_epoch": 1}
    shutil.copy(tmp_path / "other" / CHECKPOINT_FILE, tmp_path / "run" / CHECKPOINT_FILE)
    rerun = train_adapter(changed, tmp_path / "run", directory, tmp_path / "cache")
    fresh = train_adapter(changed, tmp_path / "fresh", directory, tmp_path / "cache")
    strip = lambda history: [{k: v for k, v in r.items() if k != "seconds"} for r in history]  # noqa: E731
    assert strip(rerun["history"]) == strip(fresh["history"]) and len(rerun["history"]) == 3


def test_reusing_layer_p_states_gives_the_same_losses_as_recomputing_them(minilm_teacher, tmp_path):
    directory, data, _ = minilm_teacher
    reused = train_adapter(adapter_config(data, epochs=1), tmp_path / "a", directory, tmp_path / "cache")
    live = train_adapter(adapter_config(data, epochs=1, reuse_prefill=False), tmp_path / "b", directory, tmp_path / "cache")
    assert reused["history"][1]["train_loss"] == pytest.approx(live["history"][1]["train_loss"], rel=1e-4)


def test_evaluation_follows_the_regrouping_protocol(minilm_teacher, tmp_path):
    directory, data, _ = minilm_teacher
    config = adapter_config(data, method="ora", n=4, epochs=1, eval_regroupings=4)
    train_adapter(config, tmp_path / "run", directory, tmp_path / "cache")
    metrics = evaluate_run(config, tmp_path / "run", directory, tmp_path / "cache")
    assert json.loads((tmp_path / "run" / METRICS_FILE).read_text()) == json.loads(json.dumps(metrics))
    predictions = pd.read_csv(tmp_path / "run" / PREDICTIONS_FILE)
    assert len(predictions) == 4 * 37
    assert predictions.groupby("regrouping")["example"].nunique().tolist() == [37] * 4
    per_regrouping = predictions.assign(hit=predictions.prediction == predictions.label).groupby("regrouping").hit.mean()
    assert np.allclose(per_regrouping.to_numpy(), metrics["accuracy"]["per_regrouping"])
    assert metrics["accuracy"]["mean"] == pytest.approx(np.mean(metrics["accuracy"]["per_regrouping"]))
    # The teacher's predictions do not depend on the grouping; the multiplexed ones may.
    assert predictions.groupby("example").teacher_prediction.nunique().max() == 1
    assert metrics["teacher_accuracy"] == pytest.approx((predictions.teacher_prediction == predictions.label).mean())
    assert "selected on the reported set itself" in metrics["paper_style_dev_selected"]["note"]
    # Each answer's probability (two classes: at least one half), and the validation split's answers, one
    # regrouping, for a model selector to learn from without the held-out split.
    assert predictions["confidence"].between(0.5, 1).all()
    validation = pd.read_csv(tmp_path / "run" / VALIDATION_PREDICTIONS_FILE)
    assert validation["regrouping"].unique().tolist() == [0]
    assert validation["example"].is_unique and len(validation) == data.validation_size
    assert validation["confidence"].between(0.5, 1).all()


def test_the_teacher_method_trains_nothing_and_matches_the_teacher(minilm_teacher, tmp_path):
    directory, data, _ = minilm_teacher
    config = adapter_config(data, method="teacher", n=1)
    summary = train_adapter(config, tmp_path / "run", directory, tmp_path / "cache")
    assert summary["trainable_parameters"] == 0
    metrics = evaluate_run(config, tmp_path / "run", directory, tmp_path / "cache")
    assert metrics["accuracy"]["sd"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["accuracy"]["mean"] == pytest.approx(metrics["teacher_accuracy"])


@pytest.mark.parametrize(("overrides", "message"), [
    (dict(prefill_layers=6), r"P = 6 is outside \[0, 6\) for minilm-l6.*choose P from 0 to 5"),
    (dict(prefill_layers=-1), r"outside \[0, 6\)"),
    (dict(n=5), r"choose an N that divides 384"),
    (dict(n=1), r"N >= 2"),
    (dict(method="mux"), r"unknown method 'mux'"),
    (dict(backbone="bert-large"), r"unknown backbone 'bert-large'"),
    (dict(data=DataConfig(task="cola")), r"unknown task 'cola'"),
])
def test_bad_settings_are_refused_before_any_work(overrides, message):
    with pytest.raises(RevmuxError, match=message):
        validate_adapter(adapter_config(**overrides))


def test_training_without_a_teacher_says_to_make_one(tmp_path):
    with pytest.raises(RevmuxError, match="no finished teacher .*revmux teacher"):
        train_adapter(adapter_config(DATA), tmp_path / "run", tmp_path / "missing", tmp_path / "cache")


@pytest.mark.parametrize(("backbone", "mode", "prefill"), [("stories260k", "zero-shot", 2), ("t5-tiny-random", "prompt", 2)])
def test_decoder_and_encoder_decoder_families_run_end_to_end(tmp_path, resources, backbone, mode, prefill):
    data = DataConfig(task="sst-2", train_size=32, validation_size=16, eval_size=16, max_length=24, resources=str(resources))
    info = train_teacher(TeacherConfig(data, backbone, mode=mode, epochs=1, prompt_length=4), tmp_path / "teacher")
    assert info["mode"] == mode
    config = AdapterConfig(data=data, backbone=backbone, method="revmux", n=2, prefill_layers=prefill, epochs=1,
                           batch_size=8, eval_regroupings=2)
    train_adapter(config, tmp_path / "run", tmp_path / "teacher", tmp_path / "cache")
    metrics = evaluate_run(config, tmp_path / "run", tmp_path / "teacher", tmp_path / "cache")
    assert 0.0 <= metrics["accuracy"]["mean"] <= 1.0
    assert metrics["random_init"] == (backbone == "t5-tiny-random")


def test_the_paper_style_figure_is_evaluated_again_only_when_its_weights_differ(minilm_teacher, tmp_path, monkeypatch):
    import revmux.multiplexing.scoring as scoring
    from revmux.multiplexing.train import DEV_SELECTED_ADAPTER_FILE

    directory, data, _ = minilm_teacher
    calls = []
    real_evaluate = scoring.evaluate
    # Held-out evaluations only (3 regroupings): the validation split's answers are one more call, always.
    monkeypatch.setattr(scoring, "evaluate",
                        lambda *args, **kwargs: (args[3] == 3 and calls.append(1)) or real_evaluate(*args, **kwargs))
    config = adapter_config(data, epochs=2, eval_regroupings=3)
    train_adapter(config, tmp_path / "run", directory, tmp_path / "cache")
    weights = {k: v.clone() for k, v in torch.load(tmp_path / "run" / ADAPTER_FILE, weights_only=True).items()}
    torch.save(weights, tmp_path / "run" / DEV_SELECTED_ADAPTER_FILE)  # both selections kept the same weights
    same = evaluate_run(config, tmp_path / "run", directory, tmp_path / "cache")
    assert len(calls) == 1  # the same weights give the same 3 regroupings: evaluated once
    assert same["paper_style_dev_selected"]["per_regrouping"] == same["accuracy"]["per_regrouping"]

    first = next(iter(weights))
    weights[first] = weights[first] + 0.5  # different weights: evaluated on their own
    torch.save(weights, tmp_path / "run" / DEV_SELECTED_ADAPTER_FILE)
    calls.clear()
    evaluate_run(config, tmp_path / "run", directory, tmp_path / "cache")
    assert len(calls) == 2


@pytest.mark.parametrize("n", [2, 4])
def test_length_packed_evaluation_scores_equal_the_protocols_batches(minilm_teacher, tmp_path, n):
    """Packing groups by length changes which groups share a forward pass and how far it is padded,
    not any group's scores: they equal batch-by-batch execution of the protocol up to float noise."""
    from revmux.multiplexing.evaluate import group_logits, groups_of, regrouping_orders
    from revmux.multiplexing.train import build_model, run_features

    directory, data, _ = minilm_teacher
    config = adapter_config(data, n=n, epochs=1, eval_batch_size=6)  # 6: batches end in partial groups at N = 4
    train_adapter(config, tmp_path / "run", directory, tmp_path / "cache")
    model, _ = build_model(config, directory)
    model.multiplexer.load_state_dict(torch.load(tmp_path / "run" / ADAPTER_FILE, weights_only=True))
    model.multiplexer.eval()
    _, features, *_ = run_features(config, model, directory, tmp_path / "cache", ("eval",))
    eval_features = features["eval"]
    order = regrouping_orders(len(eval_features), 1, seed=3)[0]
    packed = group_logits(model, eval_features, groups_of(order, config.eval_batch_size, n))
    protocol = []
    with torch.no_grad():
        for start in range(0, len(order), config.eval_batch_size):
            batch = eval_features.batch(order[start:start + config.eval_batch_size])
            protocol.append(model.finish(batch.hidden, batch.mask, batch.positions).logits)
    protocol = torch.cat(protocol)
    lengths = eval_features.lengths()[torch.as_tensor(order)]
    assert (lengths < lengths.max()).any()  # the set has short examples, so packing does cut padding
    real = ~packed.isnan().any(-1)
    torch.testing.assert_close(packed[real], protocol, rtol=1e-5, atol=1e-5)


def test_a_head_only_teacher_runs_the_frozen_backbone_once_per_example_whatever_its_epochs(tmp_path, resources, monkeypatch):
    # The backbone is frozen and in eval mode, so its answer states are the same every epoch: computed once,
    # more epochs cost the head's work only. Before, every epoch ran the backbone over the training split and
    # again over the validation split.
    import revmux.multiplexing.stage0 as stage0

    rows_through_backbone = []
    real = stage0.teacher_answer_states

    def counting(backbone, tokens):
        states = real(backbone, tokens)
        rows_through_backbone.append(len(states))
        return states

    monkeypatch.setattr(stage0, "teacher_answer_states", counting)
    data = dataclasses.replace(DATA, resources=str(resources))
    info = train_teacher(TeacherConfig(data, "minilm-l6", mode="head", epochs=4, batch_size=16, lr=1e-3), tmp_path)
    assert len(info["history"]) == 5 and info["history"][-1]["train_loss"] > 0
    assert sum(rows_through_backbone) == DATA.train_size + DATA.validation_size + DATA.eval_size
