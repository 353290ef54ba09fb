"""A small and a large model of this harness as a caching pair, query by query.

Per held-out (and validation) query: whether each model answers it right (its evaluation's predictions, first
regrouping), what it costs each model (revmux.caching.query_costs: its own token count, FLOPs counted at that
length, measured seconds at its length bucket), and three decisions the simulator's selectors read:

- `escalate` (cascade): the small model's confidence is below a threshold chosen on the validation split, so
  its answer is rejected and the large model runs. The gold-label cascade (`cascade-gold`) is kept only as a
  bound: no deployment knows which answers are wrong.
- `keep_small` (answer-classifier): a logistic regression on the small model's answer and confidence says the
  small answer is right; the small model has run first, and is charged.
- `pick_small` (query-classifier): a logistic regression on the query's text alone (hashed word n-grams and its
  token count) says the small model will be right; only the chosen model runs.

Each selector's own cost per query is measured (seconds: featurize and predict one query, median over the
held-out queries; FLOPs: the linear model's multiply-adds) and charged on every miss that consults it.
Selectors are fitted on the validation split and judged on the held-out split.
"""

from __future__ import annotations

import gzip
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from revmux.caching import query_costs
from revmux.core import layout
from revmux.core.errors import RevmuxError

SELECTOR_THRESHOLD = 0.5  # a selector keeps (or picks) the small model when its P(small is right) reaches this
COST_LENGTHS = (16, 32, 64)  # the lengths each model is timed at; a query is charged at the smallest that holds it
COST_UNITS = {"seconds": "cost_{model}_s", "flops": "cost_{model}_flops"}
SELECTOR_COSTS = {"answer-classifier": "answer", "query-classifier": "query"}  # whose measured cost each pays
HASHED_FEATURES = 2 ** 18
DETECTOR_RULE = ("the lowest-cost (validation seconds) confidence threshold whose cascade's served accuracy on the "
                 "validation split reaches the large model's validation accuracy; if none does, the threshold of "
                 "highest served accuracy")


@dataclass(frozen=True)
class Model:
    """One model of a pair: its evaluation run (answers) and the speed profiles that timed it."""

    run: Path  # a results/<task>/<backbone>/<method>-n<N>-p<P>-s<seed> folder
    speeds: tuple[Path, ...]  # `revmux speed` results of one shape at several lengths
    timing: str  # "teacher" (the run is the identity method: the teacher itself) or "multiplexed"

    @property
    def label(self) -> str:
        return f"{self.run.parent.name}/{self.run.name}"


def model_of(run: Path, speeds: list[Path]) -> Model:
    """The model a run evaluates: the teacher for the identity method, else the multiplexed model."""
    try:
        method = json.loads((run / layout.METRICS).read_text())["config"]["method"]
    except (OSError, ValueError, KeyError) as error:
        raise RevmuxError(f"{run}: no finished evaluation ({error}); run its evaluate job first") from None
    return Model(run, tuple(speeds), "teacher" if method == "identity" else "multiplexed")


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


def timing(model: Model, cost_lengths) -> dict:
    """The model's speed profiles by length, and whether every one passed its own checks (an invalid one is
    used, as the multiplexing tables use it, but marked wherever it is shown)."""
    profiles = query_costs.profiles_by_length(list(model.speeds), list(cost_lengths), model.label)
    invalid = [f"{p['_path']}: {'; '.join(p['validity'].get('reasons', []))}" for p in profiles.values()
               if not p["validity"].get("valid")]
    return {"profiles": profiles, "valid": not invalid, "invalid": invalid}


def _same_examples(small: Model, large: Model, small_answers: pd.DataFrame, large_answers: pd.DataFrame, split: str) -> None:
    hashes = [json.loads((model.run / layout.METRICS).read_text()).get("data_hashes", {}).get(split)
              for model in (small, large)]
    if set(small_answers.index) != set(large_answers.index) or (None not in hashes and hashes[0] != hashes[1]):
        raise RevmuxError(f"{small.label} and {large.label} were evaluated on different {split} examples: pair runs "
                          "of the same task and data settings (data.* keys: train/validation/eval sizes, max_length), "
                          "or rerun one's evaluate job with the other's data settings")


