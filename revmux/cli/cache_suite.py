"""Run Zhu et al.'s synthetic suite: every cell of their offline and online tables (LFU and LEC with
always-large, cascade and the selector), plus GDSF, LRU (online) and the oracle, over seeded runs
(seeds 0 .. RUNS-1; a seed's trace is shared by every policy of its row). Writes one row per cell and
seed; `revmux cache-report` turns them into the paper's tables beside the published values.

example:
  python -m revmux cache-suite --runs 100 --out results/caching/synthetic-runs.csv.gz
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from revmux.caching.suites import SyntheticSuite

HELP = "run Zhu et al.'s synthetic caching suite"
DEFAULTS = SyntheticSuite()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for field in fields(SyntheticSuite):
        if field.name == "policies":
            continue
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=int, default=getattr(DEFAULTS, field.name),
                            help=f"default {getattr(DEFAULTS, field.name)}" + (" (seeds 0 .. RUNS-1)" if field.name == "runs" else ""))
    parser.add_argument("--scenario", choices=["offline", "online", "both"], default="both",
                        help="which table's cells (default both)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    parser.add_argument("--out", type=Path, required=True, help="per-run results (CSV, .gz to compress)")


def run(args: argparse.Namespace) -> int:
    import io

    from revmux.caching.suites import run_synthetic
    from revmux.core.atomic import atomic_write_bytes
    from revmux.core.errors import RevmuxError

    for name in ("requests", "queries", "runs"):
        if getattr(args, name) < 1:
            raise RevmuxError(f"--{name} {getattr(args, name)} must be at least 1")
    if args.cache_size < 0:
        raise RevmuxError(f"--cache-size {args.cache_size} must be >= 0")
    suite = SyntheticSuite(args.requests, args.queries, args.cache_size, args.runs)
    scenarios = ("offline", "online") if args.scenario == "both" else (args.scenario,)
    runs = run_synthetic(suite, scenarios, progress=args.progress)
    buffer = io.BytesIO()
    runs.to_csv(buffer, index=False, compression={"method": "gzip", "mtime": 0} if args.out.suffix == ".gz" else None)
    atomic_write_bytes(args.out, buffer.getvalue())
    print(f"{len(runs)} runs -> {args.out}")
    return 0
