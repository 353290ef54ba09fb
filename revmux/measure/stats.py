"""Summary statistics of repeated timings, computed from the raw values (which are kept)."""

from __future__ import annotations

import numpy as np


def summarize_latency(values_s: list[float], samples_per_call: int) -> dict:
    """count, total, mean, percentiles, standard deviation, coefficient of variation, samples per second."""
    if not values_s:
        raise ValueError("no timings to summarize")
    values = np.asarray(values_s, dtype=float)
    mean = float(values.mean())
    stdev = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    p50, p90, p95, p99 = (float(v) for v in np.percentile(values, [50, 90, 95, 99]))
    return {
        "unit": "s",
        "count": len(values),
        "total": float(values.sum()),
        "mean": mean,
        "p50": p50,
        "p90": p90,
        "p95": p95,
        "p99": p99,
        "stdev": stdev,
        "cv": stdev / mean if mean > 0 else None,
        "samples_per_s": samples_per_call / mean if mean > 0 else None,
        "values": [float(v) for v in values],
    }


def summarize_ratios(ratios: list[float]) -> dict:
    """Mean, median, spread and coefficient of variation of per-round ratios."""
    values = np.asarray(ratios, dtype=float)
    mean = float(values.mean())
    stdev = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return {
        "count": len(values),
        "mean": mean,
        "p50": float(np.median(values)),
        "stdev": stdev,
        "cv": stdev / mean if mean > 0 else None,
        "values": [float(v) for v in values],
    }
