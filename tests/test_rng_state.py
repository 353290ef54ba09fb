"""Checkpointed random state: old CPU-only checkpoints still resume; a GPU one is refused without a GPU."""

from __future__ import annotations

import pytest
import torch

from revmux.core.errors import RevmuxError
from revmux.multiplexing.train import restore_rng_state, rng_state


def test_a_checkpoint_from_before_the_gpu_state_was_saved_still_restores_the_cpu_generator():
    saved = torch.random.get_rng_state()  # what older checkpoints hold under "rng"
    expected = torch.rand(3)
    restore_rng_state(saved)
    assert torch.equal(torch.rand(3), expected)


def test_a_checkpoint_holding_gpu_states_is_refused_on_a_machine_without_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    state = {**rng_state(), "cuda": [torch.zeros(16, dtype=torch.uint8)]}
    with pytest.raises(RevmuxError, match="resume it on a GPU"):
        restore_rng_state(state)
