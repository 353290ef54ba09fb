"""Key/value accounting of the generation track, on stories260K: the key/value slots each forward pass spans
and the useful ones among them, the bytes each cache re-layout writes and the bytes the DynamicCache writes as
it grows, hand-computed per engine operation;
what the schedulers and anchors report from them; and the serving process's peak above the loaded model."""

from __future__ import annotations

import json

import pytest
import torch
from test_batching import make_requests, model  # noqa: F401  (model: the shared stories260K fixture)

from revmux.batching.engine import Engine, Row
from revmux.batching.serve import records, serve, summarize
from revmux.workloads.traces import Request


def _rows(*prompt_lengths: int, output_tokens: int = 8) -> list[Row]:
    return [Row(Request(f"r{k}", 0.0, tuple(range(5, 5 + length)), output_tokens)) for k, length in enumerate(prompt_lengths)]


def _column_bytes(model) -> int:
    """Bytes of keys and values one row holds per cache column, over every layer."""
    config = model.config
    return 2 * config.num_hidden_layers * config.num_key_value_heads * config.head_dim * model.dtype.itemsize


def _cache_bytes(batch) -> int:
    return sum(layer.keys.nbytes + layer.values.nbytes for layer in batch.cache.layers)


def _kv(engine: Engine) -> tuple[int, int, int]:
    counters = engine.counters
    return counters.executed_kv_slots, counters.useful_kv_slots, counters.copied_bytes


def test_a_left_padded_prefill_spans_every_padded_key_and_uses_each_prompts_own(model):
    engine = Engine(model)
    engine.prefill(_rows(3, 5))
    # 2 rows x 5 queries x 5 keys; useful: each prompt's queries over its own keys (causal masking is not waste)
    assert _kv(engine) == (2 * 5 * 5, 3 * 3 + 5 * 5, 0)
    assert (engine.counters.executed_slots, engine.counters.useful_slots) == (10, 8)


def test_a_decode_step_spans_the_padded_cache_and_uses_each_rows_real_keys(model):
    engine = Engine(model)
    batch = engine.prefill(_rows(3, 5))
    before = _kv(engine)
    engine.decode(batch)
    executed, useful, copied = (now - then for now, then in zip(_kv(engine), before))
    assert (executed, useful, copied) == (2 * 1 * 6, (3 + 1) + (5 + 1), 0)


def _growth(engine: Engine) -> int:
    return engine.counters.cache_growth_bytes


def test_every_pass_through_a_dynamic_cache_writes_the_whole_cache_again(model):
    """DynamicCache grows by concatenation: a pass writes every column of its cache after the pass, padding
    included, not only its new ones."""
    engine, column = Engine(model), _column_bytes(model)
    batch = engine.prefill(_rows(3, 5))
    assert _growth(engine) == 2 * 5 * column == _cache_bytes(batch)
    engine.decode(batch)
    engine.decode(batch)
    assert _growth(engine) == 2 * (5 + 6 + 7) * column
    # a joint pass grows the re-laid-out cache (3 rows x 7 columns) by the newcomer's 4 query columns
    before = _growth(engine)
    engine.joint_step(batch, _rows(4), compact=False)
    assert _growth(engine) - before == 3 * 11 * column
    assert engine.counters.copied_bytes == 3 * 7 * column  # the re-layout is counted apart


def test_a_cache_built_from_fresh_tensors_holds_them_without_another_copy(model):
    """The one copy of a re-layout is the one its caller makes; the cache must not write every byte again."""
    engine = Engine(model)
    batch = engine.prefill(_rows(3, 5))
    layers = [(layer.keys, layer.values) for layer in batch.cache.layers]
    cache = engine._cache(layers)
    assert all(built.keys.data_ptr() == keys.data_ptr() and built.values.data_ptr() == values.data_ptr()
               for built, (keys, values) in zip(cache.layers, layers))
    assert engine.counters.copied_bytes == 0
    assert cache.get_seq_length() == 5


