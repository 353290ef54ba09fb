"""Trace files: one row per request, replayed identically by every system.

A trace is a CSV with the columns

    request        a unique id (string)
    arrival_s      seconds after the start at which the request arrives (0 for all: an offline batch)
    prompt_ids     the prompt's token ids, space-separated (the trace is made for one tokenizer)
    output_tokens  how many tokens to generate (fixed: end-of-sequence is ignored, so every system
                   does the same useful work)

and optionally `text` (the prompt, for people). The trace's tokenizer and how it was made are in the
sidecar `<trace>.json` (written with it, not required to replay it).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from revmux.core.atomic import atomic_write_json, atomic_write_text
from revmux.core.errors import RevmuxError

COLUMNS = ("request", "arrival_s", "prompt_ids", "output_tokens")


@dataclass(frozen=True)
class Request:
    request: str
    arrival_s: float
    prompt_ids: tuple[int, ...]
    output_tokens: int


def requests_from_frame(frame: pd.DataFrame, source: str = "trace") -> list[Request]:
    """Checked requests, sorted by arrival (ties keep the file's order)."""
    missing = [column for column in COLUMNS if column not in frame.columns]
    if missing:
        raise RevmuxError(f"{source}: missing column(s) {', '.join(missing)}; a trace needs {', '.join(COLUMNS)} "
                          "(see revmux/workloads/traces.py or `revmux trace --help`)")
    if frame["request"].astype(str).duplicated().any():
        duplicate = frame["request"].astype(str)[frame["request"].astype(str).duplicated()].iloc[0]
        raise RevmuxError(f"{source}: request id {duplicate!r} appears more than once; ids must be unique")
    requests = []
    for row in frame.itertuples(index=False):
        where = f"{source}, request {row.request!r}"
        try:
            arrival = float(row.arrival_s)
            output = int(row.output_tokens)
            prompt = tuple(int(token) for token in str(row.prompt_ids).split())
        except ValueError as error:
            raise RevmuxError(f"{where}: unreadable value ({error}); arrival_s is seconds, output_tokens an "
                              "integer, prompt_ids space-separated integers") from None
        if not np.isfinite(arrival) or arrival < 0:
            raise RevmuxError(f"{where}: arrival_s {row.arrival_s!r} must be a finite number >= 0")
        if output < 1:
            raise RevmuxError(f"{where}: output_tokens {output} must be at least 1")
        if not prompt or min(prompt) < 0:
            raise RevmuxError(f"{where}: prompt_ids must hold at least one non-negative token id")
        requests.append(Request(str(row.request), arrival, prompt, output))
    return sorted(requests, key=lambda r: r.arrival_s)


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


def check_fits(requests: list[Request], context: int, model: str) -> None:
    """Refuse a request whose prompt plus output exceeds the model's context, before any work."""
    for r in requests:
        if len(r.prompt_ids) + r.output_tokens > context:
            raise RevmuxError(f"request {r.request!r}: {len(r.prompt_ids)} prompt + {r.output_tokens} output tokens "
                              f"exceed {model}'s context of {context}: shorten it, or make the trace with `revmux trace "
                              f"--prompt-tokens MIN MAX --output-tokens MIN MAX` whose two MAX add up to {context} at most")
