"""The generation track's tables, figures and verdicts from its run files (each run's result JSON and its
per-request records).

- Throughput and latency are read over each run's steady-state window (`steady_window`): warm-up and drain
  left out. Makespan requests/s (all requests over first arrival to last return) is kept beside it.
- Latency percentiles are reported only where there are enough requests (`PERCENTILE_MIN_SAMPLES`); in the
  per-workload table they pool the seeds' requests.
- Goodput: requests/s in the window that met a time-to-first-token and a time-per-output-token objective
  (`Objectives`), as vLLM's benchmark_serving and MLPerf's server scenario report it.
- Throughput: useful tokens/s in the window (each request's tokens spread between its first and last token),
  smooth where requests/s is not: static batching returns eight requests at once, so a short window holds a
  couple of batches and its requests/s moves in steps. Requests/s is shown beside it.
- Time to first token ends where the client gets the token: at the return for a system that does not stream
  (static batching returns a request's tokens with its batch; the run's `streams`).
- Keeping up: under Poisson arrivals, a system keeps up where it returned in its window nearly as many
  requests as arrived in it (`KEPT_UP_SHARE`). Where both systems keep up, both serve what arrives and their
  throughput is the arrival rate, so they are compared on median end-to-end latency instead.
- Best static: of the static configurations (`static` and its variants such as `static-t0.5-b8`; not hf-static,
  which is transformers' generate), the one with the highest median window tokens/s over seeds, chosen per
  workload: a configuration chosen per seed would be tuned on the runs it is judged on.
- Ratios: baton's over another system's, the median over seeds of each seed's ratio with the seeds' range. The
  two serve the same trace per seed, so the ratios are paired: one is ahead only where every seed's ratio lies
  beyond `WIN_MARGIN` and the two systems' seed ranges do not overlap.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from revmux.batching.config import Objectives
from revmux.core import layout
from revmux.core.errors import RevmuxError

RUN_KEYS = ["backbone", "workload", "system", "seed"]
COUNTERS = ["forward_passes", "prefill_passes", "executed_slots", "useful_slots", "wasted_slot_fraction", "executed_kv_slots",
            "useful_kv_slots", "wasted_kv_fraction", "copied_bytes", "cache_growth_bytes", "splices", "splice_s",
            "reference_match_rate"]
MIB = 2**20
THROUGHPUT = "window_tokens_per_s"  # what the verdicts compare where a system falls behind
REQUESTS_RATE = "window_requests_per_s"
LATENCY = "e2e_p50_s"  # what the verdicts compare where both systems keep up
BEST_STATIC = "best static"
BATON = "baton"
# What baton is compared with in the ratio table, and in the verdict sentences.
RATIO_OTHERS = ("orca", "padded-iteration", BEST_STATIC, "hf-continuous", "hf-continuous-orca")
VERDICT_OTHERS = ("orca", "padded-iteration", BEST_STATIC, "hf-continuous")
ORCA = "an unpadded Orca, orca (packed: selective batching, no padding)"
PADDED = ("padded-iteration (the padded iteration-level scheduler closest to what the BATON paper most likely "
          "compared with)")
MIN_SEEDS = 3  # fewer seeds: seed-to-seed variation is not measured, and no win is called
# One system is ahead only where every seed's ratio exceeds 1 + WIN_MARGIN (or lies below 1 / (1 + WIN_MARGIN)).
# Pairing by seed takes the trace's variation out, not the machine's: repeats of one serving run on the same
# machine moved by up to ~20%, so a 5% difference could be a repeat's drift; 10% is the smallest margin that is
# at least half that movement, and with three seeds all beyond it (and the ranges apart) noise alone rarely wins.
WIN_MARGIN = 0.10
# A system keeps up with Poisson arrivals where, at every seed, it returned in its window at least
# this share of the requests that arrived in it. Keeping up, it falls short only by the requests in flight at
# the window's end beyond those at its start (a few of some 40, Poisson-distributed: ~5% either way); falling
# behind, it falls short by its deficit every second, which a share of 0.9 still catches at 10% overload.
KEPT_UP_SHARE = 0.9
NO_CLEAR_DIFFERENCE = "no clear difference"
# A percentile needs this many requests: below, its value would be the largest one or two samples.
PERCENTILE_MIN_SAMPLES = {50: 1, 90: 10, 95: 20, 99: 100}
WARMUP_SHARE = 0.1  # the window starts once this share of the requests was returned
DRAIN_SHARE = 0.1  # where no request arrives after the start: the window ends before this last share returns
# One colour per system in every figure: the first seven as the figures in docs/batching-run/ were drawn
# (matplotlib's first colours in those systems' alphabetical order), then the later systems.
SYSTEM_COLORS = {"baton": "C0", "baton-no-split": "C1", "hf-continuous": "C2", "hf-static": "C3", "padded-iteration": "C4",
                 "static": "C5", "unbatched": "C6", "orca": "C8", "hf-continuous-orca": "C9", BEST_STATIC: "black"}


# --- reading runs -------------------------------------------------------------------------------------------

def _result(path: Path) -> dict:
    try:
        result = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RevmuxError(f"{path}: no such run result; `revmux serve --out {path}` writes it (in the workflow: "
                          "the batching_serve job of its workload and seed)") from None
    except (OSError, ValueError) as error:
        raise RevmuxError(f"{path}: unreadable run result ({error}); delete it and rerun its job") from None
    if result.get("kind") != "revmux-serve":
        raise RevmuxError(f"{path}: not a `revmux serve` result (kind {result.get('kind')!r})")
    return result


def _system_settings(system: str, settings: dict) -> dict:
    """The batching settings a run had: a variant's name (static-t0.5-b8) fixes its own."""
    from revmux.batching.systems import split_variant

    try:
        _, overrides = split_variant(system)
    except RevmuxError:  # a system this checkout does not know: its recorded settings are all there is
        overrides = {}
    return {"max_batch": settings.get("max_batch"), "timeout_s": settings.get("timeout_s"), **overrides}


def _fraction_wasted(executed, useful) -> float | None:
    return 1 - useful / executed if executed and useful is not None else None


def _streams(system: str, summary: dict) -> bool:
    """Whether a run's system hands out tokens as they are made: as its summary records, or for an older result
    as its scheduler class says (`returns_rows_at_once`: False for static batching and the systems built on it)."""
    from revmux.batching.systems import system_class

    if summary.get("streams") is not None:
        return bool(summary["streams"])
    try:
        return bool(system_class(system).returns_rows_at_once)
    except RevmuxError:  # a system this checkout does not know
        return True


def prefill_per_decode(forward_passes, prefill_passes) -> float | None:
    """Passes that took newcomers in (baton's prefill of their own; orca's and padded-iteration's pass joint with
    the running requests' decode; static's one per batch) per pass that only decoded: how often newcomers
    joined. None where the passes were not counted or none only decoded."""
    if not forward_passes or prefill_passes is None or forward_passes <= prefill_passes:
        return None
    return prefill_passes / (forward_passes - prefill_passes)


