"""The generation track's engine and schedulers on stories260K (a real 260K-parameter LLaMA): every system's
greedy tokens equal unbatched `generate`, whatever the batching did."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from revmux.backbones.load import load_backbone
from revmux.batching.anchors.generate_static import generate_greedy
from revmux.batching.engine import Engine, Row
from revmux.batching.serve import records, serve
from revmux.batching.systems import system_names
from revmux.workloads.traces import Request

SYSTEMS = ["static", "padded-iteration", "orca", "baton", "baton-no-split", "hf-static", "unbatched", "hf-continuous"]


@pytest.fixture(scope="module")
def model():
    torch.set_num_threads(1)
    return load_backbone("stories260k", with_tokenizer=False).model


def make_requests(count: int, seed: int, spacing_s: float) -> list[Request]:
    """Mixed prompt lengths (2-40) and output lengths (1-24), arrivals `spacing_s` apart on average."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(spacing_s, count) if spacing_s else np.zeros(count)
    return [Request(f"q{k}", float(t), tuple(int(x) for x in rng.integers(1, 512, int(rng.integers(2, 41)))),
                    int(rng.integers(1, 25))) for k, t in enumerate(np.cumsum(gaps))]


def reference_tokens(model, requests: list[Request]) -> dict[str, list[int]]:
    return {r.request: generate_greedy(model, torch.tensor([r.prompt_ids]), torch.ones(1, len(r.prompt_ids), dtype=torch.long),
                                       r.output_tokens, 0)[0].tolist() for r in requests}


def test_every_system_is_known_by_name():
    assert set(SYSTEMS) <= set(system_names())


@pytest.mark.parametrize("system", SYSTEMS)
def test_every_system_gives_unbatched_greedy_tokens_with_staggered_arrivals(model, system):
    requests = make_requests(14, seed=1, spacing_s=0.004)
    reference = reference_tokens(model, requests)
    rows, counters, arrival = serve(system, model, requests, max_batch=4, timeout_s=0.01)
    frame = records(rows, arrival, reference)
    mismatched = frame[~frame["matches_reference"].astype(bool)]
    assert mismatched.empty, mismatched[["request", "first_divergence"]].to_string()
    assert (frame["generated"] == frame["output_tokens"]).all()
    assert counters["useful_slots"] <= counters["executed_slots"]


@pytest.mark.parametrize("newcomer_length", [3, 30])
def test_a_spliced_newcomer_keeps_its_positions_when_shorter_or_longer_than_the_batch(model, newcomer_length):
    rng = np.random.default_rng(4)
    running = [Request(f"a{k}", 0.0, tuple(int(x) for x in rng.integers(1, 512, length)), 12) for k, length in enumerate((9, 14))]
    newcomer = Request("new", 0.0, tuple(int(x) for x in rng.integers(1, 512, newcomer_length)), 12)
    reference = reference_tokens(model, running + [newcomer])
    engine = Engine(model)
    batch = engine.prefill([Row(r) for r in running])
    for _ in range(3):
        engine.decode(batch)
    batch = engine.splice(batch, engine.prefill([Row(newcomer)]))
    assert batch.mask.shape[1] == max(14 + 3, newcomer_length)  # the shorter side was left-padded
    while not all(row.done for row in batch.rows):
        engine.decode(batch)
        batch = engine.keep(batch, [k for k, row in enumerate(batch.rows) if not row.done]) or batch
    for row in batch.rows:
        assert row.tokens == reference[row.request.request]
    assert engine.counters.splices == 1 and engine.counters.splice_s > 0


@pytest.mark.parametrize("system, leaves_at_once", [("static", False), ("padded-iteration", True), ("baton", True), ("baton-no-split", True)])
def test_a_finished_request_leaves_at_once_except_in_static_batching(model, system, leaves_at_once):
    # Offline: everyone at t = 0, one batch, one short request among long ones.
    requests = [Request("short", 0.0, (5, 6, 7), 2)] + [Request(f"long{k}", 0.0, (8, 9, 10 + k), 20) for k in range(3)]
    rows, counters, _ = serve(system, model, requests, max_batch=4)
    short = next(row for row in rows if row.request.request == "short")
    longest = max(row.finished_s for row in rows)
    if leaves_at_once:
        assert short.returned_s < longest
    else:
        assert short.returned_s >= longest and short.finished_s < longest
        # the held row kept computing: executed slots exceed useful ones by its idle steps
        assert counters["executed_slots"] - counters["useful_slots"] >= 20 - 2


# Bad input: a clear error naming the value and the fix, before any work, and no result file.

def _trace(tmp_path, **columns):
    import pandas as pd

    frame = {"request": ["a", "b"], "arrival_s": [0.0, 0.1], "prompt_ids": ["5 6 7", "8 9"], "output_tokens": [4, 3]}
    frame.update(columns)
    path = tmp_path / "trace.csv"
    pd.DataFrame({k: v for k, v in frame.items() if v is not None}).to_csv(path, index=False)
    return path


def _serve(*args):
    from revmux.cli.main import main

    return main(["--threads", "1", "serve", "--backbone", "stories260k", *args])