def per_query(small: Model, large: Model, split: str, cost_lengths=COST_LENGTHS) -> pd.DataFrame:
    """One row per example of `split` ("eval": held out; "validation"): the query's text, each model's
    correctness and per-query cost (tokens, measured seconds at its length bucket, counted FLOPs), and the
    small model's answer and confidence."""
    name = layout.PREDICTIONS if split == "eval" else layout.VALIDATION_PREDICTIONS
    small_answers, large_answers = _answers(small.run / name), _answers(large.run / name)
    _same_examples(small, large, small_answers, large_answers, split)
    large_answers = large_answers.loc[small_answers.index]
    small_data, large_data = query_costs.RunData.of(small.run), query_costs.RunData.of(large.run)
    texts = query_costs.query_texts(small_data, split, small_answers.index)
    costs = {role: query_costs.query_costs(data, texts, model.timing, timing(model, cost_lengths)["profiles"], model.label)
             for role, data, model in (("small", small_data, small), ("large", large_data, large))}
    text = texts["text_a"].where(texts["text_b"].isna(), texts["text_a"] + " [SEP] " + texts["text_b"].fillna(""))
    return pd.DataFrame({
        "query": small_answers.index.astype(str),
        "text": text.to_numpy(),
        "tokens": costs["small"]["tokens"].to_numpy(),  # as the small model reads it
        "tokens_large": costs["large"]["tokens"].to_numpy(),
        "bucket_small": costs["small"]["bucket"].to_numpy(), "bucket_large": costs["large"]["bucket"].to_numpy(),
        "small_correct": (small_answers["prediction"] == small_answers["label"]).astype(int).to_numpy(),
        "large_correct": (large_answers["prediction"] == large_answers["label"]).astype(int).to_numpy(),
        "small_prediction": small_answers["prediction"].to_numpy(),
        "small_confidence": small_answers["confidence"].to_numpy(),
        "cost_small_s": costs["small"]["seconds"].to_numpy(), "cost_large_s": costs["large"]["seconds"].to_numpy(),
        "cost_small_flops": costs["small"]["flops"].to_numpy(), "cost_large_flops": costs["large"]["flops"].to_numpy(),
    })


def _quality(decisions: np.ndarray, truth: np.ndarray) -> dict:
    """How well yes/no decisions match the truth, for a selector (yes: small) or a detector (yes: reject)."""
    return {
        "accuracy": float((decisions == truth).mean()),
        # the mean of its recall on the two kinds of query: 0.5 for any rule that ignores the query
        "balanced_accuracy": float((decisions[truth].mean() if truth.any() else 0.0) / 2
                                   + ((~decisions[~truth]).mean() if (~truth).any() else 0.0) / 2),
    }


SELECTOR_BATCH = 32  # the selectors are timed on batches of this many queries, as the models are


def _median_seconds(decide: Callable[[pd.DataFrame], object], held_out: pd.DataFrame) -> float:
    """Median wall time per query to featurize and predict a batch of SELECTOR_BATCH held-out queries: the
    models' seconds are per sample of a batch of 32, and a selector timed one query alone would be charged its
    per-call overhead many times over (a sceptical review measured 316 us alone against 13 us batched)."""
    times = []
    for start in range(0, len(held_out) - SELECTOR_BATCH + 1, SELECTOR_BATCH):
        batch = held_out.iloc[start:start + SELECTOR_BATCH]
        started = time.perf_counter()
        decide(batch)
        times.append((time.perf_counter() - started) / SELECTOR_BATCH)
    if not times:  # fewer held-out queries than a batch: time them all together
        started = time.perf_counter()
        decide(held_out)
        times.append((time.perf_counter() - started) / len(held_out))
    return float(np.median(times))


