"""Training losses of the adapters, as in the paper: cross-entropy + lambda * InfoNCE + mapping loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

INFONCE_TEMPERATURE = 0.05


def info_nce(student: torch.Tensor, teacher: torch.Tensor, temperature: float = INFONCE_TEMPERATURE) -> torch.Tensor:
    """Each demuxed state must pick its own instance's teacher state among the batch's (diagonal targets)."""
    logits = F.normalize(student, dim=-1) @ F.normalize(teacher, dim=-1).T / temperature
    return F.cross_entropy(logits, torch.arange(len(student), device=student.device))


def mapping_loss(slot_states: torch.Tensor | None, mask: torch.Tensor, variant: str = "released") -> torch.Tensor:
    """Cosine similarity between the slots of a group before they are mixed, pushing instances apart;
    averaged over every pair of slots and every position where both slots hold a real token.

    slot_states: (G, N, T, k); mask: (G, N, T). Variants:
    - `released`: abs(cos), each pair as the mean of two halves with the other slot detached, so each slot
      gets half the gradient. This is what the released code's sign mask aims at (it meant to fill -1
      where cos < 0, but indexes positions 0/1 instead); it normalises per pair by one slot's token
      count, we by the positions where both are real.
    - `positive-cos`: max(cos, 0) with the full gradient on both slots (slots pointing apart are left alone).
    """
    if slot_states is None or slot_states.shape[1] < 2:
        return torch.zeros((), device=mask.device)
    n = slot_states.shape[1]
    first, second = torch.triu_indices(n, n, offset=1)
    left, right = slot_states[:, first], slot_states[:, second]
    if variant == "released":
        similarity = (F.cosine_similarity(left, right.detach(), dim=-1).abs()
                      + F.cosine_similarity(left.detach(), right, dim=-1).abs()) / 2
    elif variant == "positive-cos":
        similarity = F.cosine_similarity(left, right, dim=-1).clamp(min=0)
    else:
        raise ValueError(f"unknown mapping loss {variant!r}")
    both_real = (mask[:, first] * mask[:, second]).to(similarity.dtype)  # (G, pairs, T)
    return (similarity * both_real).sum() / both_real.sum().clamp(min=1)
