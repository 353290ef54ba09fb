"""The paper's evaluation protocol: accuracy over random regroupings of the evaluation set.

For each regrouping the examples are put in a seeded random order and cut into batches of
`batch_size`; consecutive examples in a batch form the groups of N, and a batch that is not a
multiple of N is completed with zero instances that are never scored. The protocol fixes the groups;
how groups are packed into forward passes is free (see `group_predictions`). Pure functions of a
model and features; no I/O.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from revmux.multiplexing.features import CachedFeatures
from revmux.multiplexing.model import MultiplexedModel

TEACHER_CHUNK = 1024
EXECUTION_GROUPS = 64  # groups per forward pass when evaluating (any size gives the same groups)


def regrouping_orders(size: int, regroupings: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.permutation(size) for _ in range(regroupings)]


def groups_of(order: np.ndarray, batch_size: int, n: int) -> np.ndarray:
    """(G, n) example indices of the groups of `order`: consecutive examples within each batch of `batch_size`,
    a batch's partial last group completed with -1 (a zero instance, never scored)."""
    groups = []
    for start in range(0, len(order), batch_size):
        batch = np.asarray(order[start:start + batch_size], dtype=np.int64)
        groups.append(np.concatenate([batch, np.full((-len(batch)) % n, -1, dtype=np.int64)]).reshape(-1, n))
    return np.concatenate(groups) if groups else np.empty((0, n), dtype=np.int64)


def group_logits(model: MultiplexedModel, features: CachedFeatures, groups: np.ndarray) -> torch.Tensor:
    """Class scores (G, n, C) of every member of every group (NaN for zero instances), on the CPU.

    A group's scores depend only on its members, not on which other groups share its forward pass, so
    groups run sorted by their longest member, `EXECUTION_GROUPS` at a time, each pass cut to its own
    longest member: the protocol's groups, with far fewer padding positions than its batches of random
    lengths. Scores equal batch-by-batch execution up to float summation order (a test holds them to it)."""
    if len(groups):
        # A group that recurs (same members in the same slots: every group at N = 1, whatever the order)
        # is run once; its scores are the same wherever it recurs.
        distinct, where = np.unique(groups, axis=0, return_inverse=True)
        if len(distinct) < len(groups):
            return group_logits(model, features, distinct)[torch.as_tensor(where.reshape(-1))]
    n = groups.shape[1]
    lengths = features.lengths().numpy()
    longest = np.where(groups >= 0, lengths[np.maximum(groups, 0)], 0).max(axis=1, initial=0)
    scores = None
    with torch.no_grad():
        for chosen in np.array_split(np.argsort(longest, kind="stable"), max(1, -(-len(groups) // EXECUTION_GROUPS))):
            if not len(chosen):
                continue
            members = groups[chosen].reshape(-1)
            batch = features.batch(members[members >= 0])
            real = torch.as_tensor(members >= 0, device=batch.hidden.device)
            hidden = batch.hidden.new_zeros(len(members), *batch.hidden.shape[1:])
            mask = batch.mask.new_zeros(len(members), batch.mask.shape[1])
            positions = batch.positions.new_zeros(len(members))
            hidden[real], mask[real], positions[real] = batch.hidden, batch.mask, batch.positions
            logits = model.finish(hidden, mask, positions).logits.float().cpu()
            if scores is None:
                scores = torch.full((*groups.shape, logits.shape[-1]), float("nan"))
            scores[torch.as_tensor(chosen)] = logits.masked_fill(~real.cpu().unsqueeze(-1), float("nan")).view(len(chosen), n, -1)
    return scores if scores is not None else torch.empty((*groups.shape, 0))


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
    regroupings: int, batch_size: int, seed: int, teacher: np.ndarray | None = None,
) -> tuple[dict, pd.DataFrame]:
    """Accuracy summary and one prediction row per example and regrouping. `teacher`: the reference teacher's
    predicted classes, where the features do not carry its answer states (a quantized or truncated model)."""
    labels = features.labels().numpy()
    teacher = teacher_predictions(model, features) if teacher is None else teacher
    orders = regrouping_orders(len(labels), regroupings, seed)
    n = model.multiplexer.n
    # Every regrouping's groups run together, so that groups of similar length share forward passes.
    groups = [groups_of(order, batch_size, n) for order in orders]
    # The probability the model gives its own answer: what a selector may know before a larger model runs.
    probabilities = torch.softmax(group_logits(model, features, np.concatenate(groups)), -1).numpy() if groups else None
    grouped = probabilities.argmax(-1) if groups else None
    frames, accuracies, offset = [], [], 0
    for number, (order, own) in enumerate(zip(orders, groups)):
        predicted = np.empty(len(order), dtype=np.int64)
        confidence = np.empty(len(order))
        real = own >= 0
        predicted[own[real]] = grouped[offset:offset + len(own)][real]
        confidence[own[real]] = probabilities[offset:offset + len(own)].max(-1)[real]
        offset += len(own)
        accuracies.append(float((predicted == labels).mean()))
        position = np.empty(len(order), dtype=np.int64)
        position[order] = np.arange(len(order))
        frames.append(pd.DataFrame({
            "regrouping": number, "example": example_ids, "position": position, "label": labels,
            "prediction": predicted, "confidence": confidence, "teacher_prediction": teacher,
        }))
    summary = {
        "mean": float(np.mean(accuracies)),
        "sd": float(np.std(accuracies, ddof=1)) if len(accuracies) > 1 else 0.0,
        "per_regrouping": accuracies,
        "teacher": float((teacher == labels).mean()),
    }
    return summary, pd.concat(frames, ignore_index=True)