def served_difference(served: np.ndarray, large_correct: np.ndarray) -> dict:
    """A route's served accuracy minus the large model's over the held-out queries, paired query by query, with
    its 95% normal interval: judged on every held-out query, not on the few a cache trace repeats."""
    difference = np.asarray(served, float) - np.asarray(large_correct, float)
    half = 1.96 * difference.std(ddof=1) / np.sqrt(len(difference)) if len(difference) > 1 else np.nan
    return {"served_accuracy": float(np.mean(served)), "minus_large": float(difference.mean()),
            "minus_large_low": float(difference.mean() - half), "minus_large_high": float(difference.mean() + half)}


def _answer_features(table: pd.DataFrame, classes: int) -> np.ndarray:
    # The small model's confidence, and which class it answered (a model may be surer of one class). The
    # fit standardises them: a confidence that varies only in its third decimal still carries signal.
    return np.column_stack([table["small_confidence"], np.eye(classes)[table["small_prediction"].to_numpy()]])


def _query_features(table: pd.DataFrame, max_tokens: float):
    """The query's text alone: hashed word uni- and bigrams, and its token count (scaled to [0, 1])."""
    from scipy.sparse import csr_matrix, hstack
    from sklearn.feature_extraction.text import HashingVectorizer

    words = HashingVectorizer(ngram_range=(1, 2), n_features=HASHED_FEATURES, alternate_sign=False)
    length = csr_matrix(table["tokens"].to_numpy(float)[:, None] / max_tokens)
    return hstack([words.transform(table["text"].astype(str)), length]).tocsr()


def _fit(name: str, features: Callable[[pd.DataFrame], object], validation: pd.DataFrame, held_out: pd.DataFrame,
         threshold: float, description: str) -> tuple[np.ndarray, dict, np.ndarray]:
    """A logistic regression of "the small model is right" on `features`, fitted on the validation split;
    returns the held-out decisions (True: the small model's answer), how good and how dear it is there, and
    its FLOPs per held-out query."""
    from scipy.sparse import issparse
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not 0 <= threshold <= 1:
        raise RevmuxError(f"selector threshold {threshold} must be in [0, 1]")
    labels = validation["small_correct"].to_numpy()
    if len(np.unique(labels)) < 2:
        raise RevmuxError("the small model is right on every validation example (or on none): nothing to learn a "
                          "selector from; use a larger validation split")
    # Balanced classes: the small model is usually right, and an unweighted fit learns to say so for every
    # query, which routes nothing to the large model; weighting the rarer "wrong" answers makes it a router.
    fitted = features(validation)
    # Dense features (the small answer's confidence) are standardised: unscaled, a confidence spanning
    # 0.566-0.568 got a zero weight and the selector kept every small answer. Hashed word counts are left as
    # they are: scaled to unit variance, the rarest words would weigh most.
    steps = [] if issparse(fitted) else [StandardScaler()]
    classifier = make_pipeline(*steps, LogisticRegression(class_weight="balanced", max_iter=2000)).fit(fitted, labels)
    held_features = features(held_out)
    decisions = classifier.predict_proba(held_features)[:, 1] >= threshold
    truth = held_out["small_correct"].to_numpy().astype(bool)
    # FLOPs: one multiply and one add per nonzero feature of the query (the linear model), per query.
    nonzero = held_features.getnnz(axis=1) if issparse(held_features) else np.full(len(held_out), held_features.shape[1])
    return decisions, {
        "selector": name, "features": description,
        "model": "sklearn LogisticRegression (dense features standardised), classes weighted to balance",
        "threshold": threshold, "validation_examples": len(validation), "held_out_examples": len(held_out),
        **_quality(decisions, truth),
        "always_small_accuracy": float(truth.mean()),  # the trivial selector's: the small model's accuracy
        "sent_to_small": float(decisions.mean()),
        "precision_small": float(truth[decisions].mean()) if decisions.any() else None,
        "cost_seconds": _median_seconds(lambda row: classifier.predict_proba(features(row)), held_out),
        "cost_seconds_rule": f"median per query of featurizing and predicting batches of {SELECTOR_BATCH} held-out queries",
        "cost_flops": float(2 * nonzero.mean()),
        "cost_flops_rule": "2 x the query's nonzero features (the linear model's multiply-adds); text hashing is "
                           "string work, in the seconds only",
    }, 2.0 * nonzero


