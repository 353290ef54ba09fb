"""The three splits a run uses (train, validation, held-out eval), subsampled as configured,
and turned into token batches for a backbone."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from revmux.backbones.stages import StagedBackbone, TokenBatch
from revmux.multiplexing.config import DataConfig
from revmux.data import load_task
from revmux.data.splits import subsample, split_hash

SUBSAMPLE_SEED = 0  # fixed: every method, N and seed sees the same examples


def load_run_splits(config: DataConfig) -> tuple[dict[str, pd.DataFrame], str]:
    """{'train', 'validation', 'eval'} and a description of the source."""
    data = load_task(
        config.task, config.source, Path(config.glue_dir) if config.glue_dir else None,
        Path(config.resources) if config.resources else None,
    )
    splits = {
        "train": subsample(data.splits["train"], config.train_size, SUBSAMPLE_SEED, "train"),
        "validation": subsample(data.splits["validation"], config.validation_size, SUBSAMPLE_SEED, "validation"),
        "eval": subsample(data.eval, config.eval_size, SUBSAMPLE_SEED, "eval"),
    }
    return splits, f"{data.source}; held-out split: {data.task.eval_split}"


def splits_fingerprint(splits: dict[str, pd.DataFrame]) -> dict[str, str]:
    return {name: split_hash(frame) for name, frame in splits.items()}


def tokenize_rows(backbone: StagedBackbone, task: str, rows: pd.DataFrame, max_length: int) -> TokenBatch:
    text_b = rows["text_b"].tolist() if rows["text_b"].notna().any() else None
    return backbone.tokenize(task, rows["text_a"].tolist(), text_b, max_length)
