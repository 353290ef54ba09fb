"""What multiplexing buys in speed, memory and energy: the teacher (no multiplexing) and the
multiplexed model timed on the same inputs, in the same process, alternating.

Speed does not depend on trained weights, so the multiplexer is freshly initialised and the
inputs are random token ids filling every position (no padding), which fixes the work per call.
Backbones may be random-init copies of the paper's shapes; the profile says so.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import torch

from revmux.backbones.load import load_backbone
from revmux.backbones.registry import BackboneSpec
from revmux.backbones.split import SplitBackbone, TokenBatch, split_backbone
from revmux.errors import RevmuxError
from revmux.heads import LinearHead
from revmux.measure.clock import clock_for
from revmux.measure.energy import measure_energy
from revmux.measure.flops import count_flops
from revmux.measure.latency import LatencySettings, measure_latency
from revmux.measure.memory import measure_memory
from revmux.measure.nvml import NvmlGpu, Unavailable, cuda_uuid, foreign_processes, open_gpu
from revmux.measure.stats import summarize_ratios
from revmux.measure.system import host_info
from revmux.measure.validity import assess
from revmux.model import MultiplexedModel, teacher_answer_states
from revmux.multiplexers import build_multiplexer
from revmux.provenance import git_commit, versions

SCHEMA_VERSION = 1
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
PATHS = ("teacher", "multiplexed")
NUM_CLASSES = 2


@dataclass(frozen=True)
class ProfileSettings:
    backbone: str
    method: str
    n: int
    prefill_layers: int
    batch_size: int = 32
    length: int = 64
    device: str = "cpu"
    dtype: str = "float32"
    warmup_runs: int = 10
    min_iterations: int = 20
    min_duration_s: float = 10.0
    memory_runs: int = 5
    energy_window_s: float = 1.0
    max_cv: float = 0.10
    seed: int = 0


def analytic_ceiling(num_layers: int, prefill_layers: int, n: int) -> float:
    """Speedup if only the layers ran and cost the same per sequence: L / (P + (L - P) / N)."""
    return num_layers / (prefill_layers + (num_layers - prefill_layers) / n)


def check_settings(settings: ProfileSettings, spec: BackboneSpec) -> None:
    if settings.dtype not in DTYPES:
        raise RevmuxError(f"unknown dtype {settings.dtype!r}: use one of {', '.join(DTYPES)}")
    if settings.method == "teacher":
        raise RevmuxError("profile compares a multiplexing method with the teacher: pick adapter, ora, revmux or hadamard")
    if not 0 <= settings.prefill_layers < spec.num_layers:
        raise RevmuxError(
            f"prefill layers must be in [0, {spec.num_layers}) for {spec.name} ({spec.num_layers} layers), "
            f"got {settings.prefill_layers}"
        )
    if settings.batch_size % settings.n:
        raise RevmuxError(f"batch size {settings.batch_size} is not a multiple of N = {settings.n}: "
                          "choose one that is, so every composite is full")
    if settings.batch_size < 1 or settings.length < 2:
        raise RevmuxError("batch size must be >= 1 and length >= 2")


def random_batch(backbone: SplitBackbone, batch_size: int, length: int, seed: int) -> TokenBatch:
    """Uniform random token ids with every position real, so each call does the same work."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, backbone.model.config.vocab_size, (batch_size, length), generator=generator)
    mask = torch.ones(batch_size, length, dtype=torch.long)
    return backbone.token_batch(ids, mask)


