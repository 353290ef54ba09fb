"""The backbone's compute dtype: chosen in one place, used by every stage, adapters trained in float32."""

from __future__ import annotations

import pytest
import torch

from revmux.backbones.load import load_backbone
from revmux.backbones import resolve_backbone
from revmux.backbones.load import compute_dtype
from revmux.backbones.stages import stage_backbone
from revmux.core.errors import RevmuxError
from revmux.multiplexing.heads import LinearHead
from revmux.multiplexing.losses import info_nce
from revmux.multiplexing.model import MultiplexedModel, teacher_answer_states
from revmux.multiplexing.methods import build_multiplexer


@pytest.mark.parametrize(("backbone", "device", "requested", "expected"), [
    ("llama-3-8b-random", "cuda", "auto", torch.bfloat16),   # the paper's LLaMA setting
    ("llama-3-8b-random", "cpu", "auto", torch.float32),
    ("bert-base-uncased-random", "cuda", "auto", torch.float32),
    ("t5-small-random", "cuda", "auto", torch.float32),
    ("stories260k", "cpu", "bfloat16", torch.bfloat16),
    ("stories260k", "cuda", "float16", torch.float16),
])
def test_compute_dtype_resolution(backbone, device, requested, expected):
    assert compute_dtype(resolve_backbone(backbone), device, requested) == expected


def test_float16_on_a_cpu_and_unknown_names_are_refused():
    with pytest.raises(RevmuxError, match="float16 needs a GPU"):
        compute_dtype(resolve_backbone("stories260k"), "cpu", "float16")
    with pytest.raises(RevmuxError, match="unknown dtype 'fp8'"):
        compute_dtype(resolve_backbone("stories260k"), "cpu", "fp8")


def test_a_bfloat16_llama_trains_float32_adapters():
    backbone = stage_backbone(load_backbone("stories260k", dtype=torch.bfloat16))
    assert backbone.dtype == torch.bfloat16
    torch.manual_seed(0)
    head = LinearHead(backbone.hidden_size, 2)
    model = MultiplexedModel(backbone, head, build_multiplexer("revmux", backbone.hidden_size, 2), 2)
    ids = torch.randint(3, backbone.model.config.vocab_size, (4, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    batch = backbone.token_batch(ids, mask)
    output = model(batch)
    teacher = teacher_answer_states(backbone, batch)
    assert output.answers.dtype == torch.float32 and teacher.dtype == torch.float32
    loss = torch.nn.functional.cross_entropy(output.logits, torch.tensor([0, 1, 0, 1])) + info_nce(output.answers, teacher)
    loss.backward()
    grads = [p.grad for p in model.multiplexer.parameters()]
    assert all(g is not None and g.dtype == torch.float32 for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in backbone.parameters())


def test_every_stage_loads_the_backbone_in_the_teachers_dtype(tmp_path, monkeypatch, resources):
    import revmux.multiplexing.stage0
    from revmux.multiplexing.config import AdapterConfig, DataConfig, TeacherConfig
    from revmux.multiplexing.train import build_model

    seen = []
    real = revmux.multiplexing.stage0.load_backbone
    monkeypatch.setattr(revmux.multiplexing.stage0, "load_backbone", lambda *a, **k: seen.append(a[2]) or real(*a, **k))
    data = DataConfig(task="sst-2", train_size=16, validation_size=8, eval_size=8, max_length=16, resources=str(resources))
    info = revmux.multiplexing.stage0.train_teacher(TeacherConfig(data, "stories260k", mode="zero-shot", dtype="bfloat16"), tmp_path)
    assert info["dtype"] == "bfloat16"
    model, _ = build_model(AdapterConfig(data, "stories260k", "revmux", 2, 2), tmp_path)
    assert seen == [torch.bfloat16, torch.bfloat16]  # stage 0, then the training/evaluation model
    assert model.backbone.dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in model.multiplexer.parameters())