def test_a_splice_writes_the_merged_cache_and_its_padding_is_waste_for_later_decodes(model):
    engine = Engine(model)
    batch = engine.prefill(_rows(3, 5))
    engine.decode(batch)  # 6 columns
    newcomer = engine.prefill(_rows(2))
    before = _kv(engine)
    merged = engine.splice(batch, newcomer)
    copied = engine.counters.copied_bytes - before[2]
    # the left-padded stack (3 rows x 6 columns), written once
    assert copied == 3 * 6 * _column_bytes(model) == _cache_bytes(merged)
    assert _kv(engine)[:2] == before[:2]  # a splice runs no forward pass
    engine.decode(merged)
    executed, useful = (now - then for now, then in zip(_kv(engine)[:2], before[:2]))
    # 3 rows over 7 columns; real keys: 3 + 2 decoded, 5 + 2 decoded, the newcomer's 2 + 1 decoded
    assert (executed, useful) == (3 * 7, 5 + 7 + 3)


def test_removing_a_row_copies_the_kept_rows_from_their_first_used_column(model):
    engine = Engine(model)
    batch = engine.prefill(_rows(3, 5))
    engine.decode(batch)
    merged = engine.splice(batch, engine.prefill(_rows(2)))  # 6 columns: the 3-token row's keys start at column 2
    before = engine.counters.copied_bytes
    kept = engine.keep(merged, [0, 2])
    assert kept.mask.shape == (2, 4)
    assert engine.counters.copied_bytes - before == 2 * 4 * _column_bytes(model) == _cache_bytes(kept)
    before = engine.counters.copied_bytes
    assert engine.keep(kept, [0, 1]) is kept and engine.counters.copied_bytes == before  # nothing removed, nothing copied


@pytest.mark.parametrize("compact", [False, True])
def test_a_joint_prefill_and_decode_pass_counts_its_padded_queries_keys_and_re_layouts(model, compact):
    engine = Engine(model)
    batch = engine.prefill(_rows(3, 5))  # 5 columns
    before = _kv(engine)
    engine.joint_step(batch, _rows(4), compact=compact)
    executed, useful, copied = (now - then for now, then in zip(_kv(engine), before))
    # 3 rows x 4 queries (the newcomer's prompt; the running rows' one token left-padded to it) x 5 + 4 keys;
    # useful: the running rows' one query over their 3 + 1 and 5 + 1 keys, the newcomer's 4 x 4
    assert (executed, useful) == (3 * 4 * 9, 4 + 6 + 16)
    column = _column_bytes(model)
    # the running rows' cache with a padded row for the newcomer (3 x 5), written once
    extended = 3 * 5 * column
    if not compact:
        assert copied == extended
    else:
        # then the running rows' past and decoded column (2 x 6, copied by indexing), the newcomer's own
        # columns (a view: nothing), and the splice of both (3 x 6)
        assert copied == extended + 2 * 6 * column + 3 * 6 * column


def test_baton_on_a_staggered_trace_wastes_more_key_value_slots_than_query_slots(model):
    requests = make_requests(14, seed=1, spacing_s=0.004)
    rows, counters, arrival = serve("baton", model, requests, max_batch=4, timeout_s=0.01)
    summary = summarize(records(rows, arrival, None), counters)
    assert 0 < summary["useful_kv_slots"] < summary["executed_kv_slots"]
    assert summary["wasted_kv_fraction"] > summary["wasted_slot_fraction"]
    assert summary["copied_bytes"] > 0 and summary["splices"] > 0


@pytest.mark.parametrize("system", ["static", "hf-static"])
def test_a_finished_row_held_in_a_static_batch_spans_keys_it_does_not_use(model, system):
    # equal prompts (no padding): the only waste is the short request's row after its second token
    requests = [Request("short", 0.0, (5, 6, 7), 2)] + [Request(f"long{k}", 0.0, (8, 9, 10 + k), 20) for k in range(3)]
    _, counters, _ = serve(system, model, requests, max_batch=4)
    # decode step i (1..19) spans 3 + i columns; the short row is done from step 2 on
    assert counters["executed_kv_slots"] == 4 * 3 * 3 + 4 * sum(3 + i for i in range(1, 20))
    assert counters["executed_kv_slots"] - counters["useful_kv_slots"] == sum(3 + i for i in range(2, 20))
    assert counters["copied_bytes"] == 0
    # both grow a DynamicCache by concatenation: the prefill writes 4 rows x 3 columns, decode step i the
    # whole 4 x (3 + i) cache
    assert counters["cache_growth_bytes"] == 4 * sum(3 + i for i in range(20)) * _column_bytes(model)


