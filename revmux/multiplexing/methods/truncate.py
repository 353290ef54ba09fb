"""Truncation at equal compute: the backbone cut after its first k layers, with its own stage 0 (the
teacher's recipe on layers [0, k) and the head), the baseline a multiplexer must beat at the same cost.

A truncate run is named like any other, `truncate-n<N>-p<P>`: with N >= 2 it keeps the depth whose counted
FLOPs per sample are closest to RevMUX's with N instances per composite at P (ties go to the deeper model);
with N = 1, P is the depth itself. `truncation_depth` is the one place that rule lives: the stage-0 job
and the timing job both ask it, on the same shapes, so they keep the same layers.
"""

from __future__ import annotations

import torch

from revmux.multiplexing.methods import METHODS, build_multiplexer
from revmux.multiplexing.methods.base import Multiplexer

MATCHED_METHOD = "revmux"  # the multiplexer whose counted cost the truncated model matches


@METHODS.register
class Truncate(Multiplexer):
    name = "truncate"
    multiplexes = False
    trains_backbone = True

    def mux(self, states):
        return states[:, 0]

    def demux(self, composite):
        return composite.unsqueeze(1)


def depth_flops(backbone, batch, depth: int) -> float:
    """FLOPs per sample of the first `depth` layers and the answer states (the head is left out on both sides)."""
    from revmux.measure.flops import count_flops
    from revmux.multiplexing.model import answer_states_from

    def run():
        hidden, mask = backbone.embed(batch)
        answer_states_from(backbone, hidden, mask, batch.answer_positions, 0, depth)

    with torch.inference_mode():
        return count_flops(run) / len(batch.input_ids)


def matched_flops(backbone, batch, n: int, prefill_layers: int) -> float:
    """FLOPs per sample of MATCHED_METHOD at (N, P): per-instance prefix, multiplexer, shared suffix, demux."""
    from revmux.measure.flops import count_flops
    from revmux.multiplexing.model import MultiplexedModel

    multiplexer = build_multiplexer(MATCHED_METHOD, backbone.hidden_size, n).to(backbone.device).eval()
    model = MultiplexedModel(backbone, torch.nn.Identity(), multiplexer, prefill_layers)
    with torch.inference_mode():
        return count_flops(lambda: model(batch)) / len(batch.input_ids)


def truncation_depth(backbone, n: int, prefill_layers: int, length: int) -> tuple[int, dict]:
    """(layers to keep, how they were chosen) for the run `truncate-n<N>-p<P>`, counted on random token ids of
    `length` (N of them, one composite; FLOPs do not depend on the values)."""
    if n == 1:
        return prefill_layers, {"rule": "N = 1: P is the depth"}
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, backbone.model.config.vocab_size, (n, length), generator=generator)
    batch = backbone.token_batch(ids, torch.ones(n, length, dtype=torch.long))
    target = matched_flops(backbone, batch, n, prefill_layers)
    per_depth = {depth: depth_flops(backbone, batch, depth) for depth in range(1, backbone.num_layers + 1)}
    depth = min(per_depth, key=lambda k: (abs(per_depth[k] - target), -k))
    return depth, {
        "rule": f"counted FLOPs per sample closest to {MATCHED_METHOD} N={n} P={prefill_layers}",
        "length": length, "target_flops": target, "flops_per_depth": per_depth,
    }
