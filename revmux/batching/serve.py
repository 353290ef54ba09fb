"""Serve a trace with one system and measure it: per-request timestamps and tokens, and the run's
throughput, latency percentiles, token-slot and key/value-slot waste, splice cost, memory and output
equality."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch

from revmux.batching.arrivals import ClosedLoop, OpenLoop
from revmux.batching.engine import Engine, Row
from revmux.batching.systems import system_class
from revmux.workloads.traces import Request

PERCENTILES = (50, 95, 99)
KV_COUNTERS = ("executed_kv_slots", "useful_kv_slots", "copied_bytes", "cache_growth_bytes")


def serve(system: str, model, requests: list[Request], max_batch: int, timeout_s: float = 0.0,
          concurrency: int | None = None, pad_token_id: int = 0) -> tuple[list[Row], dict, float]:
    """Rows as served, the engine's counters with `streams` (whether the system hands out each token as it is
    made: not static batching, which returns its rows with the batch), and the arrival offset of each request
    (closed loop: when it was sent). The clock starts at the first request's arrival. A system that runs its
    passes outside the engine has its key/value counters None: not counted."""
    cls = system_class(system)
    engine = Engine(model, pad_token_id)
    arrivals = ClosedLoop(requests, concurrency) if concurrency else OpenLoop(requests)
    scheduler = cls(engine, max_batch, timeout_s)
    engine.start = time.perf_counter()
    rows = scheduler.serve(arrivals)
    if len(rows) != len(requests):
        raise RuntimeError(f"{system} returned {len(rows)} of {len(requests)} requests")
    counters = engine.counters.as_dict()
    if not counters["forward_passes"]:  # it ran its passes outside the engine (continuous batching's paged cache)
        counters.update(dict.fromkeys(KV_COUNTERS))  # not counted, rather than zero
    counters["streams"] = bool(cls.returns_rows_at_once)
    return rows, counters, arrivals.arrival


def _percentiles(values: np.ndarray, prefix: str) -> dict:
    if not len(values):
        return {f"{prefix}_p{q}_s": None for q in PERCENTILES} | {f"{prefix}_mean_s": None}
    return {f"{prefix}_p{q}_s": float(np.percentile(values, q)) for q in PERCENTILES} | {f"{prefix}_mean_s": float(values.mean())}


def records(rows: list[Row], arrival: dict[str, float], reference: dict[str, list[int]] | None) -> pd.DataFrame:
    frame = []
    for row in rows:
        r = row.request
        expected = reference.get(r.request) if reference else None
        divergence = None
        if expected is not None:
            divergence = next((k for k, (a, b) in enumerate(zip(row.tokens, expected)) if a != b),
                              None if len(row.tokens) == len(expected) else min(len(row.tokens), len(expected)))
        frame.append({
            "request": r.request, "arrival_s": arrival[r.request], "admitted_s": row.admitted_s,
            "first_token_s": row.first_token_s, "finished_s": row.finished_s, "returned_s": row.returned_s,
            "prompt_tokens": len(r.prompt_ids), "output_tokens": r.output_tokens, "generated": len(row.tokens),
            "matches_reference": None if expected is None else divergence is None,
            "first_divergence": divergence, "tokens": " ".join(map(str, row.tokens)),
        })
    return pd.DataFrame(frame).sort_values("arrival_s", kind="stable").reset_index(drop=True)


def latencies(frame: pd.DataFrame, streams: bool = True) -> dict[str, np.ndarray]:
    """Per request of a run's records, in seconds: time to first token and end to end, from arrival; time
    per output token after the first (only requests of more than one token have one). A system that does not
    stream (static batching returns a request's tokens with its batch) hands out its first token when it
    returns the request, so its TTFT runs to the return; its TPOT is still the pace of generation, which its
    client never sees."""
    several = frame[frame["output_tokens"] > 1]
    first_seen = frame["first_token_s"] if streams else frame["returned_s"]
    return {"ttft": (first_seen - frame["arrival_s"]).to_numpy(),
            "tpot": ((several["finished_s"] - several["first_token_s"]) / (several["output_tokens"] - 1)).to_numpy(),
            "e2e": (frame["returned_s"] - frame["arrival_s"]).to_numpy()}


def _wasted(useful: int | None, executed: int | None) -> float | None:
    """1 - useful / executed, or None where nothing was counted."""
    return 1 - useful / executed if executed else None


def summarize(frame: pd.DataFrame, counters: dict) -> dict:
    """The run's figures. Waste is counted twice: over query slots (`wasted_slot_fraction`) and over the
    key/value slots the attention spans (`wasted_kv_fraction`), which also holds the padded and finished
    columns every query of a padded batch attends over. `counters` carries `serve`'s `streams` flag (absent:
    a streaming system), which decides where time to first token ends (`latencies`)."""
    times = latencies(frame, counters.get("streams", True))
    makespan = float(frame["returned_s"].max() - frame["arrival_s"].min())
    useful_tokens = int(frame["output_tokens"].sum())
    compared = frame["matches_reference"].dropna()
    return {
        "requests": len(frame), "makespan_s": makespan,
        "requests_per_s": len(frame) / makespan, "useful_tokens_per_s": useful_tokens / makespan,
        **_percentiles(times["ttft"], "ttft"), **_percentiles(times["tpot"], "tpot"), **_percentiles(times["e2e"], "e2e"),
        **counters,
        "wasted_slot_fraction": _wasted(counters["useful_slots"], counters["executed_slots"]),
        "wasted_kv_fraction": _wasted(counters.get("useful_kv_slots"), counters.get("executed_kv_slots")),
        "reference_compared": int(len(compared)),
        "reference_match_rate": float(compared.astype(bool).mean()) if len(compared) else None,
    }


def mark_loaded(model, device: torch.device) -> dict:
    """Call once the model is loaded and warmed up, just before serving: takes the memory in use as the
    baseline that `peak_memory` reads the serving's peak above, and resets the peak it will read. On the
    host, every page of the weights is read first (memory-mapped weights would otherwise enter the RSS
    while serving) and the kernel's RSS high-water mark is reset; on CUDA, torch's allocator peak."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        return {"baseline": torch.cuda.memory_allocated(device),
                "source": "torch max allocated while serving, minus the bytes allocated at its reset after loading and warm-up"}
    from revmux.measure.memory import kernel_peak_rss, make_resident, process_peak_rss, reset_kernel_peak_rss

    make_resident([model])
    # The since-start peak (`peak_bytes`), read before the reset that may lower what getrusage reports.
    mark = {"since_start": process_peak_rss()}
    try:
        if not reset_kernel_peak_rss():
            return mark | {"baseline": None, "reason": "the kernel offers no RSS high-water mark reset (/proc/self/clear_refs)"}
        return mark | {"baseline": kernel_peak_rss(),
                       "source": "kernel RSS high-water mark (VmHWM) while serving, reset after loading and warm-up with every "
                                 "page of the weights read, minus the RSS at the reset (memory the warm-up freed but the "
                                 "allocator kept is in the baseline)"}
    except OSError as error:
        return mark | {"baseline": None, "reason": f"the kernel's RSS high-water mark is unreadable: {error}"}


def peak_memory(device: torch.device, loaded: dict) -> dict:
    """The serving process's peak (`peak_bytes`; on the host since the process started, loading included)
    and its peak above the loaded, warmed-up model (`peak_above_loaded_bytes`, over `loaded_baseline_bytes`),
    from `mark_loaded`'s mark; None with the reason under `unavailable` where it cannot be read."""
    from revmux.measure.memory import kernel_peak_rss, process_peak_rss

    if device.type == "cuda":
        memory = {"peak_bytes": int(torch.cuda.max_memory_allocated(device)), "peak_source": "torch max allocated"}
    else:
        memory = {"peak_bytes": max(loaded["since_start"], process_peak_rss()),
                  "peak_source": "host RSS high-water mark of the serving process"}
    if loaded["baseline"] is None:
        return memory | {"peak_above_loaded_bytes": None, "loaded_baseline_bytes": None,
                         "unavailable": {"peak_above_loaded_bytes": loaded["reason"]}}
    peak = memory["peak_bytes"] if device.type == "cuda" else kernel_peak_rss()
    return memory | {"peak_above_loaded_bytes": peak - loaded["baseline"], "loaded_baseline_bytes": loaded["baseline"],
                     "peak_above_loaded_source": loaded["source"]}
