"""Pure functions on split tables: carving a validation split, hashing, summaries.

A split is a pandas DataFrame with columns idx (row number in the source split), text_a,
text_b (None for single-sentence tasks) and label (int; -1 where the source is unlabelled).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from revmux.core.errors import RevmuxError

COLUMNS = ["idx", "text_a", "text_b", "label"]
UNLABELLED = -1

# Model selection needs a split the reported number never sees; it is carved from the training
# data with a fixed seed, so every method, N and seed selects on the same examples.
VALIDATION_FRACTION = 0.1
VALIDATION_MAX = 2000
VALIDATION_SEED = 0


def carve_validation(
    train: pd.DataFrame,
    fraction: float = VALIDATION_FRACTION,
    max_size: int = VALIDATION_MAX,
    seed: int = VALIDATION_SEED,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split `train` into (train, validation): a seeded random `fraction`, at most `max_size` rows."""
    size = min(max_size, max(1, round(len(train) * fraction)))
    order = np.random.default_rng(seed).permutation(len(train))
    held = np.sort(order[:size])
    kept = np.sort(order[size:])
    return train.iloc[kept].reset_index(drop=True), train.iloc[held].reset_index(drop=True)


def split_hash(split: pd.DataFrame) -> str:
    """sha256 of the examples' texts and labels in order; equal hashes mean identical examples."""
    digest = hashlib.sha256()
    for text_a, text_b, label in split[["text_a", "text_b", "label"]].itertuples(index=False):
        digest.update(json.dumps([text_a, text_b, int(label)], ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def summarize(splits: dict[str, pd.DataFrame], label_names: tuple[str, ...]) -> pd.DataFrame:
    """One row per split: size, count of each label (or 'unlabelled'), and the split hash."""
    rows = []
    for name, split in splits.items():
        counts = split["label"].value_counts()
        balance = ", ".join(
            f"{label_names[label]} {counts[label]}" for label in sorted(counts.index) if label != UNLABELLED
        ) or "unlabelled"
        rows.append({"split": name, "rows": len(split), "labels": balance, "sha256": split_hash(split)})
    return pd.DataFrame(rows)


def subsample(split: pd.DataFrame, size: int | None, seed: int = 0, name: str = "split") -> pd.DataFrame:
    """A seeded random subset of `size` rows in their original order; the whole split if size is None.

    A size the split cannot fill is refused: shrinking it silently would change what a run measures
    (and its name would still claim the requested size)."""
    if size is None or size == len(split):
        return split
    if size > len(split):
        raise ShortSplitError(name, size, len(split))
    keep = np.sort(np.random.default_rng(seed).choice(len(split), size=size, replace=False))
    return split.iloc[keep].reset_index(drop=True)


class ShortSplitError(RevmuxError):
    """A configured split size larger than the data holds."""

    def __init__(self, name: str, requested: int, available: int):
        self.name, self.requested, self.available = name, requested, available
        origin = (f" (it is carved from the training data: {VALIDATION_FRACTION:.0%} of it, at most {VALIDATION_MAX} rows)"
                  if name == "validation" else "")
        super().__init__(f"the {name} split holds {available} rows{origin} but {requested} were asked for: "
                         f"set data.{name}_size (--{name}-size) to at most {available}, or to null for all of them")
