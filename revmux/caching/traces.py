"""Caching traces: one row per request, naming which distinct query it repeats and what serving it costs.

A trace is a CSV with the columns

    request        a unique id
    query          the distinct query it repeats (any string: requests with the same query hit one entry)
    cost_small     cost of answering it with the small model (seconds, FLOPs, dollars: one unit per trace)
    cost_large     cost of answering it with the large model

and optionally

    small_correct  1 if the small model's answer is right, 0 if not (empty: not judged)
    large_correct  the same for the large model
    size           the cached answer's size, in the unit the cache size counts (> 0; default 1: one entry)
    selector_cost  what consulting a selector costs on this request (>= 0; default 0): charged on every
                   miss that a selector routes (simulated, bandit, answer-classifier, query-classifier)
    escalate       1 if the cascade's failure detector rejects the small answer, so the large model runs
                   too (the `cascade` selector; judged traces need it, `cascade-gold` uses the labels)
    keep_small     1 if a selector that reads the small model's answer keeps it, 0 if it runs the large
                   model too (the `answer-classifier` selector; one value per query)
    pick_small     1 if a selector that reads only the query sends it to the small model, 0 to the large
                   one (the `query-classifier` selector; one value per query)

Synthetic traces have no correctness: there the small model never fails (Zhu et al.'s setting), so a
cascade never escalates and costs what the small model costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from revmux.core.atomic import atomic_write_text
from revmux.core.errors import RevmuxError

REQUIRED = ("request", "query", "cost_small", "cost_large")
FLAGS = ("small_correct", "large_correct", "escalate", "keep_small", "pick_small")  # 0/1 columns
PER_QUERY = ("size", "keep_small", "pick_small")  # one value per query
OPTIONAL = ("small_correct", "large_correct", "size", "selector_cost", "escalate", "keep_small", "pick_small")
MIN_SYNTHETIC_COST = 0.1  # the artifact floors noisy synthetic costs here


@dataclass(frozen=True)
class Trace:
    """Per-request arrays; `query` holds codes 0..Q-1 into `query_names`, in order of first appearance."""

    query: np.ndarray  # int
    cost_small: np.ndarray
    cost_large: np.ndarray
    small_correct: np.ndarray  # float: 1, 0, or NaN (not judged)
    large_correct: np.ndarray
    size: np.ndarray  # per query
    query_names: tuple[str, ...]
    selector_cost: np.ndarray | None = None  # per request; None: 0
    escalate: np.ndarray | None = None  # per request, float 1/0 (NaN: not given for that request)
    keep_small: np.ndarray | None = None  # per request, bool
    pick_small: np.ndarray | None = None  # per request, bool

    @property
    def requests(self) -> int:
        return len(self.query)

    @property
    def queries(self) -> int:
        return len(self.query_names)

    @property
    def judged(self) -> bool:
        return not np.isnan(self.small_correct).any() and not np.isnan(self.large_correct).any()

    @property
    def consult_cost(self) -> np.ndarray:
        return np.zeros(self.requests) if self.selector_cost is None else self.selector_cost


def synthetic_trace(requests: int, queries: int, cost_ratio: float, alpha: float, seed: int) -> Trace:
    """Zhu et al.'s synthetic setting: each query's base cost per model is 1 or 1 + cost_ratio (a fair coin,
    small and large drawn independently), each request adds N(0, 1) noise to both, floored at 0.1; query
    ids are floor(queries x X) with X ~ Power(alpha), so low ids are popular and a smaller alpha skews more.

    Drawn from numpy's legacy RandomState in the artifact's order, so a seed gives the artifact's trace
    (numpy keeps that stream fixed across versions)."""
    random = np.random.RandomState(seed)
    base_small = random.binomial(n=1, p=0.5, size=queries) * cost_ratio + 1
    base_large = random.binomial(n=1, p=0.5, size=queries) * cost_ratio + 1
    ids = (random.power(alpha, requests) * queries).astype(int)
    noise = random.normal(0, 1, size=(requests, 2))  # per request: small's, then large's (the artifact's order)
    cost_small = np.maximum(MIN_SYNTHETIC_COST, base_small[ids] + noise[:, 0])
    cost_large = np.maximum(MIN_SYNTHETIC_COST, base_large[ids] + noise[:, 1])
    unjudged = np.full(requests, np.nan)
    return _from_ids(ids, cost_small, cost_large, unjudged, unjudged.copy(), None, [str(i) for i in range(queries)])


def power_law_trace(per_query: pd.DataFrame, requests: int, alpha: float, seed: int) -> Trace:
    """`requests` draws over the rows of `per_query` (columns as a trace's, without request), in a seeded
    random order, with Power(alpha) popularity: the real-data setting of Zhu et al."""
    _check_frame(per_query.assign(request=np.arange(len(per_query))), "per-query table")
    random = np.random.RandomState(seed)
    order = random.permutation(len(per_query))
    ids = order[(random.power(alpha, requests) * len(per_query)).astype(int)]
    rows = per_query.iloc[ids].reset_index(drop=True)
    rows.insert(0, "request", np.arange(requests))
    return trace_from_frame(rows, "power-law trace")


def _from_ids(ids, cost_small, cost_large, small_correct, large_correct, size_per_query, names, **optional) -> Trace:
    """Renumber query ids in order of first appearance (the order ties between equal scores fall in)."""
    values, first_index, codes = np.unique(ids, return_index=True, return_inverse=True)
    appearance = np.argsort(first_index, kind="stable")  # new code -> index into values
    rank = np.empty_like(appearance)
    rank[appearance] = np.arange(len(appearance))
    ordered = [names[values[index]] for index in appearance]
    size = (np.ones(len(ordered)) if size_per_query is None
            else np.asarray(size_per_query, float)[values[appearance]])
    return Trace(rank[codes], np.asarray(cost_small, float), np.asarray(cost_large, float),
                 np.asarray(small_correct, float), np.asarray(large_correct, float), size, tuple(ordered), **optional)


def _check_frame(frame: pd.DataFrame, source: str) -> None:
    missing = [column for column in REQUIRED if column not in frame.columns]
    if missing:
        raise RevmuxError(f"{source}: missing column(s) {', '.join(missing)}; a caching trace needs "
                          f"{', '.join(REQUIRED)} (optional: {', '.join(OPTIONAL)}); see revmux/caching/traces.py")
    if frame.empty:
        raise RevmuxError(f"{source}: no requests")
    for column in ("request", "query"):
        empty = (frame[column].isna() | (frame[column].astype(str).str.strip() == "")).to_numpy()
        if empty.any():
            row = int(np.flatnonzero(empty)[0])
            raise RevmuxError(f"{source}: row {row + 1}: empty {column} id; every request needs a {column} id")
    for column in ("cost_small", "cost_large", "size", "selector_cost"):
        if column not in frame:
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = ~np.isfinite(values.to_numpy(float)) | (values.to_numpy(float) < 0)
        if column == "size":
            bad |= values.to_numpy(float) == 0
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            need = "a positive number" if column == "size" else "a finite number >= 0"
            raise RevmuxError(f"{source}: row {row + 1} (request {frame['request'].iloc[row]!r}): {column} "
                              f"{str(frame[column].iloc[row])!r} must be {need}")
    for column in FLAGS:
        if column not in frame:
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        given = frame[column].notna() & (frame[column].astype(str).str.strip() != "")
        bad = given & ~values.isin([0, 1])
        if column in PER_QUERY:  # a selector's decision: every request of the query carries it
            bad |= ~given
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise RevmuxError(f"{source}: row {row + 1} (request {frame['request'].iloc[row]!r}): {column} "
                              f"{str(frame[column].iloc[row])!r} must be 0 or 1" + ("" if column in PER_QUERY else " (or empty)"))
    if frame["request"].astype(str).duplicated().any():
        duplicate = frame["request"].astype(str)[frame["request"].astype(str).duplicated()].iloc[0]
        raise RevmuxError(f"{source}: request id {duplicate!r} appears more than once; ids must be unique")
    queries = frame["query"].astype(str)
    for column in PER_QUERY:
        if column not in frame:
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        differs = values.ne(values.groupby(queries).transform("first")).to_numpy()
        if differs.any():
            row = int(np.flatnonzero(differs)[0])
            what = "a query's answer has one size" if column == "size" else "a selector decides once per query"
            raise RevmuxError(f"{source}: row {row + 1} (request {frame['request'].iloc[row]!r}): {column} "
                              f"{str(frame[column].iloc[row])!r} differs from earlier requests of query "
                              f"{queries.iloc[row]!r}; {what}: make them agree")


def trace_from_frame(frame: pd.DataFrame, source: str = "trace") -> Trace:
    """A checked trace; every problem names its row and the fix, before any simulation."""
    _check_frame(frame, source)
    names, ids = np.unique(frame["query"].astype(str).to_numpy(), return_inverse=True)

    def column(name):
        return pd.to_numeric(frame[name], errors="coerce").to_numpy(float) if name in frame else np.full(len(frame), np.nan)

    size_per_query = None
    if "size" in frame:
        size_per_query = np.empty(len(names))
        size_per_query[ids] = column("size")
    optional = {"selector_cost": column("selector_cost") if "selector_cost" in frame else None,
                "escalate": column("escalate") if "escalate" in frame else None,
                **{name: column(name).astype(bool) if name in frame else None for name in ("keep_small", "pick_small")}}
    return _from_ids(ids, column("cost_small"), column("cost_large"), column("small_correct"), column("large_correct"),
                     size_per_query, list(names), **optional)


def read_trace(path: str | Path) -> Trace:
    path = Path(path)
    if not path.is_file():
        raise RevmuxError(f"caching trace {path} not found: pass an existing CSV (format: revmux/caching/traces.py)")
    try:
        # Ids are text as written ("NA" is a query like any other); an empty cell is refused below.
        frame = pd.read_csv(path, dtype={"request": str, "query": str}, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as error:
        raise RevmuxError(f"{path}: not a readable CSV ({error})") from None
    return trace_from_frame(frame, str(path))


def trace_frame(trace: Trace) -> pd.DataFrame:
    frame = pd.DataFrame({
        "request": np.arange(trace.requests), "query": np.asarray(trace.query_names)[trace.query],
        "cost_small": trace.cost_small, "cost_large": trace.cost_large,
        "small_correct": trace.small_correct, "large_correct": trace.large_correct, "size": trace.size[trace.query],
    })
    for name in ("selector_cost", "escalate", "keep_small", "pick_small"):
        values = getattr(trace, name)
        if values is not None:
            frame[name] = values.astype(float if name in ("selector_cost", "escalate") else int)
    return frame


def write_trace(path: str | Path, trace: Trace) -> None:
    atomic_write_text(path, trace_frame(trace).to_csv(index=False))
