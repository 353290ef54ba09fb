"""Tables and figure of the caching track's synthetic suite: results/tables/caching-synthetic.{md,csv}
(the paper's layout, each cell our mean beside the published value and their ratio),
caching-synthetic-ratios.csv (LFU+large / LEC+selector as a ratio of means and as the median of per-run
ratios) and results/plots/caching-synthetic-ours-vs-published.svg; with --pairs, caching-pairs.{md,csv}
(each model pair's policies and selectors: cost over LFU+large, hit rate, served accuracy, with 95%
intervals over seeds, and whether selection pays) and three figures per pair.

example:
  python -m revmux cache-report --suite results/caching/synthetic-*.csv.gz
"""

from __future__ import annotations

import argparse
from pathlib import Path

from revmux.core import layout

HELP = "tables and figures of the caching runs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--suite", type=Path, nargs="*", default=[], help="`revmux cache-suite` results")
    parser.add_argument("--pairs", type=Path, nargs="*", default=[], help="`revmux cache-pair` result folders")
    parser.add_argument("--tables", type=Path, default=Path(layout.pattern(layout.TABLES_DIR)), help="default results/tables")
    parser.add_argument("--plots", type=Path, default=Path(layout.pattern(layout.PLOTS_DIR)), help="default results/plots")


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from revmux.caching.report import read_runs, write_synthetic

    from revmux.core.errors import RevmuxError

    if not args.suite and not args.pairs:
        raise RevmuxError("nothing to report: give --suite (cache-suite results) and/or --pairs (cache-pair folders)")
    if args.suite:
        runs = pd.concat([read_runs(path) for path in args.suite], ignore_index=True)
        for path in write_synthetic(runs, args.tables, args.plots):
            print(path)
    if args.pairs:
        from revmux.caching.pair_report import write_pairs

        for path in write_pairs(args.pairs, args.tables, args.plots):
            print(path)
    return 0
