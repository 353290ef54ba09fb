"""T5's alternatives to multiplexing (truncation, an int8 backbone) are evaluated on features that the model
computes itself; T5's teacher is prompt-tuned, so every row of those features starts with its soft prompt."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from revmux.backbones.load import load_backbone
from revmux.backbones.quantization import quantize
from revmux.backbones.stages import stage_backbone
from revmux.core import layout
from revmux.multiplexing.config import AdapterConfig, DataConfig, TeacherConfig
from revmux.multiplexing.features import FEATURE_BATCH, MemoryFeatures
from revmux.multiplexing.heads import LinearHead
from revmux.multiplexing.inputs import tokenize_rows
from revmux.multiplexing.methods import build_multiplexer
from revmux.multiplexing.model import MultiplexedModel, teacher_answer_states
from revmux.multiplexing.scoring import evaluate_alternative
from revmux.multiplexing.stage0 import train_teacher

PROMPT_LENGTH = 5
MAX_LENGTH = 12  # shorter than many rt-polarity reviews: their rows are the prompt and MAX_LENGTH tokens


def _prompted_t5(resources) -> MultiplexedModel:
    backbone = stage_backbone(load_backbone("t5-tiny-random", resources))
    backbone.set_soft_prompt(torch.randn(PROMPT_LENGTH, backbone.hidden_size, generator=torch.Generator().manual_seed(0)))
    head = LinearHead(backbone.hidden_size, 2)
    return MultiplexedModel(backbone, head, build_multiplexer("identity", backbone.hidden_size, 1), backbone.num_layers)


def test_memory_features_keep_the_soft_prompt_and_every_token_of_the_longest_rows(resources):
    model = _prompted_t5(resources)
    texts = ["a long review of the film, its plot, its music and every one of its actors, scene by scene", "short"]
    rows = pd.DataFrame({"text_a": texts * (FEATURE_BATCH // 2 + 1), "text_b": None, "label": [0, 1] * (FEATURE_BATCH // 2 + 1)})
    features = MemoryFeatures(model, "sst-2", rows, MAX_LENGTH, "test")
    assert int(features.lengths().max()) == PROMPT_LENGTH + MAX_LENGTH
    batch = features.batch(np.arange(len(rows)))
    assert batch.hidden.shape[1] == batch.mask.shape[1] == PROMPT_LENGTH + MAX_LENGTH
    with torch.no_grad():
        direct = teacher_answer_states(model.backbone, tokenize_rows(model.backbone, "sst-2", rows, MAX_LENGTH))
        scored = model.finish(batch.hidden, batch.mask, batch.positions).answers
    assert torch.allclose(scored, direct, atol=1e-5)


@pytest.mark.parametrize("name", ["t5-tiny-random", "stories260k"])
def test_label_words_score_on_an_int8_backbone_with_its_int8_rows(resources, name):
    backbone = stage_backbone(load_backbone(name, resources))
    ids, answer = torch.tensor([5, 7]), torch.randn(3, backbone.hidden_size, generator=torch.Generator().manual_seed(0))
    exact = backbone.label_logits(answer, ids)
    quantize(backbone, "int8")
    approximate = backbone.label_logits(answer, ids)
    int8_rows = backbone.model.lm_head.weight()[ids].dequantize()
    assert approximate.shape == exact.shape and not torch.equal(approximate, exact) and torch.allclose(approximate, exact, atol=0.1 * exact.abs().max().item())
    config = backbone.model.config
    scale = config.d_model ** -0.5 if getattr(config, "scale_decoder_outputs", False) else 1.0  # T5's
    assert torch.allclose(approximate, scale * answer @ int8_rows.T, atol=1e-5)


@pytest.mark.parametrize("method", ["identity+int8", "truncate"])
def test_t5_truncation_and_int8_evaluate_with_the_prompt_tuned_teacher(resources, tmp_path, method):
    data = DataConfig(task="rt-polarity", resources=str(resources), max_length=MAX_LENGTH,
                      train_size=16, validation_size=16, eval_size=24)
    teacher_dir = tmp_path / "teacher"
    train_teacher(TeacherConfig(data, "t5-tiny-random", mode="prompt", epochs=1, prompt_length=PROMPT_LENGTH), teacher_dir)
    n, p = (1, 2) if method == "identity+int8" else (2, 2)
    if method == "truncate":
        truncation_dir = tmp_path / "runs" / layout.RUN_NAME.format(method="truncate", n=n, p=p, seed=0)
        made = train_teacher(TeacherConfig(data, "t5-tiny-random", mode="prompt", epochs=1, prompt_length=PROMPT_LENGTH,
                                           truncate=(n, p)), truncation_dir)
        assert made["truncation"]["depth"] < 4
    config = AdapterConfig(data, "t5-tiny-random", method, n, p, eval_regroupings=2, eval_batch_size=8)
    out = tmp_path / "runs" / config.run_name
    out.mkdir(parents=True, exist_ok=True)
    metrics = evaluate_alternative(config, out, teacher_dir)
    assert 0.0 <= metrics["accuracy"]["mean"] <= 1.0 and len(metrics["accuracy"]["per_regrouping"]) == 2
    assert json.loads((out / layout.METRICS).read_text())["accuracy"] == metrics["accuracy"]
