"""Trace files: one row per request, replayed identically by every system.

A trace is a CSV with the columns

    request        a unique id (string)
    arrival_s      seconds after the start at which the request arrives (0 for all: an offline batch)
    prompt_ids     the prompt's token ids, space-separated (the trace is made for one tokenizer)
    output_tokens  how many tokens to generate (fixed: end-of-sequence is ignored, so every system
                   does the same useful work)

and optionally `text` (the prompt, for people). The trace's tokenizer and how it was made are in the
sidecar `<trace>.json` (written with it, not required to replay it).

A trace is replayed in file order, so its rows must be in arrival order: one that is not is refused, as is
anything else a system would trip on later, each error naming the row (request id and line of the file).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from revmux.core.atomic import atomic_write_json, atomic_write_text
from revmux.core.errors import RevmuxError

if TYPE_CHECKING:
    from revmux.backbones.registry import BackboneSpec

COLUMNS = ("request", "arrival_s", "prompt_ids", "output_tokens")


@dataclass(frozen=True)
class Request:
    request: str
    arrival_s: float
    prompt_ids: tuple[int, ...]
    output_tokens: int


def _row(source: str, index: int, request) -> str:
    """Which row: its request id, and its line in the file (the header is line 1)."""
    return f"request {str(request)!r} (line {index + 2} of {source})"


def requests_from_frame(frame: pd.DataFrame, source: str = "trace") -> list[Request]:
    """Checked requests, in the file's order (which must be arrival order)."""
    missing = [column for column in COLUMNS if column not in frame.columns]
    if missing:
        raise RevmuxError(f"{source}: missing column(s) {', '.join(missing)}; a trace needs {', '.join(COLUMNS)} "
                          "(see revmux/workloads/traces.py or `revmux trace --help`)")
    first_line: dict[str, int] = {}
    requests: list[Request] = []
    for index, row in enumerate(frame.itertuples(index=False)):
        where = _row(source, index, row.request)
        if pd.isna(row.request) or not str(row.request).strip():
            raise RevmuxError(f"{source} line {index + 2}: the request id is empty; give every row a unique id")
        if str(row.request) in first_line:
            raise RevmuxError(f"{where}: the id is already used on line {first_line[str(row.request)] + 2}; "
                              "ids must be unique: rename one of them")
        first_line[str(row.request)] = index
        if pd.isna(row.prompt_ids) or not str(row.prompt_ids).strip():
            raise RevmuxError(f"{where}: prompt_ids is empty; every prompt needs at least one token id: "
                              "remove the row or give it a prompt")
        try:
            arrival = float(row.arrival_s)
            output = int(row.output_tokens)
            prompt = tuple(int(token) for token in str(row.prompt_ids).split())
        except (TypeError, ValueError) as error:
            raise RevmuxError(f"{where}: unreadable value ({error}); arrival_s is seconds, output_tokens an "
                              "integer, prompt_ids space-separated integers") from None
        if not np.isfinite(arrival) or arrival < 0:
            raise RevmuxError(f"{where}: arrival_s {row.arrival_s!r} must be a finite number >= 0")
        if output < 1:
            raise RevmuxError(f"{where}: output_tokens {output} must be at least 1")
        if min(prompt) < 0:
            raise RevmuxError(f"{where}: prompt_ids must hold non-negative token ids, not {min(prompt)}")
        if requests and arrival < requests[-1].arrival_s:
            raise RevmuxError(f"{where}: arrives at {arrival:g} s, before the row above it ({requests[-1].arrival_s:g} s); "
                              "a trace is replayed in file order: sort its rows by arrival_s "
                              "(e.g. pandas: frame.sort_values('arrival_s', kind='stable'))")
        requests.append(Request(str(row.request), arrival, prompt, output))
    return requests


def read_trace(path: str | Path) -> list[Request]:
    path = Path(path)
    if not path.is_file():
        raise RevmuxError(f"trace file {path} not found: make one with `revmux trace` or pass an existing CSV")
    try:
        frame = pd.read_csv(path, dtype={"request": str, "prompt_ids": str})
    except (ValueError, pd.errors.ParserError) as error:
        raise RevmuxError(f"{path}: not a readable CSV trace ({error})") from None
    return requests_from_frame(frame, str(path))


def write_trace(path: str | Path, requests: list[Request], texts: list[str] | None = None, meta: dict | None = None) -> None:
    """The trace CSV and its sidecar, each written atomically (the CSV last: it marks a finished trace)."""
    frame = pd.DataFrame({
        "request": [r.request for r in requests],
        "arrival_s": [r.arrival_s for r in requests],
        "prompt_ids": [" ".join(map(str, r.prompt_ids)) for r in requests],
        "output_tokens": [r.output_tokens for r in requests],
    })
    if texts is not None:
        frame["text"] = texts
    path = Path(path)
    atomic_write_json(path.with_suffix(".json"), {**(meta or {}), "requests": len(requests)})
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, float_format="%.6f")
    atomic_write_text(path, buffer.getvalue())


def model_limits(spec: BackboneSpec, resources: Path | None = None) -> tuple[int, int]:
    """The backbone's context length and vocabulary size, read from its configuration: no weights are
    loaded, so a trace is checked before the (possibly minutes-long) model load."""
    from revmux.backbones.load import backbone_config

    config = backbone_config(spec, resources)
    return int(config.max_position_embeddings), int(config.vocab_size)


def check_fits(requests: list[Request], context: int, vocabulary: int, model: str, source: str = "trace") -> None:
    """Refuse a request the model cannot take, before any work: prompt plus output beyond its context, or a
    token id beyond its vocabulary. `requests` are in file order, as `read_trace` returns them."""
    for index, r in enumerate(requests):
        where = _row(source, index, r.request)
        if len(r.prompt_ids) + r.output_tokens > context:
            raise RevmuxError(f"{where}: {len(r.prompt_ids)} prompt + {r.output_tokens} output tokens "
                              f"exceed {model}'s context of {context}: shorten it, or make the trace with `revmux trace "
                              f"--prompt-tokens MIN MAX --output-tokens MIN MAX` whose two MAX add up to {context} at most")
        if max(r.prompt_ids) >= vocabulary:
            raise RevmuxError(f"request {r.request!r} holds token id {max(r.prompt_ids)} (line {index + 2} of {source}), "
                              f"beyond {model}'s vocabulary of {vocabulary}: the trace was made for another tokenizer; "
                              f"make it with `revmux trace --backbone {model}`")
