"""Layer-P states and the teacher's answer states of a split, computed once and reused.

The backbone and the teacher are frozen, so these do not change while adapters train: they are
computed once per (task, backbone, P, max length, examples, teacher) and shared by every method,
N, seed and epoch. `LiveFeatures` recomputes them per batch instead, for comparison.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from revmux.atomic import atomic_write_bytes
from revmux.inputs import tokenize_rows
from revmux.model import MultiplexedModel, teacher_answer_states

log = logging.getLogger(__name__)

FEATURE_BATCH = 64


@dataclass
class FeatureBatch:
    hidden: torch.Tensor  # (B, T, d) layer-P states
    mask: torch.Tensor  # (B, T)
    positions: torch.Tensor  # (B,) answer positions
    labels: torch.Tensor  # (B,)
    teacher: torch.Tensor  # (B, d) the frozen teacher's answer states


class CachedFeatures:
    """Features kept on the CPU; `batch` hands them to the model's device."""

    def __init__(self, tensors: dict[str, torch.Tensor], device: str | torch.device = "cpu"):
        self.tensors = tensors
        self.device = device

    def __len__(self) -> int:
        return len(self.tensors["labels"])

    def batch(self, index) -> FeatureBatch:
        index = torch.as_tensor(index)
        mask = self.tensors["mask"][index]
        length = int(mask.sum(dim=1).max())  # right-padded: trim to the batch's longest example
        return FeatureBatch(*(t.to(self.device) for t in (
            self.tensors["hidden"][index, :length], mask[:, :length], self.tensors["positions"][index],
            self.tensors["labels"][index], self.tensors["teacher"][index],
        )))


class LiveFeatures:
    """The same batches, recomputed from the text every time (no reuse)."""

    def __init__(self, model: MultiplexedModel, task: str, rows: pd.DataFrame, max_length: int):
        self.model, self.task, self.rows, self.max_length = model, task, rows, max_length

    def __len__(self) -> int:
        return len(self.rows)

    def batch(self, index) -> FeatureBatch:
        rows = self.rows.iloc[list(index)]
        tokens = tokenize_rows(self.model.backbone, self.task, rows, self.max_length)
        with torch.no_grad():
            hidden, mask = self.model.prefill(tokens)
            teacher = teacher_answer_states(self.model.backbone, tokens)
        labels = torch.tensor(rows["label"].to_numpy(), device=hidden.device)
        return FeatureBatch(hidden, mask, tokens.answer_positions, labels, teacher)


def compute_features(model: MultiplexedModel, task: str, rows: pd.DataFrame, max_length: int, desc: str) -> CachedFeatures:
    parts: list[FeatureBatch] = []
    live = LiveFeatures(model, task, rows, max_length)
    for start in tqdm(range(0, len(rows), FEATURE_BATCH), desc=desc, unit="batch", leave=False):
        part = live.batch(range(start, min(start + FEATURE_BATCH, len(rows))))
        parts.append(FeatureBatch(*(t.cpu() for t in (part.hidden, part.mask, part.positions, part.labels, part.teacher))))
    length = max(part.hidden.shape[1] for part in parts)

    def padded(tensor, value=0):
        return torch.nn.functional.pad(tensor, (0, 0, 0, length - tensor.shape[1]) if tensor.dim() == 3
                                       else (0, length - tensor.shape[1]), value=value)

    return CachedFeatures({
        "hidden": torch.cat([padded(p.hidden) for p in parts]),
        "mask": torch.cat([padded(p.mask) for p in parts]),
        "positions": torch.cat([p.positions for p in parts]),
        "labels": torch.cat([p.labels for p in parts]),
        "teacher": torch.cat([p.teacher for p in parts]),
    })


def cache_key(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def load_or_compute(path: Path, key: str, compute, device) -> tuple[CachedFeatures, bool]:
    """The features stored at `path` if they were made for `key`, else compute and store them.

    The key (examples, P, length, teacher) is stored inside the file, so a stale file, e.g. after
    the teacher was retrained, is recomputed rather than silently reused. True if computed.
    """
    if path.is_file():
        stored = torch.load(path, weights_only=True)
        if stored.pop("key", None) == key:
            return CachedFeatures(stored, device), False
        log.warning("%s was computed for other settings; recomputing it", path)
    features = compute()
    buffer = io.BytesIO()
    torch.save({**features.tensors, "key": key}, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    log.info("stored features in %s", path)
    features.device = device
    return features, True