def test_static_batching_and_generate_count_the_same_padded_key_value_slots(model):
    requests = [Request(f"q{k}", 0.0, tuple(range(5, 5 + length)), out) for k, (length, out) in enumerate([(3, 9), (7, 2), (12, 5)])]
    counted = {system: serve(system, model, requests, max_batch=3)[1] for system in ("static", "hf-static")}
    for key in ("executed_slots", "useful_slots", "executed_kv_slots", "useful_kv_slots", "cache_growth_bytes"):
        assert counted["static"][key] == counted["hf-static"][key] > 0, key


def test_continuous_batching_keeps_its_own_cache_and_its_key_value_slots_are_not_counted(model):
    requests = [Request(f"q{k}", 0.0, (5, 6, 7 + k), 3) for k in range(3)]
    rows, counters, arrival = serve("hf-continuous", model, requests, max_batch=3)
    summary = summarize(records(rows, arrival, None), counters)
    assert summary["executed_kv_slots"] is None and summary["useful_kv_slots"] is None and summary["copied_bytes"] is None
    assert summary["cache_growth_bytes"] is None
    assert summary["wasted_kv_fraction"] is None and summary["wasted_slot_fraction"] is None


MIB = 2**20


# Run in a fresh process: in a long test session freed pages stay resident and a new allocation may reuse
# them without raising the RSS high-water mark.
PEAK_SCRIPT = """
import json, torch
from revmux.backbones.load import load_backbone
from revmux.batching.serve import mark_loaded, peak_memory
model = load_backbone("stories260k", with_tokenizer=False).model
device = torch.device("cpu")
loaded = mark_loaded(model, device)
held = torch.ones(64 * 2**20 // 4)  # 64 MiB, every page written
print(json.dumps(peak_memory(device, loaded)))
"""


def test_the_peak_above_the_loaded_model_leaves_the_loading_out():
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", PEAK_SCRIPT], capture_output=True, text=True, check=True)
    memory = json.loads(done.stdout.strip().splitlines()[-1])
    assert memory["peak_above_loaded_bytes"] >= 60 * MIB, memory
    assert memory["loaded_baseline_bytes"] > 0 and "reset after loading and warm-up" in memory["peak_above_loaded_source"]
    # the since-start peak keeps its meaning: it holds the loaded model too
    assert memory["peak_bytes"] >= memory["loaded_baseline_bytes"] + memory["peak_above_loaded_bytes"] - MIB


def test_without_a_peak_reset_the_peak_above_the_loaded_model_is_unavailable_and_says_why(model, monkeypatch):
    import revmux.measure.memory
    from revmux.batching.serve import mark_loaded, peak_memory

    monkeypatch.setattr(revmux.measure.memory, "reset_kernel_peak_rss", lambda: False)
    device = torch.device("cpu")
    memory = peak_memory(device, mark_loaded(model, device))
    assert memory["peak_above_loaded_bytes"] is None and memory["loaded_baseline_bytes"] is None
    assert "no RSS high-water mark reset" in memory["unavailable"]["peak_above_loaded_bytes"]
    assert memory["peak_bytes"] > 0


def test_a_serving_run_writes_the_key_value_waste_and_the_peak_above_the_loaded_model(model, tmp_path):
    from revmux.cli.main import main

    trace, out = tmp_path / "trace.csv", tmp_path / "run.json"
    assert main(["trace", "--backbone", "stories260k", "--requests", "6", "--prompt-tokens", "2", "20",
                 "--output-tokens", "2", "12", "--out", str(trace)]) == 0
    assert main(["--threads", "1", "serve", "--backbone", "stories260k", "--trace", str(trace), "--systems", "baton",
                 "--max-batch", "3", "--no-progress", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    summary, memory = result["summary"], result["memory"]
    assert 0 < summary["wasted_kv_fraction"] < 1 and summary["executed_kv_slots"] > summary["useful_kv_slots"] > 0
    assert isinstance(summary["copied_bytes"], int) and summary["cache_growth_bytes"] > 0
    assert 0 <= memory["peak_above_loaded_bytes"] < memory["peak_bytes"]
    assert memory["loaded_baseline_bytes"] > 0