def profile(settings: ProfileSettings, spec: BackboneSpec, resources=None, progress: bool = False) -> dict:
    check_settings(settings, spec)
    device = torch.device(settings.device)
    dtype = DTYPES[settings.dtype]
    gpu = open_gpu(cuda_uuid(device))
    clock = clock_for(device)
    nvml_baseline = gpu.memory()["used"] if isinstance(gpu, NvmlGpu) else None

    load_started = time.perf_counter()
    backbone = split_backbone(load_backbone(spec, resources, dtype, device))
    torch.manual_seed(settings.seed)
    head = LinearHead(backbone.hidden_size, NUM_CLASSES)
    multiplexer = build_multiplexer(settings.method, backbone.hidden_size, settings.n)
    model = MultiplexedModel(backbone, head, multiplexer, settings.prefill_layers).to(device=device, dtype=dtype).eval()
    clock.sync()
    load_s = time.perf_counter() - load_started
    batch = random_batch(backbone, settings.batch_size, settings.length, settings.seed)

    @torch.inference_mode()
    def teacher():
        return head(teacher_answer_states(backbone, batch))

    @torch.inference_mode()
    def multiplexed():
        return model(batch).logits

    workloads = {"teacher": teacher, "multiplexed": multiplexed}
    telemetry = [gpu.telemetry()] if isinstance(gpu, NvmlGpu) else []
    flops = {name: count_flops(fn) / settings.batch_size for name, fn in workloads.items()}
    latency_settings = LatencySettings(settings.warmup_runs, settings.min_iterations, settings.min_duration_s)
    latency = measure_latency(workloads, settings.batch_size, clock, latency_settings, progress)
    memory = {
        name: measure_memory(fn, settings.memory_runs, device, gpu, clock.sync) for name, fn in workloads.items()
    }
    energy = {
        name: measure_energy(fn, settings.batch_size, gpu, clock.sync, settings.energy_window_s)
        for name, fn in workloads.items()
    }
    if isinstance(gpu, NvmlGpu):
        telemetry.append(gpu.telemetry())
    foreign = foreign_processes(gpu) if isinstance(gpu, NvmlGpu) else None

    ceiling = analytic_ceiling(backbone.num_layers, settings.prefill_layers, settings.n)
    measured = latency["teacher"]["mean"] / latency["multiplexed"]["mean"]
    per_round = [t / m for t, m in zip(latency["teacher"]["values"], latency["multiplexed"]["values"])]
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "revmux-profile",
        "settings": dataclasses.asdict(settings),
        "backbone": {
            "name": spec.name, "family": spec.family, "num_layers": backbone.num_layers,
            "hidden_size": backbone.hidden_size, "random_init": spec.random_init, "provenance": spec.provenance,
            "parameters": sum(p.numel() for p in backbone.parameters()),
        },
        "inputs": f"random token ids, {settings.batch_size} x {settings.length}, every position real (seed {settings.seed})",
        "weights": "multiplexer and head freshly initialised (speed does not depend on trained weights)",
        "speedup": {
            "measured": measured,
            "ceiling": ceiling,
            "ceiling_formula": "L / (P + (L - P) / N)",
            "fraction_of_ceiling": measured / ceiling,
            "per_round": summarize_ratios(per_round),
        },
        "flops_per_sample": {**flops, "ratio": flops["teacher"] / flops["multiplexed"],
                             "counter": "torch.utils.flop_counter (matrix products and attention)"},
        "latency": latency,
        "memory": {"nvml_used_before_load": nvml_baseline, "paths": memory},
        "energy": energy,
        "environment": {
            "host": host_info(),
            "gpu": gpu.identity() if isinstance(gpu, NvmlGpu) else None,
            "gpu_unavailable": gpu.reason if isinstance(gpu, Unavailable) else None,
            "versions": versions(),
            "git_commit": git_commit(),
        },
        "telemetry": telemetry,
        "foreign_gpu_processes": foreign if not isinstance(foreign, Unavailable) else None,
        "validity": assess(latency, energy, foreign, telemetry, settings.max_cv),
        "timings": {"load_model_s": load_s, "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")},
    }


def summary_line(result: dict) -> str:
    speedup, latency = result["speedup"], result["latency"]
    validity = "valid" if result["validity"]["valid"] else "INVALID: " + "; ".join(result["validity"]["reasons"])
    return (
        f"speedup {speedup['measured']:.3f}x (ceiling {speedup['ceiling']:.3f}x, "
        f"{speedup['fraction_of_ceiling']:.1%} of it); teacher {latency['teacher']['samples_per_s']:.1f} samples/s "
        f"(cv {latency['teacher']['cv']:.1%}), multiplexed {latency['multiplexed']['samples_per_s']:.1f} samples/s "
        f"(cv {latency['multiplexed']['cv']:.1%}); {validity}"
    )
