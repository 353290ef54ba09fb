"""Selective batching (Orca, OSDI '22): one forward pass over a packed run of tokens from several requests,
with no padding anywhere. Newcomers' whole prompts and running requests' single decode tokens are
concatenated into one sequence; every layer outside attention (projections, MLP, norms) sees them as one
batch, and attention runs request by request, each request's queries over its own keys and values only.

The keys and values live in one buffer per request and layer, reserved when it is admitted for its
prompt plus the longest output it may produce (Orca reserves a request's maximum length up front, not
knowing its output length), so a pass writes its new keys in place: nothing is spliced, padded or copied
when requests join or leave. The buffers are zero-filled, so the reservation is resident (host RSS counts
only written pages) and the measured memory holds all of it, as a device allocator's would.

How it plugs into transformers: an attention function registered under `ATTENTION` receives the packed
queries, keys and values of one layer (after RoPE, which the packed position ids make per request) and a
`PackedPlan` passed as a forward keyword; per request it calls transformers' own `sdpa_attention_forward`,
the function unbatched `generate` uses, so the arithmetic per request is the reference's. The model keeps
its usual attention outside `packed_attention` (the implementation is switched for the pass only).

A bias against this system on a CPU: attention is one call per request and layer, where a real Orca runs
one variable-length kernel (FlashAttention's varlen) per layer, and torch has none on the CPU. Nested
(jagged) tensors with `F.scaled_dot_product_attention` (torch 2.13, CPU) refuse grouped-query keys (their
matmul does not broadcast the head groups); with the key heads repeated they run, about 0.3 s for 8
decode queries, and differ from the per-request result in the last bits. A hand-made variable-length
attention would need every request's keys in one tensor, which means copying the whole cache every pass.
Decode segments with equal pasts could share a call, but such pasts are rare. Measured on the development
CPU (1 thread, shared with other jobs): a call costs about 20 µs even over one key (8 µs of it in torch's
sdpa); on SmolLM2-135M decoding 8 requests with pasts of 200-290 tokens, the 8 calls take 0.93 ms a layer
where one padded batched call takes 0.55 ms, about 11 ms of a 227 ms step (5%; 3.5% on 2 threads).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface

ATTENTION = "revmux_packed"


@dataclass
class Segment:
    """One request's run of tokens in the packed sequence."""
    slot: "KVSlot"
    start: int  # first index in the packed sequence
    length: int  # its tokens in this pass (the prompt, or 1 when decoding)


class KVSlot:
    """One request's keys and values for every layer, preallocated to `capacity` positions."""

    def __init__(self, layers: int, kv_heads: int, head_dim: int, capacity: int, dtype: torch.dtype, device):
        shape = (1, kv_heads, capacity, head_dim)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)]
        self.filled = 0  # positions written (the same in every layer once a pass is done)

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.keys + self.values)


@dataclass
class PackedPlan:
    segments: list[Segment]


def _packed_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, packed_plan=None, **kwargs):
    """Attention for one layer of a packed pass: each segment's queries over its own request's keys."""
    if packed_plan is None:  # not a packed pass (e.g. a generate() call while switched): the library's sdpa
        return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)
    layer = module.layer_idx
    outputs = []
    for segment in packed_plan.segments:
        slot, end = segment.slot, segment.start + segment.length
        past = slot.filled
        slot.keys[layer][:, :, past:past + segment.length] = key[:, :, segment.start:end]
        slot.values[layer][:, :, past:past + segment.length] = value[:, :, segment.start:end]
        keys = slot.keys[layer][:, :, :past + segment.length]
        values = slot.values[layer][:, :, :past + segment.length]
        # a prompt attends causally to itself (sdpa's is_causal, as in unbatched prefill); one decode token
        # attends to its whole past
        output, _ = sdpa_attention_forward(module, query[:, :, segment.start:end], keys, values, None,
                                           scaling=scaling, dropout=dropout)
        outputs.append(output)
    return torch.cat(outputs, dim=1), None


def _no_mask(*args, **kwargs):
    """Packed passes build no mask: attention separates the requests itself."""
    return None


AttentionInterface.register(ATTENTION, _packed_attention)
AttentionMaskInterface.register(ATTENTION, _no_mask)


@contextmanager
def packed_attention(model):
    """The model attends with `_packed_attention` inside the block, with its own implementation again after."""
    previous = model.config._attn_implementation
    model.set_attn_implementation(ATTENTION)
    try:
        yield
    finally:
        model.set_attn_implementation(previous)


def new_slot(model, capacity: int) -> KVSlot:
    config = model.config
    parameter = next(model.parameters())
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return KVSlot(config.num_hidden_layers, config.num_key_value_heads, head_dim, capacity, parameter.dtype, parameter.device)


def packed_forward(model, segments: list[tuple[KVSlot, list[int]]]) -> torch.Tensor:
    """One pass over every (slot, new tokens) pair packed into a single sequence; returns each segment's
    greedy next token. Advances each slot by its tokens."""
    ids, positions, plan, last = [], [], [], []
    for slot, tokens in segments:
        plan.append(Segment(slot, len(ids), len(tokens)))
        ids.extend(tokens)
        positions.extend(range(slot.filled, slot.filled + len(tokens)))
        last.append(len(ids) - 1)
    device = next(model.parameters()).device
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids], device=device), position_ids=torch.tensor([positions], device=device),
                    use_cache=False, logits_to_keep=torch.tensor(last, device=device), packed_plan=PackedPlan(plan))
    for segment in plan:
        segment.slot.filled += segment.length
    return out.logits[0].argmax(-1)
