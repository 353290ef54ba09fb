"""The caching track's jobs, torch-free: Zhu et al.'s synthetic suite (one job per scenario) and the model
pairs of this harness (one job each), whose runs and speed profiles the multiplexing grid makes."""

from __future__ import annotations

import re

from revmux.core import layout
from revmux.workflow.multiplexing import ConfigError

SCENARIOS = ("offline", "online")
MODEL = re.compile(r"^(?P<backbone>[^/]+)/(?:(?P<teacher>teacher)|(?P<method>[a-z0-9-]+?)-n(?P<n>\d+))$")


def enabled(config: dict) -> bool:
    return bool(config.get("caching", {}).get("enabled"))


def suite_arguments(config: dict) -> str:
    block = config["caching"]
    return (f"--runs {block['runs']} --requests {block['requests']} --queries {block['queries']}"
            f" --cache-size {block['cache_size']}")


def pairs(config: dict) -> list[str]:
    return list(config["caching"]["pairs"]) if enabled(config) else []


def _model(config: dict, pair: str, role: str) -> dict:
    """Where a model of a pair comes from: `<backbone>/teacher` (the identity run: the teacher itself) or
    `<backbone>/<method>-n<N>`, at the backbone's first P, the first seed, and the first timed shape."""
    reference = config["caching"]["pairs"][pair][role]
    key = f"config key caching.pairs.{pair}.{role} (or leave the pairs out: --config caching='{{pairs: {{}}}}')"
    match = MODEL.match(str(reference))
    if not match:
        raise ConfigError(f"{key}: {reference!r} is not <backbone>/teacher or <backbone>/<method>-n<N> "
                          "(e.g. minilm-l6/revmux-n4)")
    backbone = match["backbone"]
    if backbone not in config["backbones"]:
        raise ConfigError(f"{key}: backbone {backbone!r} is not trained by this configuration (backbones: "
                          f"{', '.join(config['backbones'])})")
    method, n = ("identity", 1) if match["teacher"] else (match["method"], int(match["n"]))
    if method not in config["methods"] and not (method == "identity" and "teacher" in config["methods"]):
        raise ConfigError(f"{key}: method {method!r} is not in `methods`; add it, or pick a trained one")
    if method != "identity" and n not in config["compose_sizes"]:
        raise ConfigError(f"{key}: N = {n} is not in `compose_sizes` {config['compose_sizes']}")
    if not config["speed"]["enabled"]:
        raise ConfigError(f"{key}: the pair's costs come from speed profiles; set speed.enabled: true")
    return {"backbone": backbone, "method": method, "n": n, "p": config["backbones"][backbone]["prefill_layers"][0],
            "seed": config["seeds"][0], "task": config["caching"]["task"] or config["tasks"][0]}


def _timed(config: dict, model: dict, other: dict) -> dict:
    """The speed profile that timed a model: its own, or for the teacher one of a multiplexed model of the same
    backbone (the other model of the pair when it is one, so the two were timed side by side)."""
    if model["method"] != "identity":
        return model
    if other["method"] != "identity" and other["backbone"] == model["backbone"]:
        return other
    timed = [m for m in config["methods"] if m not in ("identity", "teacher")]
    if not timed:
        raise ConfigError(f"caching pairs: the teacher of {model['backbone']} is timed beside a multiplexing method; "
                          "add one to `methods`")
    return {**model, "method": timed[0], "n": config["compose_sizes"][0]}


def pair_files(config: dict, pair: str) -> dict:
    """The runs and speed profiles a pair's job reads, by role: each model timed at every cost length (a
    query is charged the measured seconds of the smallest length that holds it)."""
    small, large = _model(config, pair, "small"), _model(config, pair, "large")
    files = {}
    for role, model, other in (("small", small, large), ("large", large, small)):
        run = layout.pattern(layout.RUN_DIR).format(**model)
        timed = _timed(config, model, other)
        files[f"{role}_run"] = run
        files[f"{role}_metrics"] = f"{run}/{layout.METRICS}"
        files[f"{role}_predictions"] = f"{run}/{layout.PREDICTIONS}"
        files[f"{role}_validation"] = f"{run}/{layout.VALIDATION_PREDICTIONS}"
        files[f"{role}_speed"] = [layout.pattern(layout.SPEED_FILE).format(
            **timed, batch=config["speed"]["batch_sizes"][0], length=length) for length in cost_lengths(config)]
    return files


def cost_lengths(config: dict) -> list[int]:
    return sorted(set(config["caching"]["cost_lengths"]))


def check_config(config: dict) -> None:
    for pair in pairs(config):
        pair_files(config, pair)
    if pairs(config) and max(cost_lengths(config)) < config["data"]["max_length"]:
        raise ConfigError(f"config key caching.cost_lengths {cost_lengths(config)}: the longest must reach "
                          f"data.max_length ({config['data']['max_length']}), or the longest queries have no profile "
                          "to be charged at; add it")
    if enabled(config) and config["caching"]["task"] and config["caching"]["task"] not in config["tasks"]:
        raise ConfigError(f"config key caching.task: {config['caching']['task']!r} is not in `tasks`")


def pair_arguments(config: dict, pair: str) -> str:
    files = pair_files(config, pair)
    block = config["caching"]
    return (f"--small-run {files['small_run']} --small-speeds {' '.join(files['small_speed'])}"
            f" --large-run {files['large_run']} --large-speeds {' '.join(files['large_speed'])}"
            f" --cost-lengths {' '.join(map(str, cost_lengths(config)))}"
            f" --selector-threshold {block['selector_threshold']} --runs {block['pair_seeds']}")
