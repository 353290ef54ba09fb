"""The multiplexed forward pass: prefill per instance, mux, shared layers, demux, frozen head."""

from __future__ import annotations

import torch
from torch import nn

from dataclasses import dataclass

from revmux.backbones.stages import StagedBackbone, TokenBatch
from revmux.multiplexing.methods.base import Multiplexer


@dataclass
class MuxOutput:
    answers: torch.Tensor  # (B, d) demultiplexed answer states
    logits: torch.Tensor  # (B, C)
    slot_states: torch.Tensor | None  # (G, N, T, k) per-slot states before mixing, for the mapping loss
    instance_mask: torch.Tensor  # (G, N, T), zero for padding positions and padding instances


class MultiplexedModel(nn.Module):
    """Layers [0, P) run per instance (`prefill`); groups of N consecutive instances are muxed, layers
    [P, L) run once per composite, and only the answer states are demultiplexed and scored (`finish`).
    A batch that is not a multiple of N is padded with all-zero instances that are never scored."""

    def __init__(self, backbone: StagedBackbone, head: nn.Module, multiplexer: Multiplexer, prefill_layers: int):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.multiplexer = multiplexer
        self.prefill_layers = prefill_layers

    def prefill(self, batch: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
        hidden, mask = self.backbone.embed(batch)
        return self.backbone.run_layers(hidden, mask, 0, self.prefill_layers), mask

    def finish(self, hidden: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor) -> MuxOutput:
        """Answer states and class scores of every instance from its layer-P states (B, T, d)."""
        n = self.multiplexer.n
        size, length, width = hidden.shape
        padding = (-size) % n
        if padding:
            hidden = torch.cat([hidden, hidden.new_zeros(padding, length, width)])
            mask = torch.cat([mask, mask.new_zeros(padding, length)])
            positions = torch.cat([positions, positions.new_zeros(padding)])
        groups = (size + padding) // n
        instance_mask = mask.view(groups, n, length)
        # Padded positions carry no state into the mix; the composite attends where any instance is real.
        # The multiplexer trains in float32 whatever the backbone computes in (bfloat16 LLaMA on GPUs):
        # cast at the boundaries, into float32 for mux and demux, back to the backbone's dtype for its layers.
        states = hidden.float().view(groups, n, length, width) * instance_mask.unsqueeze(-1).float()
        composite = self.multiplexer.mux(states).to(self.backbone.dtype)
        composite_mask = instance_mask.amax(dim=1)
        composite = self.backbone.run_layers(composite, composite_mask, self.prefill_layers, self.backbone.num_layers)
        at_answers = self.backbone.answer_states(composite, composite_mask, positions.view(groups, n)).float()
        demuxed = self.multiplexer.demux(at_answers.reshape(groups * n, width)).view(groups, n, n, width)
        # Row k of group g was demuxed at slot k's answer position; keep slot k of it.
        answers = demuxed.diagonal(dim1=1, dim2=2).permute(0, 2, 1).reshape(groups * n, width)[:size]
        return MuxOutput(answers, self.head(answers), self.multiplexer.slot_states, instance_mask)

    def forward(self, batch: TokenBatch) -> MuxOutput:
        hidden, mask = self.prefill(batch)
        return self.finish(hidden, mask, batch.answer_positions)


def answer_states_from(backbone: StagedBackbone, hidden: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor,
                       start: int, end: int | None = None) -> torch.Tensor:
    """The un-multiplexed model's answer states (B, d) from its states after layer `start`, running layers up to
    `end` (default: all), in float32 like everything trained on them."""
    hidden = backbone.run_layers(hidden, mask, start, backbone.num_layers if end is None else end)
    return backbone.answer_states(hidden, mask, positions.unsqueeze(1))[:, 0].float()


def teacher_answer_states(backbone: StagedBackbone, batch: TokenBatch) -> torch.Tensor:
    """The frozen, un-multiplexed model's answer states (B, d)."""
    hidden, mask = backbone.embed(batch)
    return answer_states_from(backbone, hidden, mask, batch.answer_positions, 0)
