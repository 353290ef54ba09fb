"""The generation-batching track's grid and checks, torch-free: systems x workloads x seeds on one
backbone, each workload named as in its results path (offline, load<F>, closed<C>)."""

from __future__ import annotations

from revmux.backbones import resolve_backbone
from revmux.batching.systems import check_system
from revmux.core.errors import RevmuxError
from revmux.workflow.multiplexing import ConfigError

CAPACITY_SYSTEM = "static"  # loads are multiples of its offline requests/s


def enabled(config: dict) -> bool:
    return bool(config.get("batching", {}).get("enabled"))


def check_config(config: dict) -> None:
    block = config["batching"]
    if not block["enabled"]:
        return
    try:
        spec = resolve_backbone(block["backbone"])
    except RevmuxError as error:
        raise ConfigError(f"config key batching.backbone: {error}") from None
    if spec.family != "decoder":
        raise ConfigError(f"config key batching.backbone: {spec.name} is a {spec.family} model; use a causal LM "
                          "(smollm2-135m, stories260k, llama-3-8b-random)")
    for system in block["systems"]:
        try:
            check_system(system)
        except RevmuxError as error:
            raise ConfigError(f"config key batching.systems: {error}") from None
    for key in ("prompt_tokens", "output_tokens"):
        low, high = block[key]
        if not 1 <= low <= high:
            raise ConfigError(f"config key batching.{key}: [{low}, {high}] needs 1 <= low <= high")


def workloads(config: dict) -> list[str]:
    block = config["batching"]
    return (["offline"] + [f"load{load:g}" for load in block["loads"]]
            + [f"closed{clients}" for clients in block["concurrency"]])


def runs(config: dict) -> list[dict]:
    """Every (seed, workload, system) run of the grid."""
    if not enabled(config):
        return []
    block = config["batching"]
    return [{"backbone": block["backbone"], "seed": seed, "workload": workload, "system": system}
            for seed in block["seeds"] for workload in workloads(config) for system in block["systems"]]


def trace_arguments(config: dict, seed: int) -> str:
    block = config["batching"]
    return (f"--backbone {block['backbone']} --task {block['task']} --requests {block['requests']} --seed {seed}"
            f" --prompt-tokens {block['prompt_tokens'][0]} {block['prompt_tokens'][1]}"
            f" --output-tokens {block['output_tokens'][0]} {block['output_tokens'][1]}")


def serve_arguments(config: dict, workload: str) -> str:
    block = config["batching"]
    flags = [f"--max-batch {block['max_batch']}", f"--timeout {block['timeout_s']}", f"--device {config['device']}",
             f"--dtype {block['dtype']}", f"--warmup-requests {block['warmup_requests']}"]
    if workload.startswith("closed"):
        flags.append(f"--concurrency {workload.removeprefix('closed')}")
    return " ".join(flags)
