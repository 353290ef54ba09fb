"""Tables, figures and verdicts of the generation track from its run results (each `revmux serve` JSON and the
per-request records beside it):
  results/tables/batching.csv            every run, with its steady-state window's throughput and latencies
  results/tables/batching.{md,html}      per workload each system (the best static configuration named), baton
                                         against orca, padded-iteration, best static and transformers' continuous
                                         batching (on latency where both keep up with the arrivals, else on useful
                                         tokens/s), the verdicts, every run
  results/tables/batching-verdicts.md    the verdict sentences alone, to be quoted as they are
  results/plots/batching-<backbone>-{throughput-vs-load,latency-vs-load,waste,ttft-tpot,copies-memory}.svg

Throughput and latency are read over each run's steady-state window: from when 10% of its requests were
returned to the last arrival (offline: to when 90% were returned). Goodput counts the window's requests that
met --slo-ttft and --slo-tpot.

example:
  python -m revmux serve-report --served results/batching/smollm2-135m/runs/*/*/*.json
  python -m revmux serve-report --served runs/*.json --slo-ttft 1 --slo-tpot 0.1
"""

from __future__ import annotations

import argparse
from pathlib import Path

from revmux.batching.config import Objectives
from revmux.core import layout

HELP = "tables, figures and verdicts of the generation-batching runs"
# Goodput's objectives, from their one source (revmux.batching.config, torch- and pandas-free).
DEFAULT_SLO_TTFT_S = Objectives().ttft_s
DEFAULT_SLO_TPOT_S = Objectives().tpot_s


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Named after what the files hold, as aggregate's --metrics and --speed: --runs is a count in the caching verbs.
    parser.add_argument("--served", type=Path, nargs="+", required=True, metavar="FILE", help="`revmux serve` result files")
    parser.add_argument("--tables", type=Path, default=Path(layout.pattern(layout.TABLES_DIR)), help="default results/tables")
    parser.add_argument("--plots", type=Path, default=Path(layout.pattern(layout.PLOTS_DIR)), help="default results/plots")
    parser.add_argument("--slo-ttft", type=float, default=DEFAULT_SLO_TTFT_S, metavar="SECONDS",
                        help="goodput's time-to-first-token objective, from arrival (default %(default)s s: this "
                             "harness's choice for a CPU)")
    parser.add_argument("--slo-tpot", type=float, default=DEFAULT_SLO_TPOT_S, metavar="SECONDS",
                        help="goodput's time-per-output-token objective, after the first token (default %(default)s s)")


def run(args: argparse.Namespace) -> int:
    from revmux.batching.report import write_all

    for path in write_all(args.served, args.tables, args.plots, Objectives(args.slo_ttft, args.slo_tpot)):
        print(path)
    return 0
