"""A small and a large model of this harness as a caching pair: per held-out query, whether each answers it
right (from its evaluation's predictions) and what each costs (seconds per sample at the profiled batch,
and counted FLOPs per sample, from its speed profile); and a trained selector that, from what is known
before the large model runs (the small model's answer and its confidence), predicts whether the small
model is right. The selector is fitted on the validation split and judged on the held-out split.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from revmux.core import layout
from revmux.core.errors import RevmuxError

SELECTOR_THRESHOLD = 0.5  # send to the small model when the selector's P(small is right) reaches this
COST_UNITS = {"seconds": "cost_{model}_s", "flops": "cost_{model}_flops"}


@dataclass(frozen=True)
class Model:
    """One model of a pair: its evaluation run (answers) and a speed profile that timed it."""

    run: Path  # a results/<task>/<backbone>/<method>-n<N>-p<P>-s<seed> folder
    speed: Path  # a `revmux speed` result that timed this model
    timing: str  # "teacher" (the run is the identity method: the teacher itself) or "multiplexed"

    @property
    def label(self) -> str:
        return f"{self.run.parent.name}/{self.run.name}"


def model_of(run: Path, speed: Path) -> Model:
    """The model a run evaluates: the teacher for the identity method, else the multiplexed model."""
    try:
        method = json.loads((run / layout.METRICS).read_text())["config"]["method"]
    except (OSError, ValueError, KeyError) as error:
        raise RevmuxError(f"{run}: no finished evaluation ({error}); run its evaluate job first") from None
    return Model(run, speed, "teacher" if method == "identity" else "multiplexed")


def _answers(path: Path) -> pd.DataFrame:
    try:
        with gzip.open(path, "rt") as handle:
            frame = pd.read_csv(handle)
    except (OSError, EOFError, pd.errors.ParserError) as error:
        raise RevmuxError(f"{path}: unreadable predictions ({error}); rerun the run's evaluate job") from None
    missing = {"regrouping", "example", "label", "prediction", "confidence"} - set(frame.columns)
    if missing:
        raise RevmuxError(f"{path}: predictions lack {', '.join(sorted(missing))}; rerun the run's evaluate job "
                          "(runs evaluated before the caching track did not keep confidences)")
    # One deployment's answers: the first regrouping (a multiplexed answer depends on its group-mates).
    first = frame[frame["regrouping"] == frame["regrouping"].min()]
    return first.set_index("example")[["label", "prediction", "confidence"]]


def timing(model: Model) -> dict:
    """Seconds and FLOPs per sample of the model, from its speed profile, and whether that profile passed its
    own checks (an invalid one is used, as the multiplexing tables use it, but marked wherever it is shown)."""
    try:
        profile = json.loads(model.speed.read_text())
        seconds = 1.0 / float(profile["latency"][model.timing]["samples_per_s"])
        flops = float(profile["flops_per_sample"][model.timing])
        validity = profile["validity"]
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError) as error:
        raise RevmuxError(f"{model.speed}: not a finished `revmux speed` result ({error}); rerun its speed job") from None
    return {"seconds": seconds, "flops": flops, "valid": bool(validity.get("valid")),
            "invalid_reasons": "; ".join(validity.get("reasons", []))}


def per_query(small: Model, large: Model, split: str) -> pd.DataFrame:
    """One row per example of `split` ("eval": held out; "validation"): each model's correctness and cost,
    and the small model's answer and confidence."""
    name = layout.PREDICTIONS if split == "eval" else layout.VALIDATION_PREDICTIONS
    small_answers, large_answers = _answers(small.run / name), _answers(large.run / name)
    if not small_answers.index.equals(large_answers.index) and set(small_answers.index) != set(large_answers.index):
        raise RevmuxError(f"{small.label} and {large.label} were evaluated on different {split} examples: "
                          "use runs of the same task and data settings")
    large_answers = large_answers.loc[small_answers.index]
    small_cost, large_cost = timing(small), timing(large)
    small_s, small_flops, large_s, large_flops = (small_cost["seconds"], small_cost["flops"], large_cost["seconds"],
                                                  large_cost["flops"])
    return pd.DataFrame({
        "query": small_answers.index.astype(str),
        "small_correct": (small_answers["prediction"] == small_answers["label"]).astype(int).to_numpy(),
        "large_correct": (large_answers["prediction"] == large_answers["label"]).astype(int).to_numpy(),
        "small_prediction": small_answers["prediction"].to_numpy(),
        "small_confidence": small_answers["confidence"].to_numpy(),
        "cost_small_s": small_s, "cost_large_s": large_s, "cost_small_flops": small_flops, "cost_large_flops": large_flops,
    })


def _features(table: pd.DataFrame, classes: int) -> np.ndarray:
    # The small model's confidence, and which class it answered (a model may be surer of one class).
    return np.column_stack([table["small_confidence"], np.eye(classes)[table["small_prediction"].to_numpy()]])


