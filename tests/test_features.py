"""The shared layer-P cache: sharded in the backbone's dtype, read lazily, built atomically."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import revmux.multiplexing.features as features_module
from revmux.backbones.load import load_backbone
from revmux.backbones.stages import stage_backbone
from revmux.core.errors import RevmuxError
from revmux.multiplexing.features import FEATURE_BATCH, CachedFeatures, LiveFeatures, build_features, load_or_build, shard_dir
from revmux.multiplexing.heads import LinearHead
from revmux.multiplexing.model import MultiplexedModel, teacher_answer_states
from revmux.multiplexing.methods import build_multiplexer

WORDS = "the a film plot slow great dull warm ending actor music long short funny sad".split()
MAX_LENGTH = 48


def _rows(count: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(1, 12))) for _ in range(count)]
    return pd.DataFrame({"text_a": texts, "text_b": None, "label": rng.integers(0, 2, count)})


def _model(dtype=torch.float32) -> MultiplexedModel:
    backbone = stage_backbone(load_backbone("stories260k", dtype=dtype))
    return MultiplexedModel(backbone, LinearHead(backbone.hidden_size, 2), build_multiplexer("teacher", backbone.hidden_size, 1), 2)


def _build(model, rows, tmp_path, shard_bytes=features_module.SHARD_BYTES, key="k"):
    path = tmp_path / "cache" / "train.json"
    build_features(model, "sst-2", rows, MAX_LENGTH, path, key, "test", shard_bytes)
    return path


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cached_rows_equal_a_direct_computation_in_the_backbones_dtype(tmp_path, dtype):
    model, rows = _model(dtype), _rows(FEATURE_BATCH)
    cached = CachedFeatures(_build(model, rows, tmp_path))
    direct = LiveFeatures(model, "sst-2", rows, MAX_LENGTH).batch(range(len(rows)))
    got = cached.batch(np.arange(len(rows)))
    assert got.hidden.dtype == dtype and got.teacher.dtype == torch.float32
    assert torch.equal(got.hidden, direct.hidden) and torch.equal(got.mask, direct.mask)
    assert torch.equal(got.teacher, direct.teacher) and torch.equal(got.labels, direct.labels)
    assert torch.equal(got.positions, direct.positions)


def test_shards_are_bounded_and_gathers_across_them_are_right(tmp_path):
    model, rows = _model(), _rows(3 * FEATURE_BATCH + 5)
    row_bytes = MAX_LENGTH * model.backbone.hidden_size * 4
    path = _build(model, rows, tmp_path, shard_bytes=int(1.5 * FEATURE_BATCH * row_bytes))
    cached = CachedFeatures(path)
    shards = sorted(shard_dir(path).glob("shard-*.safetensors"))
    assert len(shards) == 3 and len(cached) == len(rows)  # 64 | 64 | 64 + 5 rows
    for shard in shards:  # each at most the bound (plus its small per-example values)
        assert shard.stat().st_size <= 1.5 * FEATURE_BATCH * row_bytes + FEATURE_BATCH * (model.backbone.hidden_size * 4 + 64) + 1024
    index = np.random.default_rng(1).permutation(len(rows))[:40]  # rows from every shard, shuffled
    got = cached.batch(index)
    live = LiveFeatures(model, "sst-2", rows, MAX_LENGTH)
    for k, row in enumerate(index):
        start = row // FEATURE_BATCH * FEATURE_BATCH  # the batch it was computed in
        direct = live.batch(range(start, min(start + FEATURE_BATCH, len(rows))))
        length = int(direct.mask[row - start].sum())
        assert torch.equal(got.hidden[k, :length], direct.hidden[row - start, :length])
        assert torch.equal(got.teacher[k], direct.teacher[row - start])
        assert int(got.mask[k].sum()) == length and got.labels[k] == rows.label.iloc[row]


def test_the_teacher_continues_from_layer_p_and_equals_the_full_pass():
    model, rows = _model(), _rows(10)
    live = LiveFeatures(model, "sst-2", rows, MAX_LENGTH).batch(range(10))
    from revmux.multiplexing.inputs import tokenize_rows

    with torch.no_grad():
        full = teacher_answer_states(model.backbone, tokenize_rows(model.backbone, "sst-2", rows, MAX_LENGTH))
    assert torch.allclose(live.teacher, full, atol=1e-5)


def test_layers_before_p_run_once_per_example_while_building(tmp_path, monkeypatch):
    model, rows = _model(), _rows(20)
    calls = []
    real = model.backbone.run_layers
    monkeypatch.setattr(model.backbone, "run_layers", lambda h, m, s, e: calls.append((s, e)) or real(h, m, s, e))
    _build(model, rows, tmp_path)
    assert calls == [(0, 2), (2, model.backbone.num_layers)]  # one batch: prefill, then the teacher's rest


def test_a_stale_key_is_rebuilt_and_a_matching_one_reused(tmp_path):
    model, rows = _model(), _rows(8)
    path = tmp_path / "cache" / "train.json"
    build = lambda key: lambda: build_features(model, "sst-2", rows, MAX_LENGTH, path, key, "t")  # noqa: E731
    assert load_or_build(path, "one", build("one"), "cpu")[1] is True
    assert load_or_build(path, "one", build("one"), "cpu")[1] is False
    assert load_or_build(path, "two", build("two"), "cpu")[1] is True


def test_an_interrupted_build_leaves_no_manifest_and_is_rebuilt(tmp_path, monkeypatch):
    model, rows = _model(), _rows(3 * FEATURE_BATCH)
    real, calls = LiveFeatures.batch, []

    def failing(self, index):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, index)

    monkeypatch.setattr(LiveFeatures, "batch", failing)
    path = tmp_path / "cache" / "train.json"
    row_bytes = MAX_LENGTH * model.backbone.hidden_size * 4
    with pytest.raises(KeyboardInterrupt):
        build_features(model, "sst-2", rows, MAX_LENGTH, path, "k", "t", shard_bytes=FEATURE_BATCH * row_bytes)
    assert not path.exists() and any(shard_dir(path).iterdir())  # shards written, but no manifest to trust them
    monkeypatch.setattr(LiveFeatures, "batch", real)
    features, built = load_or_build(path, "k", lambda: build_features(model, "sst-2", rows, MAX_LENGTH, path, "k", "t"), "cpu")
    assert built and len(features) == len(rows)


def test_a_truncated_or_missing_shard_is_named_with_the_fix(tmp_path):
    model, rows = _model(), _rows(8)
    path = _build(model, rows, tmp_path)
    shard = next(shard_dir(path).glob("shard-*.safetensors"))
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(RevmuxError, match=f"{shard}: truncated feature shard; delete {path}"):
        CachedFeatures(path)
    shard.unlink()
    with pytest.raises(RevmuxError, match=f"{shard}: feature shard missing; delete {path}"):
        CachedFeatures(path)
