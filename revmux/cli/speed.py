"""Time the teacher (no multiplexing) and a method's model on the same inputs, in one process,
alternating, and write speed.json: latency and throughput of both, the measured speedup beside
its ceiling (the speedup if multiplexing cost nothing, from the FLOPs of the parts that run once per
instance and once per composite), FLOPs per sample, memory, energy (NVML on NVIDIA
GPUs; null with the reason elsewhere), telemetry and a validity verdict with reasons.

The backbone may be a random-init copy of a paper shape (bert-base-uncased-random, t5-large-random,
llama-3-8b-random, ...): speed does not depend on the weights, and the profile records the provenance.

The method's model is a multiplexer at N and P; `truncate` (the first k layers: with N >= 2 the depth whose
counted FLOPs match RevMUX at N and P, with N = 1 k = P); or any of them on a quantized backbone,
`<method>+int8` on the CPU, `+bfloat16` / `+float16` on a GPU (`identity+int8`: the int8 teacher). The
teacher path is always the float model.

examples:
  python -m revmux --threads 2 speed --backbone minilm-l6 --method revmux --n 2 -p 3 --out speed.json
  python -m revmux speed --backbone llama-3-8b-random --method revmux --n 4 -p 16 \\
      --batch-size 128 --length 128 --device cuda --dtype bfloat16 --out p.json
  python -m revmux --threads 2 speed --backbone minilm-l6 --method identity+int8 --n 1 -p 3 --out int8.json
  python -m revmux --threads 2 speed --backbone minilm-l6 --method truncate --n 2 -p 3 --out truncate.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

from revmux.cli.common import add_backbone_argument, add_resources_argument

HELP = "measure the speedup, memory and energy of a method (multiplexing, truncation, quantization) against the teacher"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from revmux.backbones.registry import DTYPE_NAMES
    from revmux.measure.contention import MIN_ROUNDS_FOR_DRIFT
    from revmux.multiplexing.config import SpeedSettings

    defaults = SpeedSettings("", "", 2, 0)
    group = parser.add_argument_group("what to time")
    add_backbone_argument(group)
    group.add_argument("--method", required=True,
                       help="adapter, ora, revmux, hadamard, truncate, or <method>+int8 / +bfloat16 / +float16")
    group.add_argument("--n", type=int, required=True, help="instances per composite (>= 2; 1 for identity+<scheme>)")
    group.add_argument("--match-length", type=int, default=None, metavar="TOKENS",
                       help="truncate: the input length its depth is matched at (default: --length)")
    group.add_argument("--prefill-layers", "-p", type=int, default=None,
                       help="layers run per instance before multiplexing (default: the paper's P, else half the layers)")
    group.add_argument("--batch-size", type=int, default=defaults.batch_size, help=f"instances per call (default {defaults.batch_size})")
    group.add_argument("--length", type=int, default=defaults.length, help=f"tokens per instance (default {defaults.length})")
    group.add_argument("--device", default=defaults.device, help="cpu or cuda[:INDEX] (default: cpu)")
    group.add_argument("--dtype", choices=list(DTYPE_NAMES), default=defaults.dtype, help="(default: float32)")
    group.add_argument("--soft-prompt-length", type=int, default=defaults.soft_prompt_length, metavar="TOKENS",
                       help="T5 only: time with a soft prompt of this many tokens before the input, as the "
                            "prompt-tuned teacher is evaluated (default 0; the workflow passes the teacher's)")
    group = parser.add_argument_group("how to time")
    group.add_argument("--warmup-runs", type=int, default=defaults.warmup_runs, help=f"(default {defaults.warmup_runs})")
    group.add_argument("--min-iterations", type=int, default=defaults.min_iterations,
                       help=f"timed rounds at least (default {defaults.min_iterations}); the drift check needs "
                            f"{MIN_ROUNDS_FOR_DRIFT} and is skipped, with the reason in the profile, below that")
    group.add_argument("--min-duration", type=float, default=defaults.min_duration_s, metavar="SECONDS",
                       help=f"timed for at least this long (default {defaults.min_duration_s})")
    group.add_argument("--memory-runs", type=int, default=defaults.memory_runs, help=f"(default {defaults.memory_runs})")
    group.add_argument("--energy-window", type=float, default=defaults.energy_window_s, metavar="SECONDS",
                       help=f"shortest NVML energy window (default {defaults.energy_window_s})")
    group.add_argument("--max-cv", type=float, default=defaults.max_cv,
                       help=f"coefficient of variation above which timings are marked invalid (default {defaults.max_cv})")
    group.add_argument("--foreign-cpu-tolerance", type=float, default=defaults.foreign_cpu_tolerance, metavar="CORES",
                       help="CPU cores other processes may keep busy, on any core, before the timing is marked "
                            "invalid: cores the timing does not use still share memory bandwidth, caches and boost "
                            f"clocks with it (default {defaults.foreign_cpu_tolerance})")
    group.add_argument("--max-drift", type=float, default=defaults.max_drift,
                       help="relative change of the teacher's median latency from the first to the last quarter of "
                            f"the rounds above which the timing is marked invalid (default {defaults.max_drift})")
    group.add_argument("--cuda-graphs", action="store_true",
                       help="on a GPU, time each call replayed from one CUDA graph capture (if a capture fails, "
                            "every path is timed without graphs and the profile says why)")
    group.add_argument("--seed", type=int, default=defaults.seed)
    add_resources_argument(parser)
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="where speed.json is written")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from revmux.core.atomic import atomic_write_json
    from revmux.backbones.registry import resolve_backbone
    from revmux.core.errors import check_device
    from revmux.multiplexing.config import SpeedSettings
    from revmux.multiplexing.speed import profile, summary_line
    from revmux.core.schemas import check_result

    check_device(args.device)
    spec = resolve_backbone(args.backbone)
    settings = SpeedSettings(
        backbone=spec.name, method=args.method, n=args.n,
        prefill_layers=spec.default_prefill_layers if args.prefill_layers is None else args.prefill_layers,
        batch_size=args.batch_size, length=args.length, device=args.device, dtype=args.dtype,
        warmup_runs=args.warmup_runs, min_iterations=args.min_iterations, min_duration_s=args.min_duration,
        memory_runs=args.memory_runs, energy_window_s=args.energy_window, max_cv=args.max_cv, seed=args.seed,
        foreign_cpu_tolerance=args.foreign_cpu_tolerance, max_drift=args.max_drift,
        soft_prompt_length=args.soft_prompt_length, match_length=args.match_length, cuda_graphs=args.cuda_graphs,
    )
    result = profile(settings, spec, args.resources, progress=args.progress)
    check_result(result, "speed", args.out)
    atomic_write_json(args.out, result)
    print(f"{spec.name} {settings.method} N={settings.n} P={settings.prefill_layers}: {summary_line(result)} -> {args.out}")
    return 0
