"""The training losses on hand-made tensors: values, gradients, masks."""

from __future__ import annotations

import math

import pytest
import torch

from revmux.multiplexing.losses import mapping_loss


def _two_slots(cos: float) -> torch.Tensor:
    """One group, two slots, one position: unit vectors whose cosine is `cos`."""
    angle = math.acos(cos)
    first = torch.tensor([1.0, 0.0])
    second = torch.tensor([math.cos(angle), math.sin(angle)])
    return torch.stack([first, second]).view(1, 2, 1, 2).clone().requires_grad_(True)


def test_released_variant_is_the_absolute_cosine_and_positive_cos_ignores_slots_pointing_apart():
    mask = torch.ones(1, 2, 1)
    assert mapping_loss(_two_slots(-0.6), mask, "released").item() == pytest.approx(0.6)
    assert mapping_loss(_two_slots(-0.6), mask, "positive-cos").item() == pytest.approx(0.0)
    assert mapping_loss(_two_slots(0.6), mask, "released").item() == pytest.approx(0.6)
    assert mapping_loss(_two_slots(0.6), mask, "positive-cos").item() == pytest.approx(0.6)


def test_released_variant_gives_each_slot_half_the_gradient():
    mask = torch.ones(1, 2, 1)
    released, full = _two_slots(0.6), _two_slots(0.6)
    mapping_loss(released, mask, "released").backward()
    mapping_loss(full, mask, "positive-cos").backward()
    # Two stop-gradient halves averaged: each slot receives half of d cos / d slot.
    assert torch.allclose(released.grad, full.grad / 2, atol=1e-6)
    assert released.grad.abs().sum() > 0


def test_positions_where_either_slot_is_padding_are_ignored():
    states = torch.cat([_two_slots(0.6).detach(), _two_slots(-1.0).detach()], dim=2)  # (1, 2, 2, 2)
    mask = torch.tensor([[[1.0, 1.0], [1.0, 0.0]]])  # slot 1's second position is padding
    assert mapping_loss(states, mask, "released").item() == pytest.approx(0.6)


def test_an_unknown_variant_is_refused():
    with pytest.raises(ValueError, match="unknown mapping loss"):
        mapping_loss(_two_slots(0.5), torch.ones(1, 2, 1), "cosine")
