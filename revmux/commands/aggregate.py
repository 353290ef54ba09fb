"""Read every metrics.json (with its predictions) and profile.json under the results directory,
check each against its schema, and write the tables under <results>/tables/:

  runs.csv       one row per (task, backbone, method, N, P, seed) with every metric
  profiles.csv   one row per timing profile
  summary.csv    per (task, backbone, method, N, P): accuracy mean/sd over seeds and regroupings,
                 bootstrap 95% interval, paired change against the teacher on the same examples,
                 agreement with the teacher, measured speedup and ceiling, throughput, peak memory,
                 energy per sample (at one profile batch size and length)
  summary.md, summary.tex, summary.html   the same for people; the LaTeX in the paper's layout

A broken file stops the command with its path, unless --keep-going (then it is skipped and listed).

example:
  python -m revmux aggregate --results results
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "collect results into tidy, summary, Markdown, LaTeX and HTML tables"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, default=Path("results"), metavar="DIR", help="(default: results)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="(default: <results>/tables)")
    parser.add_argument("--profile-batch", type=int, default=None,
                        help="batch size whose profiles give the summary's speed columns (default: the largest profiled)")
    parser.add_argument("--profile-length", type=int, default=None, help="input length likewise (default: the longest)")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--keep-going", action="store_true", help="skip broken result files (each is reported) instead of stopping")


def run(args: argparse.Namespace) -> int:
    from revmux.reporting import write_tables

    out = args.out or args.results / "tables"
    written, skipped = write_tables(args.results, out, args.profile_batch, args.profile_length, args.resamples, args.keep_going)
    for problem in skipped:
        print(f"skipped: {problem}")
    print(f"wrote {', '.join(path.name for path in written)} -> {out}")
    return 0