def answer_selector(validation: pd.DataFrame, held_out: pd.DataFrame, threshold: float = SELECTOR_THRESHOLD):
    """From the small model's answer and confidence (so the small model runs first): keep its answer, or also
    run the large model. Returns (keep_small per held-out query, summary, FLOPs per held-out query)."""
    classes = int(max(validation["small_prediction"].max(), held_out["small_prediction"].max())) + 1
    return _fit("answer-classifier", lambda table: _answer_features(table, classes), validation, held_out, threshold,
                "the small model's confidence and answered class (the small model runs first)")


def query_selector(validation: pd.DataFrame, held_out: pd.DataFrame, threshold: float = SELECTOR_THRESHOLD):
    """From the query's text alone, before any model runs: send it to the small or to the large model.
    Returns (pick_small per held-out query, summary, FLOPs per held-out query)."""
    max_tokens = float(max(validation["tokens"].max(), held_out["tokens"].max()))
    return _fit("query-classifier", lambda table: _query_features(table, max_tokens), validation, held_out, threshold,
                f"the query's text: hashed word 1-2-grams ({HASHED_FEATURES} buckets) and its token count")


def confidence_detector(validation: pd.DataFrame, held_out: pd.DataFrame) -> tuple[np.ndarray, dict]:
    """The cascade's failure detector: reject the small answer (escalate) when the small model's confidence is
    below a threshold chosen on the validation split by DETECTOR_RULE. Returns escalate per held-out query."""
    confidence = validation["small_confidence"].to_numpy()
    small, large = validation["small_correct"].to_numpy(), validation["large_correct"].to_numpy()
    cost_small, cost_large = validation["cost_small_s"].to_numpy(), validation["cost_large_s"].to_numpy()
    # Escalate below t: t = 0 never escalates, t above every confidence always does.
    candidates = np.concatenate([[0.0], np.unique(confidence), [np.nextafter(confidence.max(), np.inf)]])
    escalated = confidence[None, :] < candidates[:, None]
    served = np.where(escalated, large, small).mean(axis=1)
    cost = (cost_small + escalated * cost_large).sum(axis=1)
    bar = large.mean()
    reaches = served >= bar - 1e-12
    if reaches.any():
        chosen = int(np.flatnonzero(reaches)[np.argmin(cost[reaches])])
    else:
        chosen = int(np.lexsort((cost, -served))[0])
    threshold = float(candidates[chosen])
    escalate = held_out["small_confidence"].to_numpy() < threshold
    wrong = held_out["small_correct"].to_numpy() == 0
    served_held_out = np.where(escalate, held_out["large_correct"], held_out["small_correct"])
    return escalate, {
        "rule": DETECTOR_RULE, "threshold": threshold, "reached_large_accuracy": bool(reaches.any()),
        "validation_served_accuracy": float(served[chosen]), "validation_large_accuracy": float(bar),
        "validation_escalated": float(escalated[chosen].mean()),
        "validation_cost_over_large": float(cost[chosen] / cost_large.sum()),
        "held_out_escalated": float(escalate.mean()), "held_out_served_accuracy": float(served_held_out.mean()),
        # as a detector of the small model's wrong answers
        **{f"detector_{key}": value for key, value in _quality(escalate, wrong).items()},
    }


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
    selectors: tuple[str, ...] = ("large", "small", "cascade", "cascade-gold", "answer-classifier", "query-classifier",
                                  "bandit")


TRACE_COLUMNS = ["query", "cost_small", "cost_large", "small_correct", "large_correct", "escalate", "keep_small",
                 "pick_small", "selector_cost"]


