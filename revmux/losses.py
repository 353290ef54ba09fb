"""Training losses of the adapters, as in the paper: cross-entropy + lambda * InfoNCE + mapping loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F

INFONCE_TEMPERATURE = 0.05


def info_nce(student: torch.Tensor, teacher: torch.Tensor, temperature: float = INFONCE_TEMPERATURE) -> torch.Tensor:
    """Each demuxed state must pick its own instance's teacher state among the batch's (diagonal targets)."""
    logits = F.normalize(student, dim=-1) @ F.normalize(teacher, dim=-1).T / temperature
    return F.cross_entropy(logits, torch.arange(len(student), device=student.device))


def mapping_loss(slot_states: torch.Tensor | None, mask: torch.Tensor) -> torch.Tensor:
    """Mean positive cosine similarity between the slots of a group, where both slots are real tokens.

    slot_states: (G, N, T, k); mask: (G, N, T). Pushes the instances of a composite apart before
    they are mixed (only where they point the same way: the released code meant this sign mask).
    """
    if slot_states is None or slot_states.shape[1] < 2:
        return torch.zeros((), device=mask.device)
    n = slot_states.shape[1]
    first, second = torch.triu_indices(n, n, offset=1)
    similarity = F.cosine_similarity(slot_states[:, first], slot_states[:, second], dim=-1)  # (G, pairs, T)
    both_real = (mask[:, first] * mask[:, second]).to(similarity.dtype)
    return (similarity.clamp(min=0) * both_real).sum() / both_real.sum().clamp(min=1)
