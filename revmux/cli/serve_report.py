"""Tables and figures of the generation track from its run results: results/tables/batching.{csv,md,html}
(one row per run, and baton's requests/s over iteration's, static's and transformers' continuous
batching's per workload) and results/plots/batching-<backbone>-{throughput-vs-load,latency-vs-load,waste,ttft-tpot}.svg.

example:
  python -m revmux serve-report --served results/batching/smollm2-135m/runs/*/*/*.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from revmux.core import layout

HELP = "tables and figures of the generation-batching runs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Named after what the files hold, as aggregate's --metrics and --speed: --runs is a count in the caching verbs.
    parser.add_argument("--served", type=Path, nargs="+", required=True, metavar="FILE", help="`revmux serve` result files")
    parser.add_argument("--tables", type=Path, default=Path(layout.pattern(layout.TABLES_DIR)), help="default results/tables")
    parser.add_argument("--plots", type=Path, default=Path(layout.pattern(layout.PLOTS_DIR)), help="default results/plots")


def run(args: argparse.Namespace) -> int:
    from revmux.batching.report import write_all

    for path in write_all(args.served, args.tables, args.plots):
        print(path)
    return 0
