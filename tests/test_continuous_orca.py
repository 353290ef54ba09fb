"""hf-continuous-orca: transformers' continuous batching set up as Orca schedules (whole prompts, first come
first served), on stories260K: its greedy tokens equal unbatched `generate`, and no prompt is split."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from revmux.backbones.load import load_backbone
from revmux.batching.anchors.generate_static import generate_greedy
from revmux.batching.engine import Engine
from revmux.batching.serve import records, serve
from revmux.batching.systems import system_class, system_label
from revmux.workloads.traces import Request

MAX_BATCH = 4


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return load_backbone("stories260k", with_tokenizer=False).model


def long_prompt_requests() -> list[Request]:
    """Staggered arrivals, prompts of 20-150 tokens."""
    rng = np.random.default_rng(7)
    arrivals = np.cumsum(rng.exponential(0.004, 10))
    return [Request(f"q{k}", float(t), tuple(int(x) for x in rng.integers(1, 512, int(rng.integers(20, 151)))),
                    int(rng.integers(1, 17))) for k, t in enumerate(arrivals)]


@pytest.fixture
def prompt_splits(monkeypatch):
    """(tokens left to prefill or decode, token budget left) of every request transformers' scheduler places."""
    from transformers.generation.continuous_batching import scheduler

    seen = []
    original = scheduler.Scheduler._schedule_request

    def recording(self, state, request_tokens, token_budget, *args, **kwargs):
        seen.append((len(request_tokens), token_budget))
        return original(self, state, request_tokens, token_budget, *args, **kwargs)

    monkeypatch.setattr(scheduler.Scheduler, "_schedule_request", recording)
    return seen


def test_it_is_registered_with_a_label_that_says_what_it_is():
    assert system_class("hf-continuous-orca").__name__ == "ContinuousOrca"
    label = system_label("hf-continuous-orca")
    assert "Orca" in label and "prefill_first" in label and "no chunked prefill" in label


def test_its_settings_never_chunk_a_prompt(model):
    requests = long_prompt_requests()
    settings = system_class("hf-continuous-orca")(Engine(model), MAX_BATCH).settings(requests)
    longest_prompt = max(len(r.prompt_ids) for r in requests)
    assert settings["scheduler_type"] == "prefill_first" and settings["safety_margin"] == 0.0
    assert settings["max_batch_tokens"] >= MAX_BATCH * longest_prompt
    assert settings["max_requests_per_batch"] == MAX_BATCH and settings["allow_block_sharing"] is False
    # beside the default-configured anchor, only the scheduler settings differ
    default = system_class("hf-continuous")(Engine(model), MAX_BATCH).settings(requests)
    assert {key for key in settings if settings[key] != default.get(key)} == {"scheduler_type", "safety_margin", "max_batch_tokens"}


def test_it_gives_unbatched_greedy_tokens_and_splits_no_prompt(model, prompt_splits):
    requests = long_prompt_requests()
    reference = {r.request: generate_greedy(model, torch.tensor([r.prompt_ids]), torch.ones(1, len(r.prompt_ids), dtype=torch.long),
                                            r.output_tokens, 0)[0].tolist() for r in requests}
    rows, _, arrival = serve("hf-continuous-orca", model, requests, max_batch=MAX_BATCH)
    frame = records(rows, arrival, reference)
    mismatched = frame[~frame["matches_reference"].astype(bool)]
    assert mismatched.empty, mismatched[["request", "first_divergence"]].to_string()
    assert (frame["generated"] == frame["output_tokens"]).all()
    assert prompt_splits and all(tokens <= budget for tokens, budget in prompt_splits)


def test_the_default_configured_anchor_does_split_these_prompts(model, prompt_splits):
    """The check above can see a split: all at once, four of these prompts overflow hf-continuous's
    256-token budget, which splits one."""
    requests = [replace(r, arrival_s=0.0) for r in long_prompt_requests()]
    assert sum(len(r.prompt_ids) for r in requests[:MAX_BATCH]) > 256
    serve("hf-continuous", model, requests, max_batch=MAX_BATCH)
    assert any(tokens > budget for tokens, budget in prompt_splits)