def run_row(path: Path) -> dict:
    """A run's settings, machine and counters from its result JSON. Counters a system does not keep (or that an
    older result lacks) are None, shown as "not counted"."""
    result = _result(path)
    trace, settings, summary = result.get("trace", {}), result["settings"], result["summary"]
    memory = result.get("memory") or {}
    counters = {column: summary.get(column) for column in COUNTERS}
    if counters["wasted_kv_fraction"] is None:
        counters["wasted_kv_fraction"] = _fraction_wasted(counters["executed_kv_slots"], counters["useful_kv_slots"])
    peak, above = memory.get("peak_bytes"), memory.get("peak_above_loaded_bytes")
    return {
        "backbone": result["backbone"]["name"], "random_init": result["backbone"]["random_init"],
        "system": result["system"], "label": result["label"], "workload": result["workload"], "seed": result["seed"],
        "load": trace.get("load"), "rate": (trace.get("settings") or {}).get("rate"),
        "concurrency": settings.get("concurrency"), **_system_settings(result["system"], settings),
        "device": settings["device"], "dtype": settings["dtype"], "threads": settings["threads"],
        "cpu": ((result.get("environment") or {}).get("host") or {}).get("cpu"),
        "requests": summary.get("requests"), "streams": _streams(result["system"], summary),
        "makespan_requests_per_s": summary.get("requests_per_s"), "makespan_tokens_per_s": summary.get("useful_tokens_per_s"),
        **counters, "prefill_per_decode": prefill_per_decode(counters["forward_passes"], counters["prefill_passes"]),
        "copied_mib": None if counters["copied_bytes"] is None else counters["copied_bytes"] / MIB,
        # the padded cache's growth by concatenation, every pass (orca writes in place: 0)
        "cache_growth_mib": None if counters["cache_growth_bytes"] is None else counters["cache_growth_bytes"] / MIB,
        "peak_memory_mib": None if peak is None else peak / MIB,
        "peak_above_loaded_mib": None if above is None else above / MIB,
    }


def per_request(frame: pd.DataFrame, streams: bool = True) -> pd.DataFrame:
    """Each request's time to first token and end to end (from arrival), and time per output token after the
    first (none for a request of one token), aligned with the records; a system that does not stream has its
    first token when it returns the request (`revmux.batching.serve.latencies`)."""
    from revmux.batching.serve import latencies

    times = latencies(frame, streams)
    several = frame.index[frame["output_tokens"] > 1]
    return pd.DataFrame({"ttft_s": times["ttft"], "tpot_s": pd.Series(times["tpot"], index=several).reindex(frame.index),
                         "e2e_s": times["e2e"]}, index=frame.index)


def request_rows(path: Path, run: dict | None = None) -> pd.DataFrame:
    """A run's requests, one row each: its records' timestamps and token counts, its latencies (`per_request`),
    and the run's backbone, workload, system and seed."""
    from revmux.batching.run import records_path

    run = run_row(path) if run is None else run
    records = records_path(path)
    try:
        frame = pd.read_csv(records)
    except (OSError, ValueError) as error:
        raise RevmuxError(f"{records}: the per-request records of {path} are unreadable ({error}); rerun its job") from None
    frame = frame[["request", "arrival_s", "first_token_s", "finished_s", "returned_s", "output_tokens"]]
    return pd.concat([pd.DataFrame({key: run[key] for key in RUN_KEYS}, index=frame.index), frame,
                      per_request(frame, run["streams"])], axis=1)


