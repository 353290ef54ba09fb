"""The paper's evaluation protocol: accuracy over random regroupings of the evaluation set.

For each regrouping the examples are put in a seeded random order and cut into batches of
`batch_size`; consecutive examples in a batch form the groups of N, and a batch that is not a
multiple of N is completed with zero instances that are never scored. Pure functions of a model
and features; no I/O.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from revmux.multiplexing.features import CachedFeatures
from revmux.multiplexing.model import MultiplexedModel

TEACHER_CHUNK = 1024


def regrouping_orders(size: int, regroupings: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.permutation(size) for _ in range(regroupings)]


def grouped_predictions(model: MultiplexedModel, features: CachedFeatures, order: np.ndarray, batch_size: int) -> np.ndarray:
    """Predicted class of every example (indexed as in `features`) when grouped in `order`."""
    predictions = np.empty(len(order), dtype=np.int64)
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            batch = features.batch(index)
            predictions[index] = model.finish(batch.hidden, batch.mask, batch.positions).logits.argmax(-1).cpu().numpy()
    return predictions


def teacher_predictions(model: MultiplexedModel, features: CachedFeatures) -> np.ndarray:
    """The frozen teacher's predicted class of every example, a chunk of cached states at a time."""
    chunks = []
    with torch.no_grad():
        for start in range(0, len(features), TEACHER_CHUNK):
            index = np.arange(start, min(start + TEACHER_CHUNK, len(features)))
            chunks.append(model.head(features.teacher(index)).argmax(-1).cpu().numpy())
    return np.concatenate(chunks) if chunks else np.empty(0, dtype=np.int64)


def evaluate(
    model: MultiplexedModel, features: CachedFeatures, example_ids: np.ndarray,
    regroupings: int, batch_size: int, seed: int,
) -> tuple[dict, pd.DataFrame]:
    """Accuracy summary and one prediction row per example and regrouping."""
    labels = features.labels().numpy()
    teacher = teacher_predictions(model, features)
    frames, accuracies = [], []
    for number, order in enumerate(regrouping_orders(len(labels), regroupings, seed)):
        predicted = grouped_predictions(model, features, order, batch_size)
        accuracies.append(float((predicted == labels).mean()))
        position = np.empty(len(order), dtype=np.int64)
        position[order] = np.arange(len(order))
        frames.append(pd.DataFrame({
            "regrouping": number, "example": example_ids, "position": position, "label": labels,
            "prediction": predicted, "teacher_prediction": teacher,
        }))
    summary = {
        "mean": float(np.mean(accuracies)),
        "sd": float(np.std(accuracies, ddof=1)) if len(accuracies) > 1 else 0.0,
        "per_regrouping": accuracies,
        "teacher": float((teacher == labels).mean()),
    }
    return summary, pd.concat(frames, ignore_index=True)
