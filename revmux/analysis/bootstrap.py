"""Bootstrap intervals of the tables: pure functions of arrays, no I/O.

Accuracy is resampled hierarchically. Each seed replicates the whole pipeline (its own fine-tuned teacher,
its own multiplexers and alternatives), so seeds are the top level: one resample draws seeds with
replacement, then one set of evaluation examples with replacement, the same for every drawn seed: every
seed is evaluated on the same examples (a crossed design), and an example that is hard for one seed is hard
for the others, so drawing examples afresh for each seed would divide the examples' share of the variance
by the number of seeds and make the interval too narrow. An example keeps all its regroupings together: a
composite mixes different examples in every regrouping, so the regroupings of one example are not
independent draws, the example is. A paired difference (a method against the teacher of
its own seed, or two options of the same seed) is the bootstrap of the per-example difference, so both
sides always get the same drawn seeds and examples.

A speed-up is resampled over the timed rounds of its profile: the teacher and the method are timed in
the same round, so a round (both its values) is the unit. That interval covers the noise within one
timing run only, not how timings move between runs or machines.
"""

from __future__ import annotations

from collections.abc import Sequence
from zlib import crc32

import numpy as np

LEVEL = 0.95
RESAMPLES = 2000
_CHUNK = 256  # example resamples drawn at once: bounds memory at _CHUNK x examples indices


def percentile_interval(draws: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(np.asarray(draws, dtype=float), [tail, 100 - tail])
    return float(low), float(high)


def hierarchical_draws(per_seed: Sequence[np.ndarray], resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """Bootstrap distribution of the mean over seeds of each seed's mean over examples. `per_seed`: one
    vector per seed, one value per example (e.g. its accuracy over the regroupings, or a paired difference),
    the same examples in the same order for every seed. Seeds are drawn with replacement, then one resample
    of the examples that every drawn seed shares."""
    vectors = [np.asarray(values, dtype=float).ravel() for values in per_seed]
    if not vectors or any(v.size == 0 for v in vectors):
        raise ValueError("a hierarchical bootstrap needs at least one seed with at least one example")
    if len({v.size for v in vectors}) > 1:
        raise ValueError(f"every seed must be evaluated on the same examples, got {sorted({v.size for v in vectors})}")
    matrix = np.stack(vectors)  # seeds x examples
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(vectors), size=(resamples, len(vectors)))
    # Each resample's weight on each seed (how often it was drawn), applied to every example at once.
    weights = np.stack([(drawn == index).sum(axis=1) for index in range(len(vectors))], axis=1) / len(vectors)
    means = np.empty(resamples)
    for start in range(0, resamples, _CHUNK):
        stop = min(start + _CHUNK, resamples)
        per_example = weights[start:stop] @ matrix  # resamples x examples: the drawn seeds' mean per example
        examples = rng.integers(0, matrix.shape[1], size=(stop - start, matrix.shape[1]))
        means[start:stop] = np.take_along_axis(per_example, examples, axis=1).mean(axis=1)
    return means


def hierarchical_ci(per_seed: Sequence[np.ndarray], resamples: int = RESAMPLES, seed: int = 0,
                    level: float = LEVEL) -> tuple[float, float]:
    return percentile_interval(hierarchical_draws(per_seed, resamples, seed), level)


def seed_t_interval(per_seed: Sequence[np.ndarray], level: float = LEVEL) -> tuple[float, float] | None:
    """Student's t interval of the mean over seeds of each seed's mean (seeds - 1 degrees of freedom); None
    with one seed."""
    from scipy import stats

    means = np.array([np.mean(values) for values in per_seed], dtype=float)
    if len(means) < 2:
        return None
    half = stats.t.ppf((1 + level) / 2, len(means) - 1) * means.std(ddof=1) / np.sqrt(len(means))
    return float(means.mean() - half), float(means.mean() + half)


def accuracy_interval(per_seed: Sequence[np.ndarray], resamples: int = RESAMPLES, seed: int = 0,
                      level: float = LEVEL) -> tuple[float, float]:
    """The interval every accuracy (and paired accuracy difference) gets: the hierarchical bootstrap's, widened
    to Student's t interval over seeds where that is wider. A bootstrap that draws from 3 seeds never reaches
    past the extreme seeds, so with few seeds it understates the seed-to-seed variation; the t interval
    charges it (and the bootstrap keeps the examples' share, which the t interval over shared examples lacks)."""
    low, high = hierarchical_ci(per_seed, resamples, seed, level)
    t = seed_t_interval(per_seed, level)
    return (low, high) if t is None else (min(low, t[0]), max(high, t[1]))


def mean_over_seeds(per_seed: Sequence[np.ndarray]) -> float:
    """The point estimate the hierarchical bootstrap resamples: every seed weighs the same."""
    return float(np.mean([np.mean(values) for values in per_seed]))


def seed_sd(per_seed: Sequence[np.ndarray]) -> float | None:
    """Seed-to-seed spread: the standard deviation of the per-seed means (None with one seed: not measured)."""
    if len(per_seed) < 2:
        return None
    return float(np.std([np.mean(values) for values in per_seed], ddof=1))


def speedup_draws(teacher_rounds: Sequence[float], path_rounds: Sequence[float], resamples: int = RESAMPLES,
                  seed: int = 0) -> np.ndarray:
    """Bootstrap distribution of the measured speed-up (the teacher's mean latency over the path's) when the
    timed rounds are resampled with replacement, each round keeping its teacher and path values together."""
    teacher, path = np.asarray(teacher_rounds, dtype=float), np.asarray(path_rounds, dtype=float)
    if teacher.shape != path.shape or teacher.size < 1:
        raise ValueError(f"rounds of the teacher and the path must pair up, got {teacher.size} and {path.size}")
    rounds = np.random.default_rng(seed).integers(0, teacher.size, size=(resamples, teacher.size))
    return teacher[rounds].mean(axis=1) / path[rounds].mean(axis=1)


def ratio_draws(per_round: Sequence[float], resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """The same from per-round speed-ups alone (a profile without paired latency values): their mean, resampled."""
    values = np.asarray(per_round, dtype=float)
    rounds = np.random.default_rng(seed).integers(0, values.size, size=(resamples, values.size))
    return values[rounds].mean(axis=1)


def stable_seed(*parts) -> int:
    """A resampling seed fixed by what is resampled (a profile's key), so that reruns give the same interval
    and two independent profiles get independent draws."""
    return crc32("/".join(map(str, parts)).encode())