def collect(paths: list[Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every run (one row each, from its JSON) and every request of every run."""
    if not paths:
        raise RevmuxError("no batching run results given: run the batching rules first")
    runs = [run_row(path) for path in paths]
    frame = pd.DataFrame(runs)
    twice = frame[frame.duplicated(RUN_KEYS, keep=False)]
    if not twice.empty:
        first = twice.iloc[0]
        raise RevmuxError(f"the run of {first['system']} on {first['workload']}, seed {first['seed']} ({first['backbone']}) "
                          "is given twice: pass each run's result once")
    requests = pd.concat([request_rows(path, run) for path, run in zip(paths, runs)], ignore_index=True)
    return frame, requests


# --- the steady-state window, percentiles, goodput ----------------------------------------------------------

@dataclass(frozen=True)
class Window:
    start_s: float
    end_s: float
    end_rule: str  # "last arrival" or "90% returned"

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s

    def holds(self, times: pd.Series) -> pd.Series:
        return (times > self.start_s) & (times <= self.end_s)


def _time_of_share(times: pd.Series, share: float) -> float:
    """When the ceil(share x n)-th of n events happened."""
    rank = max(1, math.ceil(round(share * len(times), 9)))
    return float(np.sort(times.to_numpy(float))[rank - 1])


def steady_window(records: pd.DataFrame) -> Window | None:
    """A run's steady-state window, from its per-request records (times from the first arrival).

    Start: when the first 10% of the requests (rounded up) had been returned; before, batches form and the first
    prefills run (the warm-up). Completions mark it for every workload alike: offline every request arrives at
    t = 0, and a closed loop's first C requests do, so arrival times cannot.
    End: the last arrival, after which no new work comes and the system drains. Where no request arrives after
    the start (offline; or a backlog that outlasts the arrivals), when 90% of the requests (rounded up) had been
    returned, so the last 10% (the drain) are left out.
    A request is in the window when it was returned within (start, end]. None where the window is empty (every
    request returned at once)."""
    returned = records["returned_s"]
    start = _time_of_share(returned, WARMUP_SHARE)
    last_arrival = float(records["arrival_s"].max())
    if last_arrival > start:
        window = Window(start, last_arrival, "last arrival")
    else:
        window = Window(start, _time_of_share(returned, 1 - DRAIN_SHARE), f"{1 - DRAIN_SHARE:.0%} returned")
    return window if window.length_s > 0 else None


def tokens_in_window(records: pd.DataFrame, window: Window) -> float:
    """Useful tokens generated within the window: each request's tokens spread uniformly between its first
    token and its last (a request whose tokens all came at one time counts them there)."""
    first, last = records["first_token_s"].to_numpy(float), records["finished_s"].to_numpy(float)
    tokens = records["output_tokens"].to_numpy(float)
    span = last - first
    overlap = np.clip(np.minimum(last, window.end_s) - np.maximum(first, window.start_s), 0, None)
    share = np.where(span > 0, overlap / np.where(span > 0, span, 1), window.holds(records["first_token_s"]).to_numpy())
    return float((tokens * share).sum())


def meets_objectives(requests: pd.DataFrame, objectives: Objectives) -> pd.Series:
    """Requests that met both objectives (a request of one token has no TPOT: its TTFT decides)."""
    return (requests["ttft_s"] <= objectives.ttft_s) & (requests["tpot_s"].isna() | (requests["tpot_s"] <= objectives.tpot_s))


def percentile_columns(values: pd.Series, name: str) -> dict:
    """`<name>_p<q>_s` for every percentile of PERCENTILE_MIN_SAMPLES, None where too few values for it."""
    values = values.dropna().to_numpy(float)
    return {f"{name}_p{q}_s": float(np.percentile(values, q)) if len(values) >= need else None
            for q, need in PERCENTILE_MIN_SAMPLES.items()}


def highest_percentile(row, name: str) -> int | None:
    """The highest percentile above the median that a row (of `percentile_columns`) has enough samples for."""
    shown = [q for q in PERCENTILE_MIN_SAMPLES if q > 50 and _present(row.get(f"{name}_p{q}_s"))]
    return max(shown) if shown else None


def _present(value) -> bool:
    return value is not None and not pd.isna(value)


def window_metrics(requests: pd.DataFrame, objectives: Objectives) -> tuple[dict, pd.Series]:
    """One run's window throughput (requests, useful tokens), goodput and latency percentiles over the requests
    returned in its window, the requests that arrived in it, and which requests were returned in it."""
    window = steady_window(requests)
    if window is None:
        empty = {"window_start_s": None, "window_end_s": None, "window_end": None, "window_s": None, "window_requests": 0,
                 "window_arrivals": 0, REQUESTS_RATE: None, THROUGHPUT: None, "goodput_requests_per_s": None}
        for name in ("ttft", "tpot", "e2e"):
            empty.update(percentile_columns(requests[f"{name}_s"].iloc[0:0], name))
        return empty, requests["returned_s"] < 0
    inside = window.holds(requests["returned_s"])
    within = requests[inside]
    metrics = {"window_start_s": window.start_s, "window_end_s": window.end_s, "window_end": window.end_rule,
               "window_s": window.length_s, "window_requests": int(inside.sum()),
               "window_arrivals": int(window.holds(requests["arrival_s"]).sum()),
               REQUESTS_RATE: inside.sum() / window.length_s,
               THROUGHPUT: tokens_in_window(requests, window) / window.length_s,
               "goodput_requests_per_s": meets_objectives(within, objectives).sum() / window.length_s}
    for name in ("ttft", "tpot", "e2e"):
        metrics.update(percentile_columns(within[f"{name}_s"], name))
    return metrics, inside


def arrival_rate(requests: pd.DataFrame) -> float | None:
    """The rate a run's requests arrived at, over the span of their arrivals; None where they all arrived at once."""
    arrivals = requests["arrival_s"]
    span = float(arrivals.max() - arrivals.min())
    return (len(arrivals) - 1) / span if span > 0 else None


def with_windows(runs: pd.DataFrame, requests: pd.DataFrame, objectives: Objectives) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every run with its window metrics, and every request marked `in_window`. Under open-loop arrivals (not
    offline, not a closed loop, whose clients wait for the system) also the offered requests/s and
    `returned_per_arrived`: the requests returned in the window over those that arrived in it."""
    metrics, inside = [], pd.Series(False, index=requests.index)
    for key, group in requests.groupby(RUN_KEYS, sort=False, dropna=False):
        found, marks = window_metrics(group, objectives)
        metrics.append(dict(zip(RUN_KEYS, key)) | found | {"offered_requests_per_s": arrival_rate(group)})
        inside.loc[group.index] = marks.to_numpy()
    table = runs.merge(pd.DataFrame(metrics), on=RUN_KEYS, how="left")
    open_loop = table["concurrency"].isna() & table["offered_requests_per_s"].notna() & (table["window_arrivals"] > 0)
    table["offered_requests_per_s"] = table["offered_requests_per_s"].where(open_loop)
    table["returned_per_arrived"] = (table["window_requests"] / table["window_arrivals"]).where(open_loop)
    return _in_order(table, "system", "seed"), requests.assign(in_window=inside)


# --- best static, per-workload comparison, ratios -------------------------------------------------------------

def is_static_configuration(system: str) -> bool:
    """`static` or one of its variants (static-t0.5-b8); not hf-static, transformers' own generate."""
    from revmux.batching.systems import split_variant

    try:
        return split_variant(system)[0] == "static"
    except RevmuxError:
        return False


def best_static(table: pd.DataFrame) -> dict[tuple[str, str], str]:
    """Per backbone and workload, the static configuration with the highest median window tokens/s over seeds
    (ties: the first name in alphabetical order). Tokens/s, not requests/s: static returns a batch's requests at
    once, so its requests/s in a short window moves in steps and the luckiest of look-alike variants would win."""
    statics = table[table["system"].map(is_static_configuration)]
    medians = statics.groupby(["backbone", "workload", "system"])[THROUGHPUT].median().dropna()
    return {(backbone, workload): group.idxmax()[2] for (backbone, workload), group in medians.groupby(level=[0, 1])}


def _load_order(workload: str) -> float:
    if workload.startswith("load"):
        return float(workload.removeprefix("load"))
    return np.inf if workload == "offline" else -1.0


def _in_order(frame: pd.DataFrame, *then: str) -> pd.DataFrame:
    """Rows by backbone, then workload from the least to the most loaded (closed loops, loads, offline), then
    by `then`; rows otherwise equal keep their order."""
    order = frame["workload"].map(_load_order)
    return (frame.assign(_order=order).sort_values(["backbone", "_order", "workload", *then], kind="stable")
            .drop(columns="_order").reset_index(drop=True))


MEDIAN_COLUMNS = ["goodput_requests_per_s", "makespan_requests_per_s", "offered_requests_per_s", "returned_per_arrived",
                  "prefill_per_decode", "wasted_slot_fraction", "wasted_kv_fraction", "copied_mib", "cache_growth_mib", "splice_s",
                  "peak_memory_mib", "peak_above_loaded_mib", "window_s", "window_requests"]


def keeps_up(returned_per_arrived: pd.Series) -> bool | None:
    """Whether a system kept up with open-loop arrivals at every seed (each run's requests returned per request
    arrived in its window is at least KEPT_UP_SHARE: a median would call a system that fell behind at one seed of
    three keeping up, and compare latencies of a partly saturated run); None where arrivals were not open-loop."""
    shares = pd.to_numeric(returned_per_arrived, errors="coerce").dropna()
    return bool(shares.min() >= KEPT_UP_SHARE) if len(shares) else None


def comparison(table: pd.DataFrame, requests: pd.DataFrame, best: dict[tuple[str, str], str]) -> pd.DataFrame:
    """Per backbone, workload and system: window tokens/s and requests/s (median and the seeds' range), whether
    it keeps up (`keeps_up`), the medians of the other measures over seeds (prefill passes per decode pass among
    them), and the latency percentiles of every seed's window requests pooled; `best_static` marks the chosen
    static configuration (`best_static`)."""
    inside = requests[requests["in_window"]]
    rows = []
    for (backbone, workload, system), runs in table.groupby(["backbone", "workload", "system"]):
        pooled = inside[(inside.backbone == backbone) & (inside.workload == workload) & (inside.system == system)]
        row = {"backbone": backbone, "workload": workload, "system": system,
               "best_static": best.get((backbone, workload)) == system, "seeds": runs["seed"].nunique(),
               "streams": bool(runs["streams"].all())}
        for column in (THROUGHPUT, REQUESTS_RATE):
            values = pd.to_numeric(runs[column], errors="coerce").dropna()
            row |= {column: values.median() if len(values) else None, f"{column}_min": values.min() if len(values) else None,
                    f"{column}_max": values.max() if len(values) else None}
        row |= {"keeps_up": keeps_up(runs["returned_per_arrived"]), **{column: _median(runs[column]) for column in MEDIAN_COLUMNS},
                "window_end": "; ".join(sorted(runs["window_end"].dropna().unique())) or None, "pooled_requests": len(pooled)}
        for name in ("ttft", "tpot", "e2e"):
            row.update(percentile_columns(pooled[f"{name}_s"], name))
        rows.append(row)
    return _in_order(pd.DataFrame(rows), "system")


def _median(values: pd.Series):
    values = pd.to_numeric(values, errors="coerce").dropna()
    return float(values.median()) if len(values) else None


def seed_comparison(baton: pd.Series, other: pd.Series, lower_is_better: bool = False) -> dict | None:
    """baton's measure against another system's, each indexed by seed. Both served the same trace at a seed, so
    the seeds pair: the median over common seeds of each seed's ratio with the seeds' range, both systems'
    ranges, and who is ahead: "baton" or "other" where every seed's ratio lies beyond WIN_MARGIN on that side
    and the two systems' seed ranges do not overlap, "neither" otherwise, None with fewer than MIN_SEEDS seeds.
    Higher is better (throughput) unless `lower_is_better` (latency)."""
    baton, other = pd.to_numeric(baton, errors="coerce").dropna(), pd.to_numeric(other, errors="coerce").dropna()
    common = baton.index.intersection(other.index)
    if not len(common):
        return None
    mine, theirs = baton[common], other[common]
    ratio = mine / theirs
    ahead, every_seed = None, None
    if len(common) >= MIN_SEEDS:
        gain = 1 / ratio if lower_is_better else ratio  # above 1: baton did better at that seed
        # better on every paired seed beyond the margin, whether or not the ranges are apart (said beside a tie)
        every_seed = "baton" if (gain > 1 + WIN_MARGIN).all() else "other" if (gain < 1 / (1 + WIN_MARGIN)).all() else None
        better, worse = (-mine, -theirs) if lower_is_better else (mine, theirs)
        if (gain > 1 + WIN_MARGIN).all() and better.min() > worse.max():
            ahead = "baton"
        elif (gain < 1 / (1 + WIN_MARGIN)).all() and worse.min() > better.max():
            ahead = "other"
        else:
            ahead = "neither"
    return {"seeds": len(common), "ratio": float(ratio.median()), "ratio_min": float(ratio.min()),
            "ratio_max": float(ratio.max()), "baton_min": float(mine.min()), "baton_max": float(mine.max()),
            "other_min": float(theirs.min()), "other_max": float(theirs.max()), "ahead": ahead, "every_seed": every_seed}


def verdict_word(ahead: str | None, other: str, seeds: int, basis: str = "throughput") -> str:
    if ahead is None:
        return f"undecided ({seeds} of {MIN_SEEDS} seeds needed)"
    return {"baton": f"baton ahead in {basis}", "other": f"{other} ahead in {basis}", "neither": NO_CLEAR_DIFFERENCE}[ahead]


def _by_seed(runs: pd.DataFrame, system: str, column: str) -> pd.Series:
    return runs.loc[runs["system"] == system].set_index("seed")[column]


RATIO_COLUMNS = ["backbone", "workload", "other", "other_system", "other_label", "basis", "seeds", "ratio", "ratio_min",
                 "ratio_max", "baton_min", "baton_max", "other_min", "other_max", "requests_ratio", "offered",
                 "baton_keeps_up", "other_keeps_up", "latency_ratio", "latency_ratio_min", "latency_ratio_max",
                 "baton_goodput", "other_goodput", "ahead", "every_seed", "verdict"]


def ratios(table: pd.DataFrame, best: dict[tuple[str, str], str]) -> pd.DataFrame:
    """One row per backbone, workload and system baton is compared with (RATIO_OTHERS, where run; the best static
    configuration from `best_static`): baton's window tokens/s over the other's (`seed_comparison`; `ratio`) and
    the median of its requests/s ratios, whether each keeps up with open-loop arrivals (`keeps_up`), baton's
    median end-to-end latency over the other's and both goodputs. `basis` says what decides `ahead` and the
    verdict: latency where both keep up (their throughput is then the arrival rate), throughput elsewhere."""
    rows = []
    for (backbone, workload), runs in table.groupby(["backbone", "workload"]):
        if BATON not in set(runs["system"]):
            continue
        for other in RATIO_OTHERS:
            system = best.get((backbone, workload)) if other == BEST_STATIC else other
            speed = seed_comparison(_by_seed(runs, BATON, THROUGHPUT), _by_seed(runs, system, THROUGHPUT))
            if speed is None:
                continue
            requests = seed_comparison(_by_seed(runs, BATON, REQUESTS_RATE), _by_seed(runs, system, REQUESTS_RATE))
            latency = seed_comparison(_by_seed(runs, BATON, LATENCY), _by_seed(runs, system, LATENCY), lower_is_better=True)
            kept = [keeps_up(_by_seed(runs, each, "returned_per_arrived")) for each in (BATON, system)]
            basis = "latency" if kept == [True, True] and latency is not None else "throughput"
            decided = latency if basis == "latency" else speed
            label = f"{BEST_STATIC} ({system})" if other == BEST_STATIC else other
            pair = runs[runs["system"].isin([BATON, system])]
            rows.append({"backbone": backbone, "workload": workload, "other": other, "other_system": system,
                         "other_label": label, "basis": basis, **speed, "seeds": decided["seeds"],
                         "requests_ratio": requests["ratio"] if requests else None,
                         "offered": _median(pair["offered_requests_per_s"]),
                         "baton_keeps_up": kept[0], "other_keeps_up": kept[1],
                         **({"latency_ratio": latency["ratio"], "latency_ratio_min": latency["ratio_min"],
                             "latency_ratio_max": latency["ratio_max"]} if latency else {}),
                         "baton_goodput": _median(_by_seed(runs, BATON, "goodput_requests_per_s")),
                         "other_goodput": _median(_by_seed(runs, system, "goodput_requests_per_s")),
                         "ahead": decided["ahead"], "every_seed": decided.get("every_seed"),
                         "verdict": verdict_word(decided["ahead"], label, decided["seeds"], basis)})
    return _in_order(pd.DataFrame(rows, columns=RATIO_COLUMNS)) if rows else pd.DataFrame(columns=RATIO_COLUMNS)


# --- verdicts -----------------------------------------------------------------------------------------------

def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def machine(runs: pd.DataFrame) -> str:
    """The machine the runs were timed on, e.g. 'cpu (AMD EPYC 7B13), float32, 2 threads'."""
    parts = []
    for device, here in runs.groupby("device"):
        name = device
        if device == "cpu":
            cpus = sorted(here["cpu"].dropna().unique())
            name += f" ({' / '.join(cpus)})" if cpus else ""
        details = [" / ".join(sorted(here["dtype"].unique()))]
        if device == "cpu":
            threads = sorted(int(t) for t in here["threads"].unique())
            details.append(f"{' / '.join(map(str, threads))} thread{'s' if threads != [1] else ''}")
        parts.append(", ".join([name, *details]))
    return "; ".join(parts)


def _where(workload: str) -> str:
    """A workload as a place in a sentence: 'offline', 'at load 1.5x', 'in a closed loop of 8 clients'."""
    if workload.startswith("load"):
        return f"at load {workload.removeprefix('load')}x"
    if workload.startswith("closed"):
        return f"in a closed loop of {workload.removeprefix('closed')} clients"
    return workload


def _opening(workload: str) -> str:
    if workload.startswith("load"):
        load = workload.removeprefix("load")
        return f"At load {load}x (Poisson arrivals at {load}x static batching's measured offline capacity)"
    if workload == "offline":
        return "Offline (every request arrives at t = 0)"
    where = _where(workload)
    return where[0].upper() + where[1:]


def _times(ratio: float, low: float, high: float) -> str:
    return f"{ratio:.2f}x [{low:.2f}x, {high:.2f}x]"


def _keeping_up(row) -> str:
    """Who keeps up with the offered open-loop arrivals, as a clause; empty for other workloads."""
    kept = (row["baton_keeps_up"], row["other_keeps_up"])
    if not _present(row["offered"]) or not all(isinstance(each, (bool, np.bool_)) for each in kept):
        return ""
    offered, other = f"the offered {row['offered']:.2f} requests/s", row["other_label"]
    if all(kept):
        return f"both keep up with {offered}"
    if not any(kept):
        return f"both fall behind {offered}"
    return f"{other if kept[0] else 'baton'} falls behind {offered}"


def _clause(row) -> str:
    """baton against one system at one workload: who keeps up, the compared measure's ratio, and who is ahead."""
    other = row["other_label"]
    if row["basis"] == "latency":
        measure = (f"baton's median end-to-end latency is "
                   f"{_times(row['latency_ratio'], row['latency_ratio_min'], row['latency_ratio_max'])} {other}'s "
                   f"(goodput {row['baton_goodput']:.2f} against {row['other_goodput']:.2f} requests/s)")
    else:
        requests = f" (requests/s {row['requests_ratio']:.2f}x)" if _present(row["requests_ratio"]) else ""
        measure = (f"baton's useful tokens/s is {_times(row['ratio'], row['ratio_min'], row['ratio_max'])} "
                   f"{other}'s{requests}")
    verdict = {"baton": f"baton ahead in {row['basis']}", "other": f"{other} ahead in {row['basis']}",
               "neither": NO_CLEAR_DIFFERENCE}.get(row["ahead"],
                                                   f"undecided with {_count(row['seeds'], 'seed')} ({MIN_SEEDS} needed)")
    if row["ahead"] == "neither" and row.get("every_seed") in ("baton", "other"):
        better = "baton" if row["every_seed"] == "baton" else other
        verdict += f" by the rule, though {better} is better by more than {WIN_MARGIN:.0%} at every paired seed (the seeds' ranges overlap)"
    keeping_up = _keeping_up(row)
    return f"Against {other}: " + (f"{keeping_up}; " if keeping_up else "") + f"{measure}: {verdict}."


def rule_text() -> str:
    return (f"one system is ahead only where every seed's ratio lies beyond {WIN_MARGIN:.0%} on its side (above "
            f"{1 + WIN_MARGIN:.2f}x or below 1/{1 + WIN_MARGIN:.2f}x) and the two systems' seed ranges do not "
            f"overlap, with at least {MIN_SEEDS} seeds; otherwise there is no clear difference")


def scope_sentence(runs: pd.DataFrame) -> str:
    backbone = runs["backbone"].iloc[0]
    weights = "random weights" if runs["random_init"].any() else "real weights"
    seeds = sorted(int(s) for s in runs["seed"].unique())
    sizes = sorted(int(n) for n in runs["requests"].dropna().unique())
    systems = sorted(runs["system"].unique(), key=lambda s: (s != BATON, s))
    return (f"Generation batching on {machine(runs)}, with {backbone} ({weights}): {_count(len(seeds), 'seed')} "
            f"({', '.join(map(str, seeds))}), each a trace of {' or '.join(map(str, sizes))} requests per workload, served "
            f"by {_and(systems)}. Ratios are baton's over the other system's in each run's steady-state window, the "
            "median over seeds of each seed's ratio with the seeds' [min, max]: of useful tokens/s, or, where both "
            f"systems keep up with Poisson arrivals (returning at least {KEPT_UP_SHARE:.0%} as many requests as "
            "arrived), of median end-to-end latency; the two serve the same trace per seed, so "
            f"{rule_text()}.")


def standing_sentence(mine: pd.DataFrame, other: str, name: str) -> str | None:
    """Where BATON is ahead of one system, behind it, or neither, by what measure; None where it was not run."""
    against = mine[mine["other"] == other]
    if against.empty:
        return None
    ahead, basis = against["ahead"], against["basis"]

    def places(chosen) -> str:
        return _and([_where(workload) for workload in against.loc[chosen, "workload"]])

    parts = []
    for who, word in (("baton", "ahead"), ("other", "behind")):
        for measure, text in (("throughput", "in throughput"), ("latency", "in latency where both keep up")):
            chosen = (ahead == who) & (basis == measure)
            if chosen.any():
                parts.append(f"{word} {text} {places(chosen)}")
    every_seed = against["every_seed"] if "every_seed" in against else pd.Series(None, index=against.index)
    if (ahead == "neither").any():
        parts.append(f"{NO_CLEAR_DIFFERENCE} {places(ahead == 'neither')}")
    for who, word in (("baton", "BATON"), ("other", name.split(" (")[0])):
        chosen = (ahead == "neither") & (every_seed == who)
        if chosen.any():
            parts.append(f"of those, {word} is better by more than {WIN_MARGIN:.0%} at every paired seed, with the "
                         f"seeds' ranges overlapping, {places(chosen)}")
    if ahead.isna().any():
        parts.append(f"undecided {places(ahead.isna())} (fewer than {MIN_SEEDS} seeds)")
    head = f"Against {name}, BATON is " + ("" if (ahead == "baton").any() else "not ahead in any workload here: ")
    return head + "; ".join(parts) + "."


def orca_sentence(mine: pd.DataFrame) -> str:
    """Whether BATON beats an unpadded Orca here, said plainly: ahead in throughput, ahead in latency where both
    keep up, behind, or no clear difference, at which workloads."""
    found = standing_sentence(mine, "orca", ORCA)
    return found or "No orca run: whether BATON beats an unpadded Orca is not measured here."


def verdicts(table: pd.DataFrame, ratio_table: pd.DataFrame) -> list[tuple[str, str]]:
    """The verdict sentences, (backbone, sentence): the scope, then per workload baton against orca,
    padded-iteration, best static and hf-continuous, and last whether BATON beats Orca (and padded-iteration,
    where it was served)."""
    found = []
    for backbone, runs in table.groupby("backbone", sort=False):
        found.append((backbone, scope_sentence(runs)))
        mine = ratio_table[ratio_table["backbone"] == backbone]
        for workload, rows in mine.groupby("workload", sort=False):
            clauses = [_clause(row) for other in VERDICT_OTHERS for _, row in rows[rows["other"] == other].iterrows()]
            if clauses:
                found.append((backbone, f"{_opening(workload)}. {' '.join(clauses)}"))
        found.append((backbone, orca_sentence(mine)))
        padded = standing_sentence(mine, "padded-iteration", PADDED)
        if padded:
            found.append((backbone, padded))
    return found


def verdict_note(objectives: Objectives) -> str:
    return "Computed from the batching table. " + table_note(objectives)


def table_note(objectives: Objectives) -> str:
    return (window_note(objectives) + " Best static: the static configuration "
            "(static and its timeout/batch variants; not hf-static) with the highest median useful tokens/s over "
            "seeds, chosen per workload (tokens/s, since static returns a batch's requests at once and its "
            "requests/s in a short window moves in steps). Keeping up: under Poisson arrivals, a system keeps up "
            f"where, at every seed, it returned in its window at least {KEPT_UP_SHARE:.0%} as many "
            "requests as arrived in it. Where baton and the other system both keep up, their throughput is the "
            "arrival rate, so they are compared on median end-to-end latency (goodput beside it); elsewhere on "
            f"useful tokens/s (requests/s beside it). Ratios are paired by seed (the same trace): {rule_text()}. "
            "Every pair is compared, with no correction for the number of comparisons. Prefill passes per decode "
            "pass: passes that took newcomers in (baton's own prefill pass; orca's and padded-iteration's pass "
            "joint with the running requests' decode; static's one per batch) per pass that only decoded, the "
            "median over seeds: how often newcomers joined.")


def window_note(objectives: Objectives) -> str:
    shares = f"{WARMUP_SHARE:.0%}"
    return (f"Throughput and latency are over each run's steady-state window: from when {shares} of its requests had "
            f"been returned (warm-up out) to the last arrival (drain out), or, where nothing arrives after that "
            f"(offline), to when {1 - DRAIN_SHARE:.0%} had been returned; a request counts when it is returned in the "
            "window, and useful tokens are spread evenly between a request's first and last token. Percentiles only "
            f"with enough requests ({', '.join(f'p{q}: {n}' for q, n in PERCENTILE_MIN_SAMPLES.items())}), the highest "
            "such shown; per workload they pool the seeds' window requests. Time to first token runs from arrival to "
            "when the client gets the token: for a system that does not stream (static, hf-static and unbatched "
            "return a request's tokens with its batch) to the return; their time per output token is the pace of "
            f"generation, which their clients never see. Goodput: window requests/s that met {objectives.text()} "
            "(this harness's choice for a CPU, set with --slo-ttft/--slo-tpot). Makespan "
            "requests/s: every request over first arrival to last return, warm-up and drain in.")


def verdicts_markdown(found: list[tuple[str, str]], level: int = 2) -> str:
    parts = []
    for backbone in dict.fromkeys(backbone for backbone, _ in found):
        parts += [f"{'#' * level} {backbone}", ""] + [f"- {text}" for b, text in found if b == backbone] + [""]
    return "\n".join(parts)


# --- tables as shown ----------------------------------------------------------------------------------------

NOT_COUNTED = "not counted"
TOO_FEW = "–"


def _number(value, digits: int = 3, missing: str = NOT_COUNTED) -> str:
    return f"{value:.{digits}f}" if _present(value) else missing


def _spread(row, column: str, digits: int = 3) -> str:
    if not _present(row[column]):
        return "no window"
    return f"{row[column]:.{digits}f} [{row[f'{column}_min']:.{digits}f}, {row[f'{column}_max']:.{digits}f}]"


def _tail(row, name: str) -> str:
    q = highest_percentile(row, name)
    return f"{row[f'{name}_p{q}_s']:.3f} (p{q})" if q else TOO_FEW


def _window_text(row) -> str:
    if not _present(row["window_s"]):
        return "none (every request returned at once)"
    return f"{WARMUP_SHARE:.0%} returned → {row['window_end']}"


def _latencies(row) -> dict:
    return {"TTFT p50 (s)": _number(row["ttft_p50_s"], missing=TOO_FEW), "TTFT tail (s)": _tail(row, "ttft"),
            "TPOT p50 (s)": _number(row["tpot_p50_s"], missing=TOO_FEW), "TPOT tail (s)": _tail(row, "tpot")}


def _costs(row) -> dict:
    return {"query-slot waste": _number(row["wasted_slot_fraction"]), "KV-slot waste": _number(row["wasted_kv_fraction"]),
            "copied MiB": _number(row["copied_mib"], 1), "cache growth MiB": _number(row["cache_growth_mib"], 0),
            "peak MiB": _number(row["peak_memory_mib"], 0),
            "peak above loaded MiB": _number(row["peak_above_loaded_mib"], 0)}


def _kept_text(kept) -> str:
    return "–" if not isinstance(kept, (bool, np.bool_)) else "yes" if kept else "no"


def shown_runs(table: pd.DataFrame) -> pd.DataFrame:
    """Every run as printed: counters a system does not keep read "not counted", percentiles with too few
    requests "–"."""
    return pd.DataFrame([{
        "backbone": row["backbone"], "workload": row["workload"], "system": row["system"], "seed": row["seed"],
        "window": (f"{_window_text(row)}: {row['window_start_s']:.2f}-{row['window_end_s']:.2f} s, "
                   f"{int(row['window_requests'])} requests") if _present(row["window_s"]) else _window_text(row),
        "tokens/s (window)": _number(row[THROUGHPUT], 1, missing="no window"),
        "requests/s (window)": _number(row[REQUESTS_RATE], missing="no window"),
        "returned per arrived (window)": _number(row["returned_per_arrived"], 2, missing="–"),
        "goodput requests/s": _number(row["goodput_requests_per_s"], missing="no window"),
        "requests/s (makespan)": _number(row["makespan_requests_per_s"]),
        "streams": "yes" if row["streams"] else "no (TTFT to the return)",
        **_latencies(row), "prefill passes per decode pass": _number(row["prefill_per_decode"], 2),
        **_costs(row), "splice s": _number(row["splice_s"]),
        "matches unbatched": _number(row["reference_match_rate"], missing="not compared"),
        "device": row["device"], "dtype": row["dtype"], "threads": row["threads"],
    } for _, row in table.iterrows()])


def shown_comparison(compared: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame([{
        "backbone": row["backbone"], "workload": row["workload"],
        "system": f"{row['system']} ({BEST_STATIC})" if row["best_static"] else row["system"], "seeds": row["seeds"],
        "tokens/s (window) median [min, max]": _spread(row, THROUGHPUT, 1),
        "requests/s (window) median [min, max]": _spread(row, REQUESTS_RATE),
        "keeps up": _kept_text(row["keeps_up"]),
        "goodput requests/s": _number(row["goodput_requests_per_s"], missing="no window"),
        "requests/s (makespan)": _number(row["makespan_requests_per_s"]),
        **_latencies(row), "E2E p50 (s)": _number(row[LATENCY], missing=TOO_FEW), "pooled requests": row["pooled_requests"],
        "prefill passes per decode pass": _number(row["prefill_per_decode"], 2), **_costs(row),
        "window (median length)": (f"{_window_text(row)}, {row['window_s']:.2f} s" if _present(row["window_s"])
                                   else _window_text(row)),
    } for _, row in compared.iterrows()])


SHOWN_RATIO_COLUMNS = ["backbone", "workload", "baton over", "seeds", "keeps up (baton, other)", "compared on",
                       "tokens/s ratio median [min, max]", "requests/s ratio", "E2E p50 ratio median [min, max]",
                       "baton tokens/s [min, max]", "other tokens/s [min, max]", "verdict"]


def shown_ratios(ratio_table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame([{
        "backbone": row["backbone"], "workload": row["workload"], "baton over": row["other_label"], "seeds": row["seeds"],
        "keeps up (baton, other)": f"{_kept_text(row['baton_keeps_up'])}, {_kept_text(row['other_keeps_up'])}",
        "compared on": "median end-to-end latency" if row["basis"] == "latency" else "useful tokens/s",
        "tokens/s ratio median [min, max]": f"{row['ratio']:.2f} [{row['ratio_min']:.2f}, {row['ratio_max']:.2f}]",
        "requests/s ratio": _number(row["requests_ratio"], 2, missing="–"),
        "E2E p50 ratio median [min, max]": (f"{row['latency_ratio']:.2f} [{row['latency_ratio_min']:.2f}, "
                                            f"{row['latency_ratio_max']:.2f}]" if _present(row["latency_ratio"]) else TOO_FEW),
        "baton tokens/s [min, max]": f"[{row['baton_min']:.1f}, {row['baton_max']:.1f}]",
        "other tokens/s [min, max]": f"[{row['other_min']:.1f}, {row['other_max']:.1f}]",
        "verdict": row["verdict"],
    } for _, row in ratio_table.iterrows()], columns=SHOWN_RATIO_COLUMNS)


SECTIONS = ("Per workload: every system, the best static configuration marked",
            "baton against each other system", "Verdicts", "Every run")


def markdown(tables: dict, objectives: Objectives) -> str:
    found = tables["verdicts"]
    parts = ["# Generation batching", "", table_note(objectives), ""]
    for title, frame in zip(SECTIONS, (tables["comparison"], tables["ratios"], None, tables["runs"])):
        body = verdicts_markdown(found, level=3) if frame is None else frame.to_markdown(index=False, disable_numparse=True) + "\n"
        parts += [f"## {title}", "", body]
    return "\n".join(parts)


def html(tables: dict, objectives: Objectives) -> str:
    from html import escape

    parts = [f"<p>{escape(table_note(objectives))}</p>"]
    for title, frame in zip(SECTIONS, (tables["comparison"], tables["ratios"], None, tables["runs"])):
        body = ("<ul>" + "".join(f"<li>{escape(text)}</li>" for _, text in tables["verdicts"]) + "</ul>" if frame is None
                else frame.to_html(index=False))
        parts += [f"<h2>{escape(title)}</h2>", body]
    return "\n".join(parts) + "\n"


def verdicts_text(found: list[tuple[str, str]], objectives: Objectives) -> str:
    """batching-verdicts.md: the verdict sentences alone, one bullet each, to be quoted as they are."""
    return "\n".join(["# Verdicts: generation batching", "", verdict_note(objectives), "",
                      verdicts_markdown(found)]).rstrip() + "\n"


def build_tables(paths: list[Path], objectives: Objectives) -> dict:
    runs, requests = collect(paths)
    table, requests = with_windows(runs, requests, objectives)
    best = best_static(table)
    ratio_table = ratios(table, best)
    compared = comparison(table, requests, best)
    return {"objectives": objectives, "table": table, "requests": requests, "best": best, "compared": compared,
            "ratio_table": ratio_table,
            "runs": shown_runs(table), "comparison": shown_comparison(compared), "ratios": shown_ratios(ratio_table),
            "verdicts": verdicts(table, ratio_table)}


# --- figures ------------------------------------------------------------------------------------------------

def _system_color(system: str) -> str:
    return SYSTEM_COLORS.get(system, "grey")


def _workload_title(workload: str) -> str:
    if workload.startswith("load"):
        return f"{workload}: Poisson arrivals at {workload.removeprefix('load')} x static batching's offline capacity"
    if workload.startswith("closed"):
        return f"{workload}: {workload.removeprefix('closed')} clients, each sending its next request when served"
    return f"{workload}: every request arrives at once" if workload == "offline" else workload


def _seconds(value: float, _position=None) -> str:
    return f"{value:g}"


def _two_and_five(value: float, _position=None) -> str:
    return _seconds(value) if f"{value:.0e}"[0] in "25" else ""


def _systems_in_order(systems) -> list[str]:
    present = set(systems)
    return [system for system in SYSTEM_COLORS if system in present] + sorted(present - set(SYSTEM_COLORS))


def latency_distributions(requests: pd.DataFrame, backbone: str):
    """One row of panels per workload: each system's empirical CDF of time to first token and of time per
    output token over its requests (every seed's pooled), on log scales."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    own = requests[requests["backbone"] == backbone]
    workloads = sorted(own["workload"].unique(), key=_load_order)
    figure = Figure(figsize=(12, 1.2 + 3.2 * len(workloads)))
    panels = figure.subplots(len(workloads), 2, squeeze=False)
    systems = _systems_in_order(own["system"])
    for (ttft_axes, tpot_axes), workload in zip(panels, workloads):
        here = own[own["workload"] == workload]
        for axes, column, what in ((ttft_axes, "ttft_s", "time to first token (s, from arrival)"),
                                   (tpot_axes, "tpot_s", "time per output token after the first (s)")):
            for system in systems:
                values = np.sort(here.loc[here["system"] == system, column].dropna().to_numpy())
                if len(values):
                    share = np.arange(1, len(values) + 1) / len(values)
                    axes.step(values, share, where="post", color=_system_color(system), label=system)
            for quantile in (0.5, 0.99):
                axes.axhline(quantile, color="grey", linestyle=":", linewidth=0.8)
            axes.set_xscale("log")
            # seconds as plain numbers, with 2 and 5 labelled between powers of ten: a distribution often
            # spans less than a decade, where matplotlib would label no tick or every one
            axes.xaxis.set_major_formatter(FuncFormatter(_seconds))
            axes.xaxis.set_minor_formatter(FuncFormatter(_two_and_five))
            axes.set_ylim(0, 1.02)
            axes.set_xlabel(what)
            axes.set_ylabel("share of requests at or below")
            axes.grid(alpha=0.3, which="both")
        seeds = here["seed"].nunique()
        ttft_axes.set_title(_workload_title(workload) + (f" ({seeds} seeds pooled)" if seeds > 1 else ""), fontsize=9, loc="left")
    figure.suptitle(f"{backbone}: time to first token and time per output token per request, by workload "
                    "(dotted: median and 99th percentile)")
    handles = [Line2D([], [], color=_system_color(system), label=system) for system in systems]
    figure.tight_layout(rect=(0, 0.5 / figure.get_figheight(), 1, 1 - 0.4 / figure.get_figheight()))
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8)
    return figure


def plotted(frame: pd.DataFrame, best: dict[tuple[str, str], str]) -> pd.DataFrame:
    """The rows a figure draws (of the run table or the comparison): every system but the static variants,
    and each workload's best static configuration (`best_static`) once more as `best static`."""
    chosen = [best.get((backbone, workload)) == system
              for backbone, workload, system in zip(frame["backbone"], frame["workload"], frame["system"])]
    variants = frame["system"].map(is_static_configuration) & (frame["system"] != "static")
    return pd.concat([frame[~variants], frame[chosen].assign(system=BEST_STATIC)], ignore_index=True)


def _band(axes, x, middle, low, high, system: str, label: str, linestyle: str = "-", marker: str = "o") -> None:
    color = _system_color(system)
    axes.plot(x, middle, marker=marker, linestyle=linestyle, color=color, label=label)
    if low is not None:
        axes.fill_between(x, low, high, color=color, alpha=0.12, linewidth=0)


def _label(axes, y: str, title: str) -> None:
    axes.set_xlabel("offered load (x measured static capacity, Poisson)")
    axes.set_ylabel(y)
    axes.set_title(title, fontsize=9)
    axes.grid(alpha=0.3, which="both")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=7)


def _loaded(frame: pd.DataFrame) -> pd.DataFrame:
    loaded = frame[frame["workload"].str.startswith("load")]
    return loaded.assign(offered=loaded["workload"].map(_load_order))


def _pair(title: str):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.4), layout="constrained")
    figure.suptitle(title, fontsize=10)
    return figure, figure.subplots(1, 2)


def throughput_figure(runs: pd.DataFrame, backbone: str, objectives: Objectives):
    """Window requests/s and goodput against offered load, median over seeds with their min-max band."""
    figure, panels = _pair(f"{backbone}: throughput vs offered load (line: median over seeds; band: the seeds' range)")
    for axes, column, title in zip(panels, (REQUESTS_RATE, "goodput_requests_per_s"),
                                   ("requests/s in the steady-state window", f"goodput: window requests/s with {objectives.text()}")):
        for system in _systems_in_order(runs["system"]):
            spread = runs[runs["system"] == system].groupby("offered")[column].agg(["median", "min", "max"]).dropna()
            if len(spread):
                _band(axes, spread.index, spread["median"], spread["min"], spread["max"], system, system)
        _label(axes, "requests/s", title)
    return figure


def _common_tail(rows: pd.DataFrame, name: str) -> int | None:
    """The highest percentile every row has enough pooled requests for."""
    levels = [highest_percentile(row, name) for _, row in rows.iterrows()]
    return None if not levels or None in levels else min(levels)


def latency_figure(compared: pd.DataFrame, runs: pd.DataFrame, backbone: str):
    """TTFT and TPOT against offered load: the median (solid) and the highest percentile every point has enough
    pooled requests for (dashed), with the seeds' range of their own values where each seed has enough."""
    from matplotlib.ticker import FuncFormatter

    figure, panels = _pair(f"{backbone}: latency vs offered load over the window requests, seeds pooled "
                           "(band: the seeds' own range, where each seed has enough requests)")
    for axes, name, what in zip(panels, ("ttft", "tpot"), ("time to first token", "time per output token")):
        tail = _common_tail(compared, name)
        for system in _systems_in_order(compared["system"]):
            points = compared[compared["system"] == system].set_index("offered").sort_index()
            seeds = runs[runs["system"] == system].groupby("offered")
            for q, style, marker in ((50, "-", "o"), (tail, "--", "x")):
                if q is None:
                    continue
                column = f"{name}_p{q}_s"
                spread = seeds[column].agg(["min", "max", "count"])
                complete = bool(len(spread)) and bool((spread["count"] == seeds.size()).all())
                _band(axes, points.index, points[column].astype(float), spread["min"] if complete else None,
                      spread["max"] if complete else None, system, system if q == 50 else "_", style, marker)
        axes.set_yscale("log")
        axes.yaxis.set_major_formatter(FuncFormatter(_seconds))
        axes.yaxis.set_minor_formatter(FuncFormatter(_two_and_five))
        tail_text = f"dashed: p{tail}" if tail else "no tail: too few requests"
        _label(axes, "seconds", f"{what} (solid: p50; {tail_text})")
    return figure


def _bars(axes, values: pd.DataFrame, column: str, ylabel: str, title: str) -> None:
    """Per system, the median over its runs with the min-max as error bars; a system without the counter says so."""
    systems = _systems_in_order(values["system"])
    for index, system in enumerate(systems):
        counted = pd.to_numeric(values.loc[values["system"] == system, column], errors="coerce").dropna()
        if not len(counted):
            axes.text(index, 0, NOT_COUNTED, rotation=90, ha="center", va="bottom", fontsize=7)
            continue
        median = counted.median()
        axes.bar(index, median, color=_system_color(system),
                 yerr=[[median - counted.min()], [counted.max() - median]], capsize=3)
    axes.set_xticks(range(len(systems)), systems, rotation=30, ha="right", fontsize=7)
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=9)


