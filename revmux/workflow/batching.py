"""The generation-batching track's grid and checks, torch-free: systems x workloads x seeds on one
backbone, each workload named as in its results path (offline, load<F>, closed<C>). Which systems serve a
workload depends on it: the static sweep's variants serve the Poisson loads only (see sweep_systems)."""

from __future__ import annotations

from revmux.backbones import resolve_backbone
from revmux.batching.systems import split_variant, variant_name
from revmux.core.errors import RevmuxError
from revmux.workflow.multiplexing import ConfigError

CAPACITY_SYSTEM = "static"  # loads are multiples of its offline requests/s; the sweep varies it


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
    _check_systems(block["systems"], "systems")
    if block["load_systems"] is not None:
        _check_once(block["load_systems"], "load_systems", "system")
        unknown = [system for system in block["load_systems"] if system not in block["systems"]]
        if unknown:
            raise ConfigError(f"config key batching.load_systems: {', '.join(unknown)} not in batching.systems; "
                              "list systems of batching.systems only (or null: all of them)")
    if block["loads"] and CAPACITY_SYSTEM not in block["systems"]:
        raise ConfigError(f"config key batching.systems: the loads are multiples of {CAPACITY_SYSTEM}'s offline "
                          f"requests/s, so list {CAPACITY_SYSTEM} (or set batching.loads: [])")
    _check_sweep(config)
    for key in ("prompt_tokens", "output_tokens"):
        low, high = block[key]
        if not 1 <= low <= high:
            raise ConfigError(f"config key batching.{key}: [{low}, {high}] needs 1 <= low <= high")


def _check_systems(systems: list[str], key: str) -> None:
    for system in systems:
        try:
            split_variant(system)
        except RevmuxError as error:
            raise ConfigError(f"config key batching.{key}: {error}") from None
    _check_once(systems, key, "system")


def _check_once(values: list, key: str, what: str) -> None:
    twice = sorted({str(value) for value in values if values.count(value) > 1})
    if twice:
        raise ConfigError(f"config key batching.{key}: {', '.join(twice)} listed twice; list each {what} once")


def _check_sweep(config: dict) -> None:
    block = config["batching"]
    sweep = block["static_sweep"]
    _check_once(sweep["timeouts"], "static_sweep.timeouts", "timeout")
    _check_once(sweep["max_batches"] or [], "static_sweep.max_batches", "max batch")
    for timeout in sweep["timeouts"]:
        if timeout < 0:
            raise ConfigError(f"config key batching.static_sweep.timeouts: {timeout} s is negative; give timeouts "
                              ">= 0 (0 starts a batch as soon as a request waits)")
        name = variant_name(CAPACITY_SYSTEM, timeout, block["max_batch"])
        try:
            survives = split_variant(name)[1]["timeout_s"] == timeout
        except RevmuxError:
            survives = False
        if not survives:
            raise ConfigError(f"config key batching.static_sweep.timeouts: {timeout} s does not survive its system "
                              f"name {name}; give it with at most 6 significant digits, not in exponent form")
    also_listed = [system for system in sweep_systems(config) if system in block["systems"]]
    if also_listed:
        raise ConfigError(f"config key batching.systems: {', '.join(also_listed)} is also a variant of "
                          "batching.static_sweep; leave it out of batching.systems (the sweep serves it at the loads)")


def _chosen_for_loads(block: dict) -> list[str]:
    return list(block["systems"] if block["load_systems"] is None else block["load_systems"])


def load_systems(config: dict) -> list[str]:
    """Who serves the Poisson loads: `load_systems` (all of `systems` when null), then the static sweep."""
    return _chosen_for_loads(config["batching"]) + sweep_systems(config)


def sweep_systems(config: dict) -> list[str]:
    """static-t<T>-b<B> for each swept timeout T and max batch B, served at the Poisson loads only. Offline
    every request waits at t = 0, and in a closed loop of at least max-batch clients a finished batch's
    clients send its successors together, so a full batch is always waiting and the timeout never fires:
    there static is the same whatever its timeout. The member with static's own timeout_s and max_batch is
    `static` itself when static serves the loads, so it is not served twice."""
    block = config["batching"]
    sweep = block["static_sweep"]
    own = (block["timeout_s"], block["max_batch"]) if CAPACITY_SYSTEM in _chosen_for_loads(block) else None
    return [variant_name(CAPACITY_SYSTEM, timeout, max_batch)
            for max_batch in sweep["max_batches"] or [block["max_batch"]] for timeout in sweep["timeouts"]
            if (timeout, max_batch) != own]


def systems_for(config: dict, workload: str) -> list[str]:
    """The systems that serve one workload (offline, load<F>, closed<C>), in the order they run."""
    return load_systems(config) if workload.startswith("load") else list(config["batching"]["systems"])


def all_systems(config: dict) -> list[str]:
    """Every system name the grid serves at some workload."""
    return list(config["batching"]["systems"]) + sweep_systems(config)


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
            for seed in block["seeds"] for workload in workloads(config) for system in systems_for(config, workload)]


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
