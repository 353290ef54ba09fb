"""A bad trace is refused before any model loads, naming the row (request id and line) and the fix."""

from __future__ import annotations

import pandas as pd
import pytest

from revmux.core.errors import RevmuxError
from revmux.workloads.traces import read_trace

ROWS = {"request": ["a", "b", "c"], "arrival_s": [0.0, 0.5, 1.0], "prompt_ids": ["5 6 7", "8 9", "10"],
        "output_tokens": [4, 3, 2]}


def _write(tmp_path, **changes) -> str:
    path = tmp_path / "trace.csv"
    pd.DataFrame({**ROWS, **changes}).to_csv(path, index=False)
    return str(path)


def test_a_trace_in_order_is_read_in_file_order(tmp_path):
    assert [r.request for r in read_trace(_write(tmp_path))] == ["a", "b", "c"]


@pytest.mark.parametrize(("changes", "message"), [
    ({"request": ["a", "b", "a"]}, "request 'a' (line 4 of {trace}): the id is already used on line 2"),
    ({"arrival_s": [0.0, 1.0, 0.5]}, "request 'c' (line 4 of {trace}): arrives at 0.5 s, before the row above it (1 s)"),
    ({"prompt_ids": ["5 6 7", "", "10"]}, "request 'b' (line 3 of {trace}): prompt_ids is empty"),
    ({"prompt_ids": ["5 6 7", "   ", "10"]}, "request 'b' (line 3 of {trace}): prompt_ids is empty"),
])
def test_a_bad_row_is_refused_by_request_and_line(tmp_path, changes, message):
    trace = _write(tmp_path, **changes)
    with pytest.raises(RevmuxError) as error:
        read_trace(trace)
    assert message.format(trace=trace) in str(error.value)


def test_rows_out_of_order_are_refused_with_how_to_sort_them(tmp_path):
    with pytest.raises(RevmuxError, match="replayed in file order: sort its rows by arrival_s"):
        read_trace(_write(tmp_path, arrival_s=[0.0, 1.0, 0.5]))


def test_traces_made_by_revmux_trace_are_in_order(tmp_path):
    from revmux.workloads.generate import make_requests
    from revmux.workloads.traces import write_trace

    tokenize = lambda text: [ord(c) for c in text]  # noqa: E731
    requests, texts = make_requests(tokenize, ["one", "two three", "four five six"], 40, seed=0,
                                    arrivals="poisson", rate=50.0, prompt_tokens=(2, 9), output_tokens=(1, 8))
    write_trace(tmp_path / "t.csv", requests, texts)
    read = read_trace(tmp_path / "t.csv")
    assert [r.request for r in read] == [r.request for r in requests]
    assert [r.arrival_s for r in read] == sorted(r.arrival_s for r in read)


def test_a_random_init_shape_gives_its_context_without_building_the_model():
    from revmux.backbones import resolve_backbone
    from revmux.workloads.traces import model_limits

    assert model_limits(resolve_backbone("llama-3-8b-random")) == (8192, 128256)


@pytest.mark.parametrize(("changes", "message"), [
    ({"output_tokens": [4, 600, 2]}, "request 'b' (line 3 of {trace}): 2 prompt + 600 output tokens exceed "
                                     "stories260k's context of 512: shorten it, or make the trace with `revmux trace"),
    ({"prompt_ids": ["5 6 7", "8 9", "10 9000"]}, "request 'c' holds token id 9000 (line 4 of {trace}), beyond "
                                                  "stories260k's vocabulary of 512"),
])
def test_what_the_model_cannot_take_is_refused_before_it_loads(tmp_path, monkeypatch, changes, message):
    from revmux.batching import run
    from revmux.batching.config import ServeSettings

    def no_loading(*args, **kwargs):
        raise AssertionError("the model was loaded before the trace was checked")

    monkeypatch.setattr(run, "load_backbone", no_loading)
    trace = _write(tmp_path, **changes)
    with pytest.raises(RevmuxError) as error:
        run._load(trace, "stories260k", ServeSettings(), None)
    assert message.format(trace=trace) in str(error.value)
