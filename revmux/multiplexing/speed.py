"""What multiplexing buys in speed, memory and energy: the teacher (no multiplexing) and the
multiplexed model timed on the same inputs, in the same process, alternating.

Speed does not depend on trained weights, so the multiplexer is freshly initialised and the
inputs are random token ids filling every position (no padding), which fixes the work per call.
Backbones may be random-init copies of the paper's shapes; the profile says so.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import time
from datetime import datetime, timezone

import torch

from revmux.backbones.load import DTYPES, load_backbone
from revmux.backbones.registry import BackboneSpec
from revmux.backbones.stages import StagedBackbone, TokenBatch, stage_backbone
from revmux.core.errors import RevmuxError
from revmux.multiplexing.heads import LinearHead
from revmux.measure.clock import clock_for
from revmux.measure.contention import assess_contention, drift, foreign_cores, read_cpu, usable_cpus
from revmux.measure.energy import measure_energy
from revmux.measure.flops import count_flops
from revmux.measure.latency import LatencySettings, measure_latency
from revmux.measure.memory import Workload, measure_memory, peak_in_fresh_process, weights_in_use
from revmux.measure.nvml import NvmlGpu, Unavailable, cuda_uuid, foreign_processes, open_gpu
from revmux.measure.stats import summarize_ratios
from revmux.measure.system import host_info
from revmux.measure.validity import assess
from revmux.multiplexing.model import MultiplexedModel, answer_states_from, teacher_answer_states
from revmux.multiplexing.config import SpeedSettings
from revmux.backbones.quantization import check_scheme, quantize
from revmux.multiplexing.methods import METHODS, build_multiplexer, canonical_method, method_traits, split_method
from revmux.multiplexing.methods.truncate import truncation_depth
from revmux.core.provenance import git_commit, versions

# 3: the verb and its files renamed from profile to speed; 4: each path's weights and working set apart,
# the drift check's skip recorded, the CPU kernels in the environment
SCHEMA_VERSION = 4
PATHS = ("teacher", "multiplexed")
NUM_CLASSES = 2


def layer_ceiling(num_layers: int, prefill_layers: int, n: int) -> float:
    """The speedup if only the split stack's layers ran, each costing the same: L / (P + (L - P) / N).
    Kept for reference: it leaves out what else runs once per sequence (T5's whole decoder)."""
    return num_layers / (prefill_layers + (num_layers - prefill_layers) / n)


def ceiling_from_parts(per_instance: float, per_composite: float, n: int) -> float:
    """The speedup if multiplexing cost nothing: the work that runs once per instance (a) stays, the work
    that runs once per sequence of the shared part (b) is divided by N: (a + b) / (a + b / N)."""
    return (per_instance + per_composite) / (per_instance + per_composite / n)


def ceiling_parts(backbone: StagedBackbone, head: torch.nn.Module, batch: TokenBatch, prefill_layers: int) -> dict:
    """FLOPs per sample of the teacher's parts, counted with the same counter for every family: per instance
    the embeddings, layers [0, P) and the head; per composite layers [P, L) and what turns their output into
    answer states (the final norm; T5's decoder, whose cross-attention reads every encoder token)."""
    with torch.inference_mode():
        hidden, mask = backbone.embed(batch)
        prefilled = backbone.run_layers(hidden, mask, 0, prefill_layers)
        shared = backbone.run_layers(prefilled, mask, prefill_layers, backbone.num_layers)
        answers = backbone.answer_states(shared, mask, batch.answer_positions.unsqueeze(1))[:, 0]

        def instance_part():
            embedded, _ = backbone.embed(batch)
            backbone.run_layers(embedded, mask, 0, prefill_layers)
            head(answers)

        def composite_part():
            out = backbone.run_layers(prefilled, mask, prefill_layers, backbone.num_layers)
            backbone.answer_states(out, mask, batch.answer_positions.unsqueeze(1))

        size = len(batch.input_ids)
        return {"per_instance_flops": count_flops(instance_part) / size,
                "per_composite_flops": count_flops(composite_part) / size}


def check_settings(settings: SpeedSettings, spec: BackboneSpec) -> None:
    if settings.dtype not in DTYPES:
        raise RevmuxError(f"unknown dtype {settings.dtype!r}: use one of {', '.join(DTYPES)}")
    traits = method_traits(canonical_method(settings.method))
    if traits["quantization"]:
        check_scheme(traits["quantization"], settings.device)
    if not traits["multiplexes"] and not traits["trains_backbone"] and not traits["quantization"]:
        raise RevmuxError("speed compares a method with the teacher: pick a multiplexer (adapter, ora, revmux, hadamard), "
                          "truncate, or a quantized model such as identity+int8")
    if traits["trains_backbone"] and settings.n == 1:
        if problem := spec.depth_problem(settings.prefill_layers):
            raise RevmuxError(f"truncation {problem}")
    elif not 0 <= settings.prefill_layers < spec.num_layers:
        raise RevmuxError(
            f"prefill layers must be in [0, {spec.num_layers}) for {spec.name} ({spec.num_layers} layers), "
            f"got {settings.prefill_layers}"
        )
    if traits["multiplexes"] and settings.batch_size % settings.n:
        raise RevmuxError(f"batch size {settings.batch_size} is not a multiple of N = {settings.n}: "
                          "choose one that is, so every composite is full")
    if settings.batch_size < 1 or settings.length < 2:
        raise RevmuxError("batch size must be >= 1 and length >= 2")
    if settings.soft_prompt_length < 0:
        raise RevmuxError(f"soft prompt length must be >= 0, got {settings.soft_prompt_length}")
    if settings.soft_prompt_length and not spec.takes_soft_prompt:
        raise RevmuxError(
            f"--soft-prompt-length applies to encoder-decoder (T5) backbones, whose teacher is prompt-tuned; "
            f"{spec.name} is {spec.family}: leave it at 0"
        )


def random_batch(backbone: StagedBackbone, batch_size: int, length: int, seed: int) -> TokenBatch:
    """Uniform random token ids with every position real, so each call does the same work."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, backbone.model.config.vocab_size, (batch_size, length), generator=generator)
    mask = torch.ones(batch_size, length, dtype=torch.long)
    return backbone.token_batch(ids, mask)


def build_workloads(settings: SpeedSettings, spec: BackboneSpec, resources=None, depth: int | None = None,
                    only: str | None = None, loaded=None):
    """The loaded backbone, head, batch, the two timed callables (teacher, multiplexed: the method's path), the
    same two on the float backbone (FLOPs are counted there: the counter does not see int8 kernels, which do
    the same arithmetic), what the method's path is, and the modules each timed path holds (whose weights it
    may read). A fresh memory process builds `only` its one path, with the truncation `depth` already chosen:
    nothing else (FLOP counting, a float twin) runs before its baseline. `loaded`: the backbone already loaded
    (without its tokenizer), for callers that count many lengths on one model."""
    device = torch.device(settings.device)
    dtype = DTYPES[settings.dtype]
    # Random token ids are timed: no tokenizer, so a random-init shape runs with nothing fetched.
    backbone = stage_backbone(loaded or load_backbone(spec, resources, dtype, device, with_tokenizer=False))
    torch.manual_seed(settings.seed)
    if settings.soft_prompt_length:
        # A random prompt of the tuned prompt's shape: speed does not depend on its values.
        prompt = torch.randn(settings.soft_prompt_length, backbone.hidden_size) * 0.5
        backbone.set_soft_prompt(prompt.to(device=device, dtype=dtype))
    head = LinearHead(backbone.hidden_size, NUM_CLASSES).to(device=device, dtype=dtype).eval()
    batch = random_batch(backbone, settings.batch_size, settings.length, settings.seed)
    base, scheme = split_method(canonical_method(settings.method))
    traits = METHODS.traits(base)
    described = {"method": base, "quantization": scheme, "depth": None, "truncation": None}
    if traits["trains_backbone"]:
        chosen = None
        if depth is None:
            depth, chosen = truncation_depth(backbone, settings.n, settings.prefill_layers,
                                             settings.match_length or settings.length)
        described.update(depth=depth, truncation=chosen)
    multiplexer = None
    if traits["multiplexes"] and not traits["trains_backbone"]:
        multiplexer = build_multiplexer(base, backbone.hidden_size, settings.n).to(device=device, dtype=dtype).eval()

    def method_path(on: StagedBackbone):
        if traits["trains_backbone"]:
            def run():
                hidden, mask = on.embed(batch)
                return head(answer_states_from(on, hidden, mask, batch.answer_positions, 0, described["depth"]))
        elif multiplexer is not None:
            model = MultiplexedModel(on, head, multiplexer, settings.prefill_layers)

            def run():
                return model(batch).logits
        else:
            def run():
                return head(teacher_answer_states(on, batch))
        return torch.inference_mode()(run)

    method_backbone = backbone
    if scheme and only != "teacher":
        # the teacher path stays the float model (a path measured alone quantizes in place)
        method_backbone = backbone if only == "multiplexed" else copy.deepcopy(backbone)
        quantize(method_backbone, scheme)
    teacher = torch.inference_mode()(lambda: head(teacher_answer_states(backbone, batch)))
    timed = {"teacher": teacher, "multiplexed": method_path(method_backbone)}
    counted = {"teacher": teacher, "multiplexed": method_path(backbone)} if scheme and only is None else timed
    extra = (multiplexer,) if multiplexer is not None else ()
    modules = {"teacher": (backbone, head), "multiplexed": (method_backbone, head, *extra)}
    return backbone, head, batch, timed, counted, described, modules


def path_workload(settings: SpeedSettings, spec: BackboneSpec, resources, path: str, depth: int | None = None) -> Workload:
    """One path's callable on a freshly loaded model, with the modules it holds (what a fresh memory process builds)."""
    *_, workloads, _, _, modules = build_workloads(settings, spec, resources, depth=depth, only=path)
    return Workload(workloads[path], modules[path])


def path_weights(memory: dict, workloads: dict, modules: dict) -> dict[str, int | None]:
    """Adds each path's weights (`weights_bytes`, `weights_source`) to its memory record: the bytes of the
    parameters and buffers one call of the path reads, so a truncated model counts only its layers and an
    int8 model its int8 weights. Returns the bytes by path (None where they could not be counted) for
    `path_peaks`."""
    weights = {}
    for path, record in memory.items():
        try:
            record["weights_bytes"], record["weights_source"] = weights_in_use(workloads[path], modules[path])
        except (RuntimeError, NotImplementedError) as error:  # an operation that the recording mode cannot run
            record["weights_bytes"], record["weights_source"] = None, None
            record["unavailable"]["weights_bytes"] = f"the {path} path's call could not be recorded: {error}"
        weights[path] = record["weights_bytes"]
    return weights


def path_peaks(memory: dict, settings: SpeedSettings, spec: BackboneSpec, resources, device: torch.device,
               depth: int | None = None, weights: dict[str, int | None] | None = None) -> None:
    """Adds each path's working set to its memory record (`working_set_bytes`, `working_set_source`): its peak
    above its loaded model with the weights resident; on a GPU torch's maximum allocated over what was
    allocated before the path ran, on a CPU the host RSS peak in a fresh process that runs only that path,
    after every page of the model's weights was read. With the path's `weights` (from `path_weights`) also
    their sum, the path's whole peak (`peak_bytes`, `peak_source`); without them `peak_bytes` is the working
    set alone, the peak over the loaded model."""
    for path, record in memory.items():
        if device.type == "cuda":
            working_set = record["torch_max_allocated"] - record["torch_allocated_before"]
            working_source = "torch max allocated over what was allocated before the path ran"
        else:
            build = functools.partial(path_workload, settings, spec, resources, path, depth)
            measured = peak_in_fresh_process(build, settings.memory_runs, torch.get_num_threads())
            working_set = measured["peak_bytes"]
            working_source = (None if working_set is None else
                              f"host RSS peak over the loaded model with its weights resident, own fresh process "
                              f"({measured['source']})")
            if working_set is None:
                record["unavailable"]["working_set_bytes"] = f"the {path} memory process: {measured['reason']}"
        record["working_set_bytes"], record["working_set_source"] = working_set, working_source
        if weights is None:  # no weights counted: the peak over the loaded model
            record["peak_bytes"], record["peak_source"] = working_set, working_source
        elif working_set is not None and weights[path] is not None:
            record["peak_bytes"] = weights[path] + working_set
            record["peak_source"] = f"weights_bytes + working_set_bytes (working set: {working_source})"
        else:
            record["peak_bytes"], record["peak_source"] = None, None
        if record["peak_bytes"] is None:
            record["unavailable"]["peak_bytes"] = "; ".join(
                record["unavailable"][key] for key in ("weights_bytes", "working_set_bytes") if key in record["unavailable"])


def profile(settings: SpeedSettings, spec: BackboneSpec, resources=None, progress: bool = False) -> dict:
    check_settings(settings, spec)
    device = torch.device(settings.device)
    gpu = open_gpu(cuda_uuid(device))
    clock = clock_for(device)
    nvml_baseline = gpu.memory()["used"] if isinstance(gpu, NvmlGpu) else None

    load_started = time.perf_counter()
    backbone, head, batch, workloads, counted, described, modules = build_workloads(settings, spec, resources)
    clock.sync()
    load_s = time.perf_counter() - load_started

    telemetry = [gpu.telemetry()] if isinstance(gpu, NvmlGpu) else []
    # Timed first, so that `first_call_s` is the first call of each path; FLOPs are counted afterwards.
    latency_settings = LatencySettings(settings.warmup_runs, settings.min_iterations, settings.min_duration_s,
                                       cuda_graphs=settings.cuda_graphs)
    cpu_before = read_cpu()
    latency = measure_latency(workloads, settings.batch_size, clock, latency_settings, progress)
    cpu_after = read_cpu()
    flops = {name: count_flops(fn) / settings.batch_size for name, fn in counted.items()}
    parts = ceiling_parts(backbone, head, batch, min(settings.prefill_layers, backbone.num_layers))
    memory = {
        name: measure_memory(fn, settings.memory_runs, device, gpu, clock.sync) for name, fn in workloads.items()
    }
    weights = path_weights(memory, workloads, modules)
    path_peaks(memory, settings, spec, resources, device, described["depth"], weights)
    energy = {
        name: measure_energy(fn, settings.batch_size, gpu, clock.sync, settings.energy_window_s)
        for name, fn in workloads.items()
    }
    if isinstance(gpu, NvmlGpu):
        telemetry.append(gpu.telemetry())
    foreign = foreign_processes(gpu) if isinstance(gpu, NvmlGpu) else None

    threads = torch.get_num_threads()
    teacher_rounds = latency["teacher"]["values"]
    contention, contention_reasons = assess_contention(
        foreign_cores(cpu_before, cpu_after), threads, usable_cpus(), drift(teacher_rounds),
        settings.foreign_cpu_tolerance, settings.max_drift, rounds=len(teacher_rounds),
    )
    validity = assess(latency, energy, foreign, telemetry, settings.max_cv)
    validity["reasons"] += contention_reasons
    validity["valid"] = not validity["reasons"]

    if METHODS.traits(described["method"])["multiplexes"]:
        ceiling = ceiling_from_parts(parts["per_instance_flops"], parts["per_composite_flops"], settings.n)
        layers_ceiling = layer_ceiling(backbone.num_layers, settings.prefill_layers, settings.n)
    else:  # truncation, or the teacher quantized: the speed-up if time followed the counted FLOPs
        ceiling = max(1.0, flops["teacher"] / flops["multiplexed"])
        layers_ceiling = backbone.num_layers / (described["depth"] or backbone.num_layers)
    measured = latency["teacher"]["mean"] / latency["multiplexed"]["mean"]
    per_round = [t / m for t, m in zip(latency["teacher"]["values"], latency["multiplexed"]["values"])]
    total_length = settings.length + settings.soft_prompt_length
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "revmux-speed",
        "settings": {**dataclasses.asdict(settings), "threads": threads},
        "backbone": {
            "name": spec.name, "family": spec.family, "num_layers": backbone.num_layers,
            "hidden_size": backbone.hidden_size, "random_init": spec.random_init, "provenance": spec.provenance,
            "parameters": sum(p.numel() for p in backbone.parameters()),
        },
        "inputs": (f"random token ids, {settings.batch_size} x {settings.length}, every position real (seed {settings.seed})"
                   + (f", after a soft prompt of {settings.soft_prompt_length} (encoder length {total_length})"
                      if settings.soft_prompt_length else "")),
        "weights": "multiplexer and head freshly initialised (speed does not depend on trained weights)",
        "method_path": {**described, "description": describe_path(described, settings)},
        "speedup": {
            "measured": measured,
            "ceiling": ceiling,
            "ceiling_formula": "(a + b) / (a + b / N); a, b = FLOPs per sample run once per instance, once per composite",
            "ceiling_parts": parts,
            "layer_ceiling": layers_ceiling,
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
        "contention": contention,
        "validity": validity,
        "timings": {"load_model_s": load_s, "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")},
    }


