"""Read the given metrics.json files (with their predictions) and profile files, check each against its
schema, and write the tables under <results>/tables/ (or --out):

  runs.csv       one row per (task, backbone, method, N, P, seed) with every metric
  speed.csv      one row per timing profile, with its speed-up's interval over the timed rounds and its ceiling
  summary.csv    per (task, backbone, method, N, P): accuracy over seeds and regroupings with a hierarchical
                 bootstrap 95% interval (seeds, then examples) and the sd over seeds, the paired change against
                 each seed's own teacher, agreement with the teacher, measured speed-up with its interval and
                 ceiling, throughput, latency, weights, working set and energy per sample (each the median over
                 the option's profiles at one setting: device, dtype, threads, batch, length), the Pareto front
  summary.md, summary.tex, summary.html   the same for people (the LaTeX in the paper's layout); the Markdown
                 and HTML hold the verdicts after the summary table
  verdicts.md    the verdicts alone: which option dominates which within the intervals on both axes, the
                 Pareto front, whether any option beats the teacher's accuracy, whether each teacher clears
                 its task's majority class, and how far each option stays from the teacher at each N
  published.csv  with --reference: every published value beside our cell, the difference and whether it
                 lies outside our 95% interval (the paper layouts and the verdicts show them too)

--reference FILE sets published accuracies beside ours: a CSV file with the columns
task,backbone,method,n,value,source (value in %, '#' lines are comments), e.g.
  task,backbone,method,n,value,source
  sst-2,bert-base-uncased,revmux,2,<accuracy %>,"<paper>, Table <k>"
A value published for a backbone of the same family as one of ours (BERT-base for MiniLM-L6) sits beside
it, named. A bad row (unknown task, backbone or method, a value outside [0, 100], no source) is refused
with its line number. See docs/paper-table.md.

A broken file stops the command with its path, unless --keep-going (then it is skipped and listed).

The workflow passes exactly its grid's files (--metrics ... --speed ...), so results of another
configuration in the same folder never mix in. Without them, every file under --results is read (by hand).

examples:
  python -m revmux aggregate --metrics results/rte/minilm-l6/*/metrics.json --speed results/speed/*/*.json
  python -m revmux aggregate --results results          # everything found under results/
  python -m revmux aggregate --results results --reference published.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

from revmux.core.layout import RESULTS

HELP = "collect results into tidy, summary, Markdown, LaTeX and HTML tables"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metrics", type=Path, nargs="+", default=None, metavar="FILE",
                        help="the runs' metrics.json files (predictions.csv.gz beside each)")
    parser.add_argument("--speed", type=Path, nargs="*", default=None, metavar="FILE", help="the speed.json files")
    parser.add_argument("--results", type=Path, default=Path(RESULTS), metavar="DIR",
                        help="without --metrics: read every result under DIR (default: results)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="(default: <results>/tables)")
    group = parser.add_argument_group("which profiles give the speed columns (never pooled across devices, dtypes or threads)")
    group.add_argument("--speed-device", default=None, help="e.g. cpu, cuda (default: the only one profiled)")
    group.add_argument("--speed-dtype", default=None, help="e.g. float32, bfloat16 (default: the only one profiled)")
    group.add_argument("--speed-threads", type=int, default=None, help="(default: the only number profiled)")
    group.add_argument("--speed-batch", type=int, default=None, help="batch size (default: the largest profiled)")
    group.add_argument("--speed-length", type=int, default=None, help="input length (default: the longest profiled)")
    parser.add_argument("--reference", type=Path, default=None, metavar="FILE",
                        help="published accuracies (CSV: task,backbone,method,n,value,source) to set beside ours")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--keep-going", action="store_true", help="skip broken result files (each is reported) instead of stopping")


def run(args: argparse.Namespace) -> int:
    from revmux.analysis.rendering import write_tables
    from revmux.analysis.results import discover

    out = args.out or args.results / "tables"
    if args.reference:
        from revmux.analysis.references import read_references

        read_references(args.reference)  # a bad reference file is refused before any result is read
    if args.metrics is None:
        metrics, profiles = discover(args.results)
    else:
        metrics, profiles = args.metrics, args.speed or []
    choice = {"device": args.speed_device, "dtype": args.speed_dtype, "threads": args.speed_threads,
              "batch": args.speed_batch, "length": args.speed_length}
    written, skipped = write_tables(metrics, profiles, out, choice, args.resamples, args.keep_going, args.reference)
    for problem in skipped:
        print(f"skipped: {problem}")
    print(f"wrote {', '.join(path.name for path in written)} -> {out}")
    return 0