def bars_figure(runs: pd.DataFrame, title: str, panels: tuple) -> object:
    """Two panels of per-system bars (`_bars`), each given as (column, y label, title)."""
    figure, axes = _pair(f"{title} (bar: median over each system's runs; whiskers: their range)")
    for each, (column, ylabel, panel_title) in zip(axes, panels):
        _bars(each, runs, column, ylabel, panel_title)
    return figure


def figures(tables: dict, backbone: str) -> dict:
    """Every figure of one backbone, by its name in layout.BATCHING_FIGURES."""
    runs = plotted(tables["table"][tables["table"]["backbone"] == backbone], tables["best"])
    compared = plotted(tables["compared"][tables["compared"]["backbone"] == backbone], tables["best"])
    return {"throughput-vs-load": throughput_figure(_loaded(runs), backbone, tables["objectives"]),
            "latency-vs-load": latency_figure(_loaded(compared), _loaded(runs), backbone),
            "waste": bars_figure(runs, f"{backbone}: waste", (
                ("wasted_slot_fraction", "share of executed query token-slots", "query slots that advanced no request"),
                ("wasted_kv_fraction", "share of executed key/value slots",
                 "key/value slots outside the query's own request"))),
            "ttft-tpot": latency_distributions(tables["requests"], backbone),
            "copies-memory": bars_figure(runs, f"{backbone}: cache copies and memory", (
                ("copied_mib", "MiB per run", "key/value bytes copied by splices, removals, compaction"),
                ("peak_above_loaded_mib", "MiB", "peak memory of the serving process above its loaded model")))}


def write_all(paths: list[Path], tables_dir: Path, plots_dir: Path, objectives: Objectives = Objectives()) -> list[Path]:
    from revmux.core.atomic import atomic_write_svg, atomic_write_text

    tables = build_tables(paths, objectives)
    tables_dir, plots_dir = Path(tables_dir), Path(plots_dir)
    table = tables_dir / Path(layout.BATCHING_TABLE).name
    verdict_file = tables_dir / Path(layout.BATCHING_VERDICTS).name
    files = {table: tables["table"].to_csv(index=False), table.with_suffix(".md"): markdown(tables, objectives),
             table.with_suffix(".html"): html(tables, objectives), verdict_file: verdicts_text(tables["verdicts"], objectives)}
    for path, text in files.items():
        atomic_write_text(path, text)
    written = list(files)
    for backbone in tables["table"]["backbone"].unique():
        for name, figure in figures(tables, backbone).items():
            path = plots_dir / layout.BATCHING_PLOT.format(backbone=backbone, figure=name)
            atomic_write_svg(path, figure)
            written.append(path)
    return written
