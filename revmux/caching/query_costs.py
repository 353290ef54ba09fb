"""What one query costs one model of a caching pair, query by query.

- tokens: the query as that model reads it (its own tokenizer and prompt style, truncated at the run's
  max_length), counted without padding;
- FLOPs: counted at exactly that many tokens by the code that counts a speed profile's `flops_per_sample`
  (revmux.multiplexing.speed.build_workloads on random ids, revmux.measure.flops.count_flops), once per
  distinct length;
- seconds: the measured seconds per sample of the model's speed profile at the smallest profiled length that
  holds the query, i.e. what the query costs inside a padded batch of that profile's size at that length
  bucket. A model timed at lengths 16, 32 and 64 charges a 20-token query its share of a 32-token batch.

Every check here fails with what is wrong and how to fix it: a pair is only meaningful if both models were
evaluated on the same examples and timed at every cost length.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from revmux.core import layout
from revmux.core.errors import RevmuxError


def read_profile(path: Path) -> dict:
    """A finished `revmux speed` result, with the keys the costs read."""
    try:
        profile = json.loads(Path(path).read_text())
        for key in ("settings", "latency", "flops_per_sample", "validity", "backbone"):
            profile[key]  # noqa: B018 - present, or the KeyError below names it
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RevmuxError(f"{path}: not a finished `revmux speed` result ({error}); rerun its speed job") from None
    return profile


def profiles_by_length(paths: list[Path], lengths: list[int], model: str) -> dict[int, dict]:
    """The model's speed profiles keyed by the input length each timed; every cost length must be among them
    and all must time the same backbone, method and batch size."""
    profiles = {}
    for path in paths:
        profile = read_profile(path)
        length = int(profile["settings"]["length"])
        if length in profiles:
            raise RevmuxError(f"{model}: two speed profiles time length {length} ({profiles[length]['_path']} and "
                              f"{path}); pass one per length")
        profiles[length] = {**profile, "_path": str(path)}
    missing = sorted(set(lengths) - set(profiles))
    if missing:
        given = ", ".join(map(str, sorted(profiles))) or "none"
        raise RevmuxError(f"{model}: no speed profile at cost length {', '.join(map(str, missing))} (profiled: {given}); "
                          "time it with `revmux speed ... --length L` and pass it (in the workflow: the lengths of "
                          "caching.cost_lengths are profiled for every pair)")
    shapes = {(p["settings"]["backbone"], p["settings"]["method"], p["settings"]["n"], p["settings"]["prefill_layers"],
               p["settings"]["batch_size"]) for p in profiles.values()}
    if len(shapes) > 1:
        raise RevmuxError(f"{model}: its speed profiles time different models or batch sizes ({sorted(shapes)}); "
                          "pass profiles of one backbone, method, N, P and batch size at several lengths")
    return {length: profiles[length] for length in sorted(profiles)}


@dataclasses.dataclass(frozen=True)
class RunData:
    """What a run was evaluated on: its task, backbone and data settings (from its metrics.json)."""

    run: Path
    task: str
    backbone: str
    data: dict

    @property
    def resources(self) -> Path | None:
        return Path(self.data["resources"]) if self.data.get("resources") else None

    @classmethod
    def of(cls, run: Path) -> RunData:
        try:
            config = json.loads((Path(run) / layout.METRICS).read_text())["config"]
            return cls(Path(run), config["data"]["task"], config["backbone"], config["data"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise RevmuxError(f"{run}: no finished evaluation with its settings ({error}); run its evaluate job") from None


def query_texts(run: RunData, split: str, examples: pd.Index) -> pd.DataFrame:
    """The examples' texts (text_a, text_b), loaded as the run loaded its splits, in the order of `examples`
    (the `example` ids of its predictions: the split's `idx`)."""
    from revmux.multiplexing.config import DataConfig
    from revmux.multiplexing.inputs import load_run_splits

    fields = {field.name for field in dataclasses.fields(DataConfig)}
    splits, _ = load_run_splits(DataConfig(**{key: value for key, value in run.data.items() if key in fields}))
    rows = splits[split].set_index("idx")
    unknown = examples.difference(rows.index)
    if len(unknown):
        raise RevmuxError(f"{run.run}: its {split} predictions name {len(unknown)} examples (e.g. {unknown[0]}) that its "
                          f"data settings do not produce; rerun its evaluate job with the current data")
    return rows.loc[examples, ["text_a", "text_b"]]


def token_counts(run: RunData, texts: pd.DataFrame) -> np.ndarray:
    """Tokens per query as the run's model reads them: its prompt style, its tokenizer, its max_length."""
    from revmux.backbones import resolve_backbone
    from revmux.backbones.load import load_tokenizer
    from revmux.data.prompts import format_inputs

    spec = resolve_backbone(run.backbone)
    tokenizer = load_tokenizer(spec, run.resources)
    second = texts["text_b"].tolist() if texts["text_b"].notna().any() else None
    first, second = format_inputs(run.task, spec.prompt_style, texts["text_a"].tolist(), second)
    encoded = tokenizer(first, second, truncation=True, max_length=int(run.data["max_length"]))
    return np.array([len(ids) for ids in encoded["input_ids"]])


def flops_at_lengths(profile: dict, path: str, lengths, resources: Path | None = None) -> dict[int, float]:
    """FLOPs per sample of the profile's `path` ("teacher" or "multiplexed") at each length, counted as the
    profile counted its own `flops_per_sample`: the same workloads, the same counter, on a batch of N samples
    (the smallest that fills a composite). FLOPs do not depend on the weights, so random ids are counted."""
    from revmux.backbones import resolve_backbone
    from revmux.backbones.load import DTYPES, load_backbone
    from revmux.measure.flops import count_flops
    from revmux.multiplexing.config import SpeedSettings
    from revmux.multiplexing.speed import build_workloads

    fields = {field.name for field in dataclasses.fields(SpeedSettings)}
    base = dataclasses.replace(SpeedSettings(**{key: value for key, value in profile["settings"].items() if key in fields}),
                               batch_size=max(1, profile["settings"]["n"]), device="cpu")
    key = (json.dumps(dataclasses.asdict(dataclasses.replace(base, length=0)), sort_keys=True), path)
    counted = _COUNTED.setdefault(key, {})  # a model's validation and held-out queries share their lengths
    missing = sorted({int(length) for length in lengths} - set(counted))
    if missing:
        spec = resolve_backbone(base.backbone)
        loaded = load_backbone(spec, resources, DTYPES[base.dtype], "cpu", with_tokenizer=False)
        for length in missing:
            settings = dataclasses.replace(base, length=length)
            workloads = build_workloads(settings, spec, resources, loaded=loaded)[4]  # the float paths a profile counts
            counted[length] = count_flops(workloads[path]) / settings.batch_size
    return {int(length): counted[int(length)] for length in lengths}


_COUNTED: dict = {}


def seconds_per_sample(profiles: dict[int, dict], path: str) -> dict[int, float]:
    """Measured seconds per sample of `path` at each profiled length (its batch's mean latency / batch size)."""
    try:
        return {length: 1.0 / float(profile["latency"][path]["samples_per_s"]) for length, profile in profiles.items()}
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as error:
        raise RevmuxError(f"a speed profile lacks the {path} path's throughput ({error}); rerun its speed job") from None


def buckets(tokens: np.ndarray, lengths: list[int], model: str) -> np.ndarray:
    """The smallest profiled length >= each query's tokens."""
    lengths = np.sort(np.asarray(lengths))
    too_long = tokens > lengths[-1]
    if too_long.any():
        raise RevmuxError(f"{model}: {too_long.sum()} queries have up to {tokens.max()} tokens, beyond the longest "
                          f"profiled length {lengths[-1]}; add a cost length >= the run's max_length "
                          "(caching.cost_lengths)")
    return lengths[np.searchsorted(lengths, tokens)]


def query_costs(run: RunData, texts: pd.DataFrame, path: str, profiles: dict[int, dict], model: str) -> pd.DataFrame:
    """Per query (rows of `texts`): tokens, its length bucket, measured seconds at the bucket, FLOPs counted
    at its own length."""
    tokens = token_counts(run, texts)
    bucket = buckets(tokens, list(profiles), model)
    seconds = seconds_per_sample(profiles, path)
    flops = flops_at_lengths(next(iter(profiles.values())), path, np.unique(tokens), run.resources)
    return pd.DataFrame({"tokens": tokens, "bucket": bucket, "seconds": [seconds[b] for b in bucket],
                         "flops": [flops[t] for t in tokens]}, index=texts.index)
