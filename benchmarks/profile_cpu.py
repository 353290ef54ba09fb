"""Measured speedup of multiplexing against its analytic ceiling, repeated to show it is stable.

Runs `revmux speed` (a fresh process each time) `--repeats` times for each N, for one backbone and
method, and prints per N: the ceiling (from the FLOPs run per instance and per composite), each repeat's measured speedup, their
mean and coefficient of variation across repeats, the share of the ceiling reached, the latency
CV within runs and the FLOP ratio. The speed.json files are kept in --out.

    python benchmarks/profile_cpu.py                         # MiniLM, revmux, P = 3, batch 32 x 64, N = 2 and 4
    python benchmarks/profile_cpu.py --method ora --n 2 4 8 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

from revmux.core.schemas import load_result

TARGET_SHARE = 0.85  # of the ceiling
TARGET_CV = 0.10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="minilm-l6")
    parser.add_argument("--method", default="revmux")
    parser.add_argument("--n", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--prefill-layers", "-p", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/cpu"))
    args = parser.parse_args()

    rows = []
    for n in args.n:
        results = []
        for repeat in range(args.repeats):
            out = args.out / f"{args.backbone}-{args.method}-n{n}-p{args.prefill_layers}-b{args.batch_size}-len{args.length}-r{repeat}.json"
            command = [
                sys.executable, "-m", "revmux", "--threads", str(args.threads), "speed",
                "--backbone", args.backbone, "--method", args.method, "--n", str(n), "-p", str(args.prefill_layers),
                "--batch-size", str(args.batch_size), "--length", str(args.length), "--no-progress", "--out", str(out),
            ]
            print("$", " ".join(command[1:]), flush=True)
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            results.append(load_result(out, "speed"))
        speedups = [r["speedup"]["measured"] for r in results]
        mean = statistics.mean(speedups)
        ceiling = results[0]["speedup"]["ceiling"]
        rows.append({
            "n": n, "ceiling": ceiling, "speedups": speedups, "mean": mean,
            "cv": statistics.stdev(speedups) / mean if len(speedups) > 1 else 0.0,
            "share": mean / ceiling,
            "latency_cv": max(r["latency"][path]["cv"] for r in results for path in ("teacher", "multiplexed")),
            "teacher_sps": statistics.mean(r["latency"]["teacher"]["samples_per_s"] for r in results),
            "mux_sps": statistics.mean(r["latency"]["multiplexed"]["samples_per_s"] for r in results),
            "flop_ratio": results[0]["flops_per_sample"]["ratio"],
            "valid": all(r["validity"]["valid"] for r in results),
            "reasons": sorted({reason for r in results for reason in r["validity"]["reasons"]}),
        })

    host = results[0]["environment"]["host"]
    print(f"\n{args.backbone} {args.method} P={args.prefill_layers} batch {args.batch_size} x {args.length} tokens, "
          f"{args.threads} threads on {host['cpu']} ({args.repeats} runs per N)")
    print("| N | ceiling | measured speedup per run | mean | share of ceiling | CV across runs | max latency CV in a run "
          "| teacher / multiplexed samples/s | FLOP ratio | valid |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        runs = ", ".join(f"{s:.3f}" for s in row["speedups"])
        print(f"| {row['n']} | {row['ceiling']:.3f}x | {runs} | {row['mean']:.3f}x | {row['share']:.1%} | {row['cv']:.1%} "
              f"| {row['latency_cv']:.1%} | {row['teacher_sps']:.1f} / {row['mux_sps']:.1f} | {row['flop_ratio']:.3f} "
              f"| {row['valid']} |")
    for row in rows:
        print(f"N={row['n']}: {verdict(row)}")


def verdict(row: dict) -> str:
    """Whether the targets are met; a row whose profiles are themselves invalid meets nothing."""
    targets = f"(>= {TARGET_SHARE:.0%} of the ceiling, CV < {TARGET_CV:.0%} across runs)"
    if not row["valid"]:
        return f"INVALID: {'; '.join(row['reasons'])}: rerun on a quiet machine; no verdict on the targets {targets}"
    met = row["share"] >= TARGET_SHARE and row["cv"] < TARGET_CV
    return f"{'meets' if met else 'MISSES'} the targets {targets}"


if __name__ == "__main__":
    main()
