"""A feature shard holds at most its stated bytes of layer-P states, soft prompt included: T5's prompt-tuned
teacher prepends its prompt to every example, so a row is the prompt and up to max-length tokens wide."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch

from revmux.backbones.load import load_backbone
from revmux.backbones.stages import stage_backbone
from revmux.multiplexing.features import FEATURE_BATCH, CachedFeatures, build_features, shard_dir
from revmux.multiplexing.heads import LinearHead
from revmux.multiplexing.methods import build_multiplexer
from revmux.multiplexing.model import MultiplexedModel

PROMPT_LENGTH = 20  # stage 0's default prompt length
MAX_LENGTH = 16
LONG = "a long review of the film, its plot, its music and every one of its actors, scene by scene, to the end"


def _hidden_bytes(shard) -> int:
    with open(shard, "rb") as handle:
        header = json.loads(handle.read(int.from_bytes(handle.read(8), "little")))
    start, end = header["hidden"]["data_offsets"]
    return end - start


def test_shards_with_a_soft_prompt_stay_within_the_shard_size(resources, tmp_path):
    backbone = stage_backbone(load_backbone("t5-tiny-random", resources))
    backbone.set_soft_prompt(torch.randn(PROMPT_LENGTH, backbone.hidden_size, generator=torch.Generator().manual_seed(0)))
    model = MultiplexedModel(backbone, LinearHead(backbone.hidden_size, 2), build_multiplexer("identity", backbone.hidden_size, 1), 2)
    rows = pd.DataFrame({"text_a": [LONG] * (3 * FEATURE_BATCH), "text_b": None, "label": np.arange(3 * FEATURE_BATCH) % 2})
    row_bytes = (PROMPT_LENGTH + MAX_LENGTH) * backbone.hidden_size * 4  # every row is that wide: all are long
    shard_bytes = int(1.5 * FEATURE_BATCH * row_bytes)  # room for one batch of 64 rows, not two
    path = tmp_path / "cache" / "train.json"
    build_features(model, "sst-2", rows, MAX_LENGTH, path, "k", "test", shard_bytes)
    shards = sorted(shard_dir(path).glob("shard-*.safetensors"))
    assert len(shards) == 3
    for shard in shards:
        assert _hidden_bytes(shard) <= shard_bytes
    cached = CachedFeatures(path)
    assert len(cached) == len(rows) and int(cached.lengths().min()) == PROMPT_LENGTH + MAX_LENGTH


def test_a_row_is_max_length_wide_after_any_soft_prompt(resources):
    from revmux.multiplexing.features import widest_row

    backbone = stage_backbone(load_backbone("t5-tiny-random", resources))
    assert widest_row(backbone, MAX_LENGTH) == MAX_LENGTH
    backbone.set_soft_prompt(torch.zeros(PROMPT_LENGTH, backbone.hidden_size))
    assert widest_row(backbone, MAX_LENGTH) == PROMPT_LENGTH + MAX_LENGTH
    assert widest_row(stage_backbone(load_backbone("stories260k")), MAX_LENGTH) == MAX_LENGTH
