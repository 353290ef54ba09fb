"""Orca's selective batching (`orca`) on stories260K: one packed pass per iteration with no padding in the
queries or the keys, each request attending over its own keys only, and unbatched greedy tokens."""

from __future__ import annotations

import pytest
import torch

from revmux.backbones.load import load_backbone
from revmux.batching import packed
from revmux.batching.serve import records, serve
from revmux.workloads.traces import Request
from tests.test_batching import make_requests, reference_tokens


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return load_backbone("stories260k", with_tokenizer=False).model


@pytest.mark.parametrize("spacing_s", [0.0, 0.004])
def test_orca_pays_no_padding_in_queries_or_keys(model, monkeypatch, spacing_s):
    """Every attention call is one request's queries over exactly its own positions so far; the counters
    equal what the calls did, and every query slot is a real token."""
    requests = make_requests(14, seed=1, spacing_s=spacing_s)
    calls = []
    library_sdpa = packed.sdpa_attention_forward

    def watched(module, query, key, value, attention_mask, **kwargs):
        calls.append((query.shape[2], key.shape[2]))
        return library_sdpa(module, query, key, value, attention_mask, **kwargs)

    monkeypatch.setattr(packed, "sdpa_attention_forward", watched)
    reference = reference_tokens(model, requests)  # before watching would count generate's calls too
    calls.clear()
    rows, counters, arrival = serve("orca", model, requests, max_batch=4)
    frame = records(rows, arrival, reference)
    assert frame["matches_reference"].all()
    layers = model.config.num_hidden_layers
    # a prompt attends over itself (keys = queries), a decode token over its whole past (one query)
    assert all(keys == queries for queries, keys in calls if queries > 1)
    assert sum(queries * keys for queries, keys in calls) == layers * counters["executed_kv_slots"]
    assert counters["executed_kv_slots"] == counters["useful_kv_slots"]
    # queries: each prompt once, then one token per output token after the first
    real = sum(len(r.prompt_ids) + r.output_tokens - 1 for r in requests)
    assert counters["executed_slots"] == counters["useful_slots"] == real
    assert sum(queries for queries, _ in calls) == layers * real
    # each request's keys are written in place into its reserved buffer: no re-layout and no cache growth
    assert counters["copied_bytes"] == 0 and counters["splices"] == 0 and counters["cache_growth_bytes"] == 0


def test_a_newcomer_joins_a_running_request_mid_decode_without_touching_its_keys(model):
    """A long prompt packed with a request three tokens into its decode: both keep unbatched greedy
    tokens, and the running request's keys so far are left as they were (nothing is re-laid out)."""
    running, newcomer = list(range(5, 14)), list(range(40, 70))
    expected = {name: reference_tokens(model, [Request(name, 0.0, tuple(prompt), 8)])[name]
                for name, prompt in (("running", running), ("newcomer", newcomer))}
    first, second = packed.new_slot(model, len(running) + 8), packed.new_slot(model, len(newcomer) + 8)
    got = {"running": [], "newcomer": []}
    with packed.packed_attention(model):
        got["running"].append(int(packed.packed_forward(model, [(first, running)])[0]))
        for _ in range(3):
            got["running"].append(int(packed.packed_forward(model, [(first, [got["running"][-1]])])[0]))
        before = [keys[:, :, :first.filled].clone() for keys in first.keys]
        both = packed.packed_forward(model, [(first, [got["running"][-1]]), (second, newcomer)]).tolist()
        got["running"].append(both[0])
        got["newcomer"].append(both[1])
        assert all(torch.equal(old, keys[:, :, :len(old[0, 0])]) for old, keys in zip(before, first.keys))
        while len(got["newcomer"]) < 8:
            segments = [(second, [got["newcomer"][-1]])] + ([(first, [got["running"][-1]])] if len(got["running"]) < 8 else [])
            tokens = packed.packed_forward(model, segments).tolist()
            got["newcomer"].append(tokens[0])
            if len(tokens) > 1:
                got["running"].append(tokens[1])
    assert got == expected


def test_the_model_attends_as_before_after_an_orca_run(model):
    serve("orca", model, make_requests(3, seed=2, spacing_s=0.0), max_batch=2)
    assert model.config._attn_implementation != packed.ATTENTION


@pytest.mark.parametrize("concurrency", [None, 2])
def test_each_request_reserves_its_prompt_plus_the_longest_output_of_the_trace(model, monkeypatch, concurrency):
    """Orca does not know a request's output length when it admits it: every buffer holds the request's
    prompt plus the most any request of the trace generates, whatever its own output."""
    from revmux.batching.schedulers import orca

    requests = [Request(f"q{k}", 0.0, tuple(range(5, 5 + prompt)), output)
                for k, (prompt, output) in enumerate([(3, 2), (9, 11), (4, 5), (6, 1)])]
    reserved = []

    def watched(model, capacity):
        slot = packed.new_slot(model, capacity)
        reserved.append(slot.keys[0].shape[2])
        return slot

    monkeypatch.setattr(orca, "new_slot", watched)
    rows, _, _ = serve("orca", model, requests, max_batch=2, concurrency=concurrency)
    assert sorted(reserved) == sorted(len(r.prompt_ids) + 11 for r in requests)
    assert all(len(row.tokens) == row.request.output_tokens for row in rows)