def train_selector(validation: pd.DataFrame, held_out: pd.DataFrame, threshold: float = SELECTOR_THRESHOLD) -> tuple[np.ndarray, dict]:
    """A logistic regression of "the small model is right" fitted on the validation split; returns the
    held-out decisions (True: send to the small model) and how well it does there."""
    from sklearn.linear_model import LogisticRegression

    if not 0 <= threshold <= 1:
        raise RevmuxError(f"selector threshold {threshold} must be in [0, 1]")
    labels = validation["small_correct"].to_numpy()
    if len(np.unique(labels)) < 2:
        raise RevmuxError("the small model is right on every validation example (or on none): nothing to learn a "
                          "selector from; use a larger validation split")
    classes = int(max(validation["small_prediction"].max(), held_out["small_prediction"].max())) + 1
    # Balanced classes: the small model is usually right, and an unweighted fit learns to say so for every
    # query, which routes nothing to the large model; weighting the rarer "wrong" answers makes it a router.
    classifier = LogisticRegression(class_weight="balanced").fit(_features(validation, classes), labels)
    probability = classifier.predict_proba(_features(held_out, classes))[:, 1]
    small_first = probability >= threshold
    truth = held_out["small_correct"].to_numpy().astype(bool)
    summary = {
        "features": "small model's confidence and answered class",
        "model": "sklearn LogisticRegression, classes weighted to balance",
        "threshold": threshold,
        "validation_examples": len(validation), "held_out_examples": len(held_out),
        "accuracy": float((small_first == truth).mean()),
        "always_small_accuracy": float(truth.mean()),  # the trivial selector's: the small model's accuracy
        # the mean of its recall on queries the small model gets right and on those it gets wrong: 0.5 for any
        # selector that ignores the query, however skewed the classes
        "balanced_accuracy": float((small_first[truth].mean() if truth.any() else 0.0) / 2
                                   + ((~small_first[~truth]).mean() if (~truth).any() else 0.0) / 2),
        "sent_to_small": float(small_first.mean()),
        "precision_small": float(truth[small_first].mean()) if small_first.any() else None,
    }
    return small_first, summary


@dataclass(frozen=True)
class ReplayGrid:
    """Zhu et al.'s real-data setting: power-law traces over a seeded sample of distinct held-out queries."""

    queries: int = 100
    requests: int = 10_000
    cache_size: int = 40
    alphas: tuple[float, ...] = (0.2, 0.5, 0.8)
    cache_sizes: tuple[int, ...] = (0, 10, 20, 40, 60, 80, 100)  # swept at the largest alpha
    scenarios: tuple[str, ...] = ("offline", "online")
    seeds: int = 10
    policies: tuple[str, ...] = ("lfu", "lec", "gdsf", "lru", "oracle")
    selectors: tuple[str, ...] = ("large", "cascade", "classifier")


def replay_pair(table: pd.DataFrame, grid: ReplayGrid, progress: bool = True) -> pd.DataFrame:
    """Every policy x selector on the grid's traces, costed in seconds and in FLOPs: one row per run."""
    from revmux.caching.replay import replay, setups_for
    from revmux.caching.traces import power_law_trace
    from revmux.core.progress import progress_bar

    if grid.queries > len(table):
        raise RevmuxError(f"{grid.queries} distinct queries asked for, but the held-out split has {len(table)}")
    settings = ([(alpha, grid.cache_size, scenario, "main") for alpha in grid.alphas for scenario in grid.scenarios]
                + [(max(grid.alphas), size, "online", "cache sweep") for size in grid.cache_sizes if size != grid.cache_size])
    rows = []
    bar = progress_bar(total=len(settings) * grid.seeds * len(COST_UNITS), desc="replays", unit="trace", enabled=progress)
    for seed in range(grid.seeds):
        chosen = table.iloc[np.random.RandomState(seed).choice(len(table), grid.queries, replace=False)]
        for unit, column in COST_UNITS.items():
            per_query_costs = chosen.assign(cost_small=chosen[column.format(model="small")],
                                            cost_large=chosen[column.format(model="large")])
            for alpha, cache_size, scenario, setting in settings:
                trace = power_law_trace(per_query_costs[["query", "cost_small", "cost_large", "small_correct",
                                                         "large_correct", "small_first"]], grid.requests, alpha, seed)
                policies = [p for p in grid.policies if p != "oracle" and not (p == "lru" and scenario == "offline")]
                setups = setups_for(trace, policies, list(grid.selectors), scenario, cache_size)
                if "oracle" in grid.policies:  # the bound: the best static cache with a selector that is always right
                    setups += setups_for(trace, ["oracle"], ["simulated"], scenario, cache_size, 1.0)
                result = replay(trace, setups, seed)
                # What serving every request with the large model, no cache, costs: the speed-up's reference.
                rows.append(result.assign(unit=unit, alpha=alpha, seed=seed, setting=setting,
                                          all_large_cost=trace.cost_large.sum()))
                bar.update()
    bar.close()
    return pd.concat(rows, ignore_index=True)