def _selector_groups(selectors) -> list[tuple[str | None, list[str]]]:
    """Selectors grouped by whose measured cost their trace's `selector_cost` holds (None: no selector's)."""
    groups = [(None, [s for s in selectors if s not in SELECTOR_COSTS])]
    groups += [(SELECTOR_COSTS[s], [s]) for s in selectors if s in SELECTOR_COSTS]
    return [(source, names) for source, names in groups if names]


def _runnable(names, scenario: str, registry, trait: str, wanted: bool) -> list[str]:
    """The names that run in `scenario`: offline, only policies with a filled-once form and no selector that
    learns online; online, only policies that learn online (the oracle is replayed on its own)."""
    if scenario == "online" and trait == "learns":
        return list(names)
    return [name for name in names if bool(registry.traits(name)[trait]) == wanted]


def replay_pair(table: pd.DataFrame, grid: ReplayGrid, progress: bool = True) -> pd.DataFrame:
    """Every policy x selector on the grid's traces, costed in seconds and in FLOPs: one row per run. The
    answer and query classifiers replay the same requests as the others (same seed), each on a trace whose
    `selector_cost` is its own measured cost."""
    from revmux.caching.policies import POLICIES
    from revmux.caching.replay import replay, setups_for
    from revmux.caching.selectors import SELECTORS
    from revmux.caching.traces import power_law_trace
    from revmux.core.progress import progress_bar

    if grid.queries > len(table):
        raise RevmuxError(f"{grid.queries} distinct queries asked for, but the held-out split has {len(table)}")
    settings = ([(alpha, grid.cache_size, scenario, "main") for alpha in grid.alphas for scenario in grid.scenarios]
                + [(max(grid.alphas), size, "online", "cache sweep") for size in grid.cache_sizes if size != grid.cache_size])
    groups = _selector_groups(grid.selectors)
    rows = []
    bar = progress_bar(total=len(settings) * grid.seeds * len(COST_UNITS), desc="replays", unit="trace", enabled=progress)
    for seed in range(grid.seeds):
        chosen = table.iloc[np.random.RandomState(seed).choice(len(table), grid.queries, replace=False)]
        for unit, column in COST_UNITS.items():
            base = chosen.assign(cost_small=chosen[column.format(model="small")],
                                 cost_large=chosen[column.format(model="large")])
            for alpha, cache_size, scenario, setting in settings:
                for source, named in groups:
                    selectors = _runnable(named, scenario, SELECTORS, "learns", False)
                    if not selectors:
                        continue
                    costed = base.assign(selector_cost=chosen[f"{source}_selector_{unit}"] if source else 0.0)
                    trace = power_law_trace(costed[TRACE_COLUMNS], grid.requests, alpha, seed)
                    policies = _runnable([p for p in grid.policies if p != "oracle"], scenario, POLICIES,
                                         "static" if scenario == "offline" else "dynamic", True)
                    setups = setups_for(trace, policies, selectors, scenario, cache_size)
                    if source is None and "oracle" in grid.policies:
                        # the bound: the best static cache with a selector that is always right
                        setups += setups_for(trace, ["oracle"], ["simulated"], scenario, cache_size, 1.0)
                    result = replay(trace, setups, seed)
                    if source is not None:  # its trace's LFU+large baseline is the shared one's
                        result = result[result["selector"].isin(selectors)]
                    # What serving every request with the large model, no cache, costs: the speed-up's reference.
                    rows.append(result.assign(unit=unit, alpha=alpha, seed=seed, setting=setting,
                                              all_large_cost=trace.cost_large.sum()))
                bar.update()
    bar.close()
    return pd.concat(rows, ignore_index=True)


def spread(values: pd.Series) -> dict:
    """The per-query cost spread: min, 10th, 50th, 90th percentile and max."""
    quantiles = values.quantile([0, 0.1, 0.5, 0.9, 1]).to_numpy()
    return dict(zip(("min", "p10", "median", "p90", "max"), map(float, quantiles)))
