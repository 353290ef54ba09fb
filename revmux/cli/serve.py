"""Serve a request trace with one or several systems on a causal LM and measure it: requests/s, useful tokens/s,
TTFT / TPOT / end-to-end latency percentiles, forward passes, executed vs useful token-slots, splice cost,
peak memory, and, with --reference, whether every request's tokens equal unbatched greedy decoding.

Systems: this harness's schedulers (static, padded-iteration, orca, baton, baton-no-split) on one padded KV-cache
engine, and transformers' own (hf-static: generate on left-padded batches; unbatched: generate one request at
a time; hf-continuous: continuous batching; hf-continuous-orca: the same, scheduled as Orca). Writes OUT (JSON)
and OUT with .csv.gz (one row per request: timestamps, tokens, first divergence from the reference). Several
systems run one after the other, each in its own fresh process, into OUT with {system} replaced by the
system's name. A system's name may fix its own settings: static-t0.5-b8 is static batching with a 0.5 s
timeout and batches of at most 8, whatever --timeout and --max-batch say (its result is filed, and named,
static-t0.5-b8).

examples:
  python -m revmux serve --trace traces/r0.5.csv --backbone smollm2-135m --systems baton --out runs/baton.json
  python -m revmux serve --trace T.csv --backbone smollm2-135m --systems static baton --out 'runs/{system}.json'
  python -m revmux serve --trace T.csv --backbone smollm2-135m --systems static-t0-b8 static-t2-b8 --out 'runs/{system}.json'
  python -m revmux serve --trace T.csv --backbone smollm2-135m --reference-out ref.csv   (the reference tokens)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from revmux.batching.config import ServeSettings, settings_for
from revmux.cli.common import add_resources_argument

HELP = "serve a request trace with batching systems and measure each"
DEFAULTS = ServeSettings()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trace", type=Path, required=True, help="a trace CSV (`revmux trace`, or your own)")
    parser.add_argument("--backbone", required=True, help="a registered causal LM (see `revmux backbones`)")
    parser.add_argument("--systems", nargs="+", default=[DEFAULTS.system], metavar="SYSTEM",
                        help="schedulers or anchors, served one after the other; a name may fix its own timeout and "
                             f"max batch: static-t0.5-b8 (default {DEFAULTS.system})")
    parser.add_argument("--max-batch", type=int, default=DEFAULTS.max_batch,
                        help="requests per batch at most, unless a system's name says (-b<B>) "
                             f"(default {DEFAULTS.max_batch})")
    parser.add_argument("--timeout", type=float, default=DEFAULTS.timeout_s,
                        help="static batching: seconds the oldest request waits for a full batch, unless a "
                             f"system's name says (-t<T>) (default {DEFAULTS.timeout_s})")
    parser.add_argument("--concurrency", type=int, default=DEFAULTS.concurrency,
                        help="closed loop with this many clients (ignores the trace's arrival times)")
    parser.add_argument("--device", default=DEFAULTS.device, help=f"default {DEFAULTS.device}")
    parser.add_argument("--dtype", default=DEFAULTS.dtype, choices=["float32", "bfloat16", "float16"],
                        help=f"default {DEFAULTS.dtype}")
    parser.add_argument("--warmup-requests", type=int, default=DEFAULTS.warmup_requests,
                        help=f"served before the clock starts, not measured (default {DEFAULTS.warmup_requests})")
    parser.add_argument("--reference", type=Path, default=None,
                        help="reference tokens CSV (--reference-out of an earlier call) to compare every request with")
    parser.add_argument("--reference-out", type=Path, default=None,
                        help="instead of serving: write each request's unbatched greedy tokens (generate, batch 1)")
    add_resources_argument(parser)
    parser.add_argument("--out", default=None,
                        help="result JSON (its records beside it as .csv.gz); with several systems, a path holding {system}")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import json

    from revmux.batching.run import reference_run, serve_systems
    from revmux.core.errors import RevmuxError

    settings = [settings_for(system, max_batch=args.max_batch, timeout_s=args.timeout, concurrency=args.concurrency,
                             device=args.device, dtype=args.dtype, warmup_requests=args.warmup_requests)
                for system in args.systems]
    if args.reference_out is not None:
        reference_run(args.trace, args.backbone, settings[0], args.resources, args.reference_out, args.progress)
        print(f"reference tokens -> {args.reference_out}")
        return 0
    if args.out is None:
        raise RevmuxError("pass --out RESULT.json (or --reference-out to write reference tokens)")

    def report(system: str, out: Path) -> None:
        summary = json.loads(Path(out).read_text())["summary"]
        print(f"{system}: {summary['requests_per_s']:.3f} requests/s, {summary['useful_tokens_per_s']:.1f} tokens/s, "
              f"TTFT p99 {summary['ttft_p99_s']:.3f} s, match {summary['reference_match_rate']} -> {out}", flush=True)

    serve_systems(args.trace, args.backbone, settings, args.resources, args.out, args.reference, on_done=report)
    return 0
