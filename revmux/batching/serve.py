"""Serve a trace with one system and measure it: per-request timestamps and tokens, and the run's
throughput, latency percentiles, token-slot waste, splice cost, memory and output equality."""

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


def serve(system: str, model, requests: list[Request], max_batch: int, timeout_s: float = 0.0,
          concurrency: int | None = None, pad_token_id: int = 0) -> tuple[list[Row], dict, float]:
    """Rows as served, the engine's counters, and the arrival offset of each request (closed loop: when
    it was sent). The clock starts at the first request's arrival."""
    cls = system_class(system)
    engine = Engine(model, pad_token_id)
    arrivals = ClosedLoop(requests, concurrency) if concurrency else OpenLoop(requests)
    scheduler = cls(engine, max_batch, timeout_s)
    engine.start = time.perf_counter()
    rows = scheduler.serve(arrivals)
    if len(rows) != len(requests):
        raise RuntimeError(f"{system} returned {len(rows)} of {len(requests)} requests")
    return rows, engine.counters.as_dict(), arrivals.arrival


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


def latencies(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per request of a run's records, in seconds: time to first token and end to end, from arrival; time
    per output token after the first (only requests of more than one token have one)."""
    several = frame[frame["output_tokens"] > 1]
    return {"ttft": (frame["first_token_s"] - frame["arrival_s"]).to_numpy(),
            "tpot": ((several["finished_s"] - several["first_token_s"]) / (several["output_tokens"] - 1)).to_numpy(),
            "e2e": (frame["returned_s"] - frame["arrival_s"]).to_numpy()}


def summarize(frame: pd.DataFrame, counters: dict) -> dict:
    times = latencies(frame)
    makespan = float(frame["returned_s"].max() - frame["arrival_s"].min())
    useful_tokens = int(frame["output_tokens"].sum())
    compared = frame["matches_reference"].dropna()
    return {
        "requests": len(frame), "makespan_s": makespan,
        "requests_per_s": len(frame) / makespan, "useful_tokens_per_s": useful_tokens / makespan,
        **_percentiles(times["ttft"], "ttft"), **_percentiles(times["tpot"], "tpot"), **_percentiles(times["e2e"], "e2e"),
        **counters,
        "wasted_slot_fraction": (1 - counters["useful_slots"] / counters["executed_slots"]) if counters["executed_slots"] else None,
        "reference_compared": int(len(compared)),
        "reference_match_rate": float(compared.astype(bool).mean()) if len(compared) else None,
    }


def peak_memory(device: torch.device) -> dict:
    if device.type == "cuda":
        return {"peak_bytes": int(torch.cuda.max_memory_allocated(device)), "peak_source": "torch max allocated"}
    from revmux.measure.memory import process_peak_rss

    return {"peak_bytes": process_peak_rss(), "peak_source": "host RSS high-water mark of the serving process"}