def describe_path(described: dict, settings: SpeedSettings) -> str:
    """What the `multiplexed` path of a profile runs, in words."""
    if described["depth"] is not None:
        text = f"the first {described['depth']} layers and the head (truncation)"
    elif METHODS.traits(described["method"])["multiplexes"]:
        text = f"{described['method']} with N = {settings.n} at P = {settings.prefill_layers}"
    else:
        text = "the teacher"
    if described["quantization"]:
        text += f", on the backbone quantized to {described['quantization']} (the teacher path stays {settings.dtype})"
    return text


def summary_line(result: dict) -> str:
    speedup, latency = result["speedup"], result["latency"]
    validity = "valid" if result["validity"]["valid"] else "INVALID: " + "; ".join(result["validity"]["reasons"])
    if skipped := result["contention"].get("drift_skipped"):
        validity += f" (drift check skipped: {skipped})"
    return (
        f"speedup {speedup['measured']:.3f}x (ceiling {speedup['ceiling']:.3f}x, "
        f"{speedup['fraction_of_ceiling']:.1%} of it); teacher {latency['teacher']['samples_per_s']:.1f} samples/s "
        f"(cv {latency['teacher']['cv']:.1%}), multiplexed {latency['multiplexed']['samples_per_s']:.1f} samples/s "
        f"(cv {latency['multiplexed']['cv']:.1%}); {validity}"
    )