@pytest.mark.parametrize(("trace_columns", "flags", "message"), [
    ({}, ["--systems", "vllm"], "unknown system 'vllm': use one of baton, baton-no-split"),
    ({}, ["--max-batch", "0"], "max batch 0 must be at least 1"),
    ({"prompt_ids": None}, [], "missing column(s) prompt_ids"),
    ({"output_tokens": [4, 600]}, [], "exceed stories260k's context of 512"),
    ({"prompt_ids": ["5 6 7", "8 9000"]}, [], "beyond stories260k's vocabulary of 512"),
    ({"arrival_s": [0.0, -1.0]}, [], "arrival_s -1.0 must be a finite number >= 0"),
    ({}, ["--systems", "static", "baton"], "with several systems, put {system} in the path"),
    ({}, ["--systems", "baton", "baton"], "a system is named twice"),
    # several systems: the first one's child process meets the bad trace, and nothing is served
    ({"prompt_ids": ["5 6 7", "8 9000"]}, ["--systems", "static", "baton"], "static: request 'b' holds token id 9000"),
])
def test_bad_serving_input_is_refused_before_any_work(tmp_path, capsys, trace_columns, flags, message):
    out = tmp_path / ("{system}.json" if "static: " in message else "run.json")
    assert _serve("--trace", str(_trace(tmp_path, **trace_columns)), *flags, "--out", str(out)) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.glob("*.json")) and not list(tmp_path.glob("*.csv.gz"))


def test_a_poisson_trace_needs_a_positive_rate(tmp_path, capsys):
    from revmux.cli.main import main

    out = tmp_path / "t.csv"
    assert main(["trace", "--backbone", "stories260k", "--arrivals", "poisson", "--rate", "0", "--out", str(out)]) == 2
    assert "needs --rate > 0" in capsys.readouterr().err and not out.exists()


def test_traces_of_one_seed_hold_the_same_requests_at_every_rate():
    from revmux.workloads.generate import make_requests

    sentences = ["a b c", "d e", "f g h i j", "k"]
    tokenize = lambda text: [ord(c) for c in text.replace(" ", "")]  # noqa: E731
    slow, _ = make_requests(tokenize, sentences, 20, seed=3, arrivals="poisson", rate=1.0, prompt_tokens=(2, 9))
    fast, _ = make_requests(tokenize, sentences, 20, seed=3, arrivals="poisson", rate=4.0, prompt_tokens=(2, 9))
    assert [(r.prompt_ids, r.output_tokens) for r in slow] == [(r.prompt_ids, r.output_tokens) for r in fast]
    assert [r.arrival_s for r in slow] == pytest.approx([4 * r.arrival_s for r in fast])
    assert len({len(r.prompt_ids) for r in slow}) > 3  # lengths spread


def test_one_call_serves_several_systems_and_the_report_tables_every_run(model, tmp_path):
    from revmux.batching.report import write_all
    from revmux.cli.main import main

    trace = tmp_path / "trace.csv"
    assert main(["trace", "--backbone", "stories260k", "--requests", "6", "--prompt-tokens", "2", "20",
                 "--output-tokens", "2", "12", "--out", str(trace)]) == 0
    reference = tmp_path / "reference.csv"
    assert _serve("--trace", str(trace), "--reference-out", str(reference), "--no-progress") == 0
    systems = ["static", "padded-iteration", "baton", "hf-continuous"]
    assert _serve("--trace", str(trace), "--systems", *systems, "--max-batch", "3", "--reference", str(reference),
                  "--out", str(tmp_path / "runs" / "{system}.json")) == 0
    runs = sorted((tmp_path / "runs").glob("*.json"))
    assert sorted(path.stem for path in runs) == sorted(systems)
    written = write_all(runs, tmp_path / "tables", tmp_path / "plots")
    table = (tmp_path / "tables" / "batching.md").read_text()
    assert "best static (static)" in table and "padded-iteration" in table and "offline" in table
    # continuous batching's paged cache has no padded slots to count: the table says so, not "nan"
    assert "not counted" in table and "nan" not in table
    assert {path.suffix for path in written} == {".csv", ".md", ".html", ".svg"}
    import pandas as pd

    frame = pd.read_csv(tmp_path / "tables" / "batching.csv")
    assert sorted(frame["system"]) == sorted(systems)
    assert (frame["reference_match_rate"] == 1.0).all()
    # each system ran in its own process: no two runs share a process id
    pids = {json.loads(path.read_text())["environment"]["pid"] for path in runs}
    assert len(pids) == len(systems)
    # static returns its rows with the batch: its summary says it does not stream, and its TTFT runs to the return
    summaries = {path.stem: json.loads(path.read_text())["summary"] for path in runs}
    assert summaries["static"]["streams"] is False and summaries["baton"]["streams"] is True
    assert (frame["streams"] == frame["system"].ne("static")).all()


def test_the_schema_and_the_settings_share_their_defaults():
    import yaml

    from revmux.batching.config import ServeSettings, TraceSettings
    from revmux.core.schemas import schema_path

    block = yaml.safe_load(schema_path("config").read_text())["properties"]["batching"]["properties"]
    trace, serve_settings = TraceSettings(), ServeSettings()
    pairs = {"backbone": trace.backbone, "task": trace.task, "requests": trace.requests,
             "prompt_tokens": [trace.min_prompt_tokens, trace.max_prompt_tokens],
             "output_tokens": [trace.min_output_tokens, trace.max_output_tokens],
             "max_batch": serve_settings.max_batch, "timeout_s": serve_settings.timeout_s,
             "dtype": serve_settings.dtype, "warmup_requests": serve_settings.warmup_requests}
    for key, value in pairs.items():
        assert block[key]["default"] == value, key
