"""No instance is mixed up with another: permuting the inputs permutes the answers.

With the shared middle [P, L) replaced by the identity (and the answer read without the final norm,
which scales the whole composite vector), RevMUX's demux(mux(u)) recovers every slot exactly, so each
answer depends on its own instance only: permuting the instances of a group must permute the answers.
With the real middle, groups do not see each other: permuting whole groups permutes the answers."""

from __future__ import annotations

import pytest
import torch

from revmux.backbones.load import load_backbone
from revmux.backbones.stages import stage_backbone
from revmux.multiplexing.heads import LinearHead
from revmux.multiplexing.model import MultiplexedModel
from revmux.multiplexing.methods import build_multiplexer

TEXTS = ["a quiet film", "the plot moves far too slowly for me", "great", "an ending nobody saw coming at all",
         "dull", "funny and warm from start to end", "not good", "it works"]


def _model(name, resources, n):
    backbone = stage_backbone(load_backbone(name, resources))
    torch.manual_seed(0)
    multiplexer = build_multiplexer("revmux", backbone.hidden_size, n)
    with torch.no_grad():  # weights far from a fresh init's near-constant outputs, so instances differ clearly
        for parameter in multiplexer.parameters():
            parameter.normal_(0.0, 0.3 / parameter.shape[-1] ** 0.5 if parameter.dim() > 1 else 0.1)
    return MultiplexedModel(backbone, LinearHead(backbone.hidden_size, 2), multiplexer, 2).eval()


def _identity_middle(model, monkeypatch):
    backbone, prefill = model.backbone, model.prefill_layers
    run_layers = backbone.run_layers

    def layers(hidden, mask, start, end):
        return hidden if start == prefill else run_layers(hidden, mask, start, end)

    def plain_answers(hidden, mask, positions):
        rows = torch.arange(hidden.shape[0]).unsqueeze(1)
        return hidden[rows, positions] if backbone.family == "decoder" else hidden[:, :1].expand(-1, positions.shape[1], -1)

    monkeypatch.setattr(backbone, "run_layers", layers)
    monkeypatch.setattr(backbone, "answer_states", plain_answers)


def _answers(model, batch, order):
    picked = type(batch)(*(t[order] if t is not None else None for t in (
        batch.input_ids, batch.attention_mask, batch.answer_positions, batch.token_type_ids)))
    with torch.no_grad():
        return model(picked).answers


@pytest.mark.parametrize("name", ["minilm-l6", "stories260k"])
@pytest.mark.parametrize("n", [2, 4])
def test_permuting_the_instances_of_a_group_permutes_the_answers(resources, monkeypatch, name, n):
    model = _model(name, resources, n)
    _identity_middle(model, monkeypatch)
    batch = model.backbone.tokenize("sst-2", TEXTS, None, 64)  # right-padded: answer positions differ (decoder)
    identity = torch.arange(len(TEXTS))
    within = torch.cat([group.flip(0) for group in identity.split(n)])  # reverse each group
    reference, permuted = _answers(model, batch, identity), _answers(model, batch, within)
    assert torch.allclose(permuted, reference[within], atol=1e-5)
    assert (reference[within] - reference).abs().max() > 100 * (permuted - reference[within]).abs().max()  # it moved


@pytest.mark.parametrize("name", ["minilm-l6", "stories260k"])
def test_permuting_whole_groups_permutes_the_answers_with_the_real_middle(resources, name):
    n = 2
    model = _model(name, resources, n)
    batch = model.backbone.tokenize("sst-2", TEXTS, None, 64)
    groups = torch.arange(len(TEXTS)).split(n)
    swapped = torch.cat([groups[2], groups[0], groups[3], groups[1]])
    reference, permuted = _answers(model, batch, torch.arange(len(TEXTS))), _answers(model, batch, swapped)
    assert torch.allclose(permuted, reference[swapped], atol=1e-4)


@pytest.mark.parametrize("name", ["minilm-l6", "stories260k"])
@pytest.mark.parametrize("n", [2, 4])
def test_an_answer_depends_on_its_own_instance_only(resources, monkeypatch, name, n):
    model = _model(name, resources, n)
    _identity_middle(model, monkeypatch)
    batch = model.backbone.tokenize("sst-2", TEXTS, None, 64)
    # Instance 0 beside its own partners, then beside other partners (of other lengths).
    first, second = torch.arange(n), torch.cat([torch.tensor([0]), torch.arange(n, 2 * n - 1)])
    assert torch.allclose(_answers(model, batch, first)[0], _answers(model, batch, second)[0], atol=1e-5)
