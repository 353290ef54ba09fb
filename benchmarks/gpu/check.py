"""What benchmarks/gpu/check.sh runs: every method against the teacher on the paper's shapes, with random
weights, in one process, writing one speed profile per run (the same `profile()` and schema check as
`revmux speed`) and a table of speed-ups and validity at the end.

One process rather than one `revmux speed` per run because building the Llama-3-8B shape takes longer
than timing it: each backbone is built once (on the GPU, straight into device memory) and every run on
that shape reuses it. The runs go in order of importance (every method at N = 2, then the CUDA-graph
variants, then N = 4), and a run that would end after the time budget is skipped, with the reason.

    python benchmarks/gpu/check.py --out DIR [--device cuda] [--budget-s 430]
    python benchmarks/gpu/check.py --out DIR --cpu-dry-run    # the tiny T5 on the CPU: checks the driver only
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gc
import json
import sys
import time
import traceback
from pathlib import Path

# backbone: (P, batch size, length, soft prompt tokens); P as in config/paper.yaml, T5 timed with the
# prompt-tuned teacher's 20-token soft prompt (as benchmarks/gpu/run.sh and the workflow time it).
GPU_SHAPES = {
    "bert-base-uncased-random": (6, 128, 128, 0),
    "t5-small-random": (3, 128, 128, 20),
    "llama-3-8b-random": (16, 32, 128, 0),  # batch 32: one call of the 8B shape is already ~0.1 s
}
DRY_RUN_SHAPES = {"t5-tiny-random": (1, 4, 8, 6)}
METHODS = ("revmux", "adapter", "ora", "hadamard", "truncate", "identity+int8")
NS = (2, 4)
GRAPH_METHODS = ("revmux",)  # timed again with CUDA graphs, at N = 2, when the budget allows
GPU_TIMING = dict(dtype="bfloat16", warmup_runs=5, min_iterations=20, min_duration_s=2.0, memory_runs=3,
                  energy_window_s=1.0)
DRY_RUN_TIMING = dict(dtype="float32", warmup_runs=1, min_iterations=3, min_duration_s=0.0, memory_runs=1,
                      energy_window_s=0.01)
FIRST_RUN_ESTIMATE_S = {"llama-3-8b-random": 60.0}  # a shape's first run includes building it
DEFAULT_FIRST_RUN_S = 30.0
ESTIMATE_MARGIN = 1.2


@dataclasses.dataclass(frozen=True)
class Run:
    backbone: str
    method: str
    n: int
    graphs: bool = False

    def file_name(self, shape: tuple[int, int, int, int]) -> str:
        p, batch, length, _ = shape
        method = self.method.replace("+", "_")
        return f"{self.backbone}-{method}-n{self.n}-p{p}-b{batch}-len{length}{'-graphs' if self.graphs else ''}.json"


def planned_runs(shapes: dict, methods: tuple[str, ...], ns: tuple[int, ...], graphs: bool) -> list[Run]:
    """Every method at the first N on every shape, then the CUDA-graph variants, then the other Ns."""
    runs = []
    for index, n in enumerate(ns):
        if index == 1 and graphs:
            runs += [Run(backbone, method, ns[0], graphs=True) for backbone in shapes for method in GRAPH_METHODS]
        for backbone in shapes:
            for method in methods:
                if "+" in method:  # a quantized teacher has no N: once, at N = 1
                    if index == 0:
                        runs.append(Run(backbone, method, 1))
                    continue
                runs.append(Run(backbone, method, n))
    return runs


def cached_loader(device: str):
    """load_backbone that builds each (backbone, dtype) once; a random-init shape on a GPU is built in device
    memory directly (building the 8B shape on the host and copying it takes longer than timing it)."""
    import torch

    from revmux.backbones.load import load_backbone

    cache = {}

    def load(spec, resources=None, dtype=torch.float32, device_=device, with_tokenizer=True):
        key = (getattr(spec, "name", spec), dtype, str(device_), with_tokenizer)
        if key not in cache:
            if str(device_).startswith("cuda") and getattr(spec, "random_init", False):
                with torch.device(device_):
                    cache[key] = load_backbone(spec, resources, dtype, device_, with_tokenizer)
            else:
                cache[key] = load_backbone(spec, resources, dtype, device_, with_tokenizer)
        return cache[key]

    return load, cache


def skip_reason(run: Run, device: str) -> str | None:
    from revmux.backbones.quantization import check_scheme
    from revmux.core.errors import RevmuxError
    from revmux.multiplexing.methods import method_traits

    scheme = method_traits(run.method)["quantization"]
    if scheme:
        try:
            check_scheme(scheme, device)
        except RevmuxError as error:
            return str(error)
    return None


def profile_one(run: Run, shape, timing: dict, device: str, out: Path) -> dict:
    import revmux.multiplexing.speed as speed
    from revmux.backbones.registry import resolve_backbone
    from revmux.core.atomic import atomic_write_json
    from revmux.core.schemas import check_result
    from revmux.measure.latency import LatencySettings
    from revmux.multiplexing.config import SpeedSettings

    p, batch, length, prompt = shape
    spec = resolve_backbone(run.backbone)
    settings = SpeedSettings(backbone=spec.name, method=run.method, n=run.n, prefill_layers=p, batch_size=batch,
                             length=length, device=device, soft_prompt_length=prompt, **timing)
    # CUDA graphs are a LatencySettings field that `revmux speed` does not set: this run sets it for itself.
    speed.LatencySettings = functools.partial(LatencySettings, cuda_graphs=True) if run.graphs else LatencySettings
    try:
        result = speed.profile(settings, spec, None, progress=False)
    finally:
        speed.LatencySettings = LatencySettings
    path = out / run.file_name(shape)
    check_result(result, "speed", path)
    atomic_write_json(path, result)
    print(f"{run.backbone} {run.method} N={run.n} P={p}{' graphs' if run.graphs else ''}: "
          f"{speed.summary_line(result)} -> {path}", flush=True)
    return result


def table_row(run: Run, result: dict | None, note: str = "") -> dict:
    if result is None:
        return {"run": run, "note": note}
    latency, speedup = result["latency"], result["speedup"]
    teacher, mux = latency["teacher"], latency["multiplexed"]
    return {
        "run": run, "speedup": speedup["measured"], "per_round_p50": speedup["per_round"]["p50"],
        "ceiling": speedup["ceiling"], "teacher_ms": teacher["p50"] * 1000, "mux_ms": mux["p50"] * 1000,
        "cv": (teacher["cv"], mux["cv"]), "k": teacher.get("calls_per_round"),
        "warmup": teacher.get("warmup", {}).get("rounds"),
        "graphs": teacher.get("cuda_graphs", {}).get("used"),
        "valid": result["validity"]["valid"], "reasons": result["validity"]["reasons"],
        "timing_problems": sorted({problem for path in (teacher, mux) for problem in path.get("timing_problems", [])}),
    }


def format_table(rows: list[dict]) -> str:
    lines = ["| backbone | method | N | graphs | speedup | per-round p50 | ceiling | p50 ms teacher / mux | cv teacher / mux "
             "| k | warm-up rounds | validity |", "|" + "---|" * 12]
    for row in rows:
        run = row["run"]
        head = f"| {run.backbone} | {run.method} | {run.n} | {'asked' if run.graphs else 'no'} "
        if "speedup" not in row:
            lines.append(head + f"| - | - | - | - | - | - | - | {row['note']} |")
            continue
        graphs = "" if not run.graphs else (" (graphs used)" if row["graphs"] else " (graphs fell back)")
        verdict = "valid" if row["valid"] else "INVALID: " + "; ".join(row["reasons"])
        if row["timing_problems"]:
            verdict += " [timing: " + "; ".join(row["timing_problems"]) + "]"
        lines.append(
            head + f"| {row['speedup']:.3f}x | {row['per_round_p50']:.3f}x | {row['ceiling']:.3f}x "
            f"| {row['teacher_ms']:.2f} / {row['mux_ms']:.2f} | {row['cv'][0]:.1%} / {row['cv'][1]:.1%} "
            f"| {row['k']} | {row['warmup'] if row['warmup'] is not None else '-'} | {verdict}{graphs} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--budget-s", type=float, default=430.0, help="start no run that would end after this")
    parser.add_argument("--cpu-dry-run", action="store_true", help="the tiny T5 on the CPU: checks this driver only")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: 8 on a GPU, 2 for the dry run)")
    parser.add_argument("--no-graphs", dest="graphs", action="store_false")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    import torch

    import revmux.multiplexing.speed as speed
    from revmux.core.errors import check_device
    from revmux.core.progress import switch_off

    device = "cpu" if args.cpu_dry_run else args.device
    check_device(device)
    switch_off()
    torch.set_num_threads(args.threads or (2 if args.cpu_dry_run else 8))
    shapes, timing = (DRY_RUN_SHAPES, DRY_RUN_TIMING) if args.cpu_dry_run else (GPU_SHAPES, GPU_TIMING)
    args.out.mkdir(parents=True, exist_ok=True)
    if device.startswith("cuda"):
        print(f"device: {torch.cuda.get_device_name(device)}, torch {torch.__version__}, CUDA {torch.version.cuda}",
              flush=True)
    load, cache = cached_loader(device)
    speed.load_backbone = load

    rows, last_s = [], {}
    runs = planned_runs(shapes, METHODS, NS, graphs=args.graphs and device.startswith("cuda"))
    try:
        for run in runs:
            if reason := skip_reason(run, device):
                print(f"{run.backbone} {run.method}: skipped: {reason}", flush=True)
                rows.append(table_row(run, None, f"skipped: {reason}"))
                continue
            estimate = ESTIMATE_MARGIN * last_s.get(run.backbone, FIRST_RUN_ESTIMATE_S.get(run.backbone, DEFAULT_FIRST_RUN_S))
            elapsed = time.perf_counter() - started
            if elapsed + estimate > args.budget_s:
                note = f"skipped: would end after the {args.budget_s:.0f} s budget ({elapsed:.0f} s spent, ~{estimate:.0f} s needed)"
                print(f"{run.backbone} {run.method} N={run.n}: {note}", flush=True)
                rows.append(table_row(run, None, note))
                continue
            run_started = time.perf_counter()
            try:
                result = profile_one(run, shapes[run.backbone], timing, device, args.out)
                rows.append(table_row(run, result))
            except Exception as error:  # one failed run (out of memory, say) must not lose the others
                traceback.print_exc()
                rows.append(table_row(run, None, f"FAILED: {type(error).__name__}: {str(error).splitlines()[0][:200]}"))
                gc.collect()
                if device.startswith("cuda"):
                    torch.cuda.empty_cache()
            last_s[run.backbone] = time.perf_counter() - run_started
    except KeyboardInterrupt:
        print("interrupted (time limit): the table holds the runs that finished", flush=True)
    table = format_table(rows)
    (args.out / "summary.md").write_text(table + "\n")
    (args.out / "runs.json").write_text(json.dumps(
        [{**dataclasses.asdict(row["run"]), **{k: v for k, v in row.items() if k != "run"}} for row in rows], indent=1))
    print(f"\n{len(cache)} backbones built; {time.perf_counter() - started:.0f} s in all\n\n{table}", flush=True)
    finished = [row for row in rows if "speedup" in row]
    return 0 if finished else 1


if __name__ == "__main__":
    sys.exit(main())
