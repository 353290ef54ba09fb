"""The regrouping protocol on a recording stand-in: which examples the model sees together."""

from __future__ import annotations

import numpy as np
import torch

from revmux.multiplexing.evaluate import evaluate
from revmux.multiplexing.features import FeatureBatch

SIZE, N, BATCH, REGROUPINGS = 23, 2, 6, 5


class RecordingFeatures:
    """Features whose hidden state is the example's index, so every batch the model sees can be read back."""

    device = torch.device("cpu")

    def __init__(self):
        self._labels = torch.arange(SIZE) % 2

    def __len__(self):
        return SIZE

    def labels(self):
        return self._labels

    def teacher(self, index):
        return torch.zeros(len(index), 1)

    def batch(self, index):
        index = torch.as_tensor(np.asarray(index))
        hidden = index.float().view(-1, 1, 1)
        return FeatureBatch(hidden=hidden, mask=torch.ones(len(index), 1, dtype=torch.long),
                            positions=torch.zeros(len(index), dtype=torch.long), teacher=None, labels=None)


class RecordingModel:
    """Groups consecutive rows of each batch, as MultiplexedModel.finish does, and records the groups."""

    def __init__(self):
        self.batches = []

    def head(self, states):
        return torch.zeros(len(states), 2)

    def finish(self, hidden, mask, positions):
        self.batches.append(hidden.view(-1).long().tolist())

        class Output:
            logits = torch.zeros(len(hidden), 2)

        return Output()


def test_regroupings_differ_and_the_model_sees_consecutive_slices_of_each_order():
    model, features = RecordingModel(), RecordingFeatures()
    summary, predictions = evaluate(model, features, np.arange(SIZE), REGROUPINGS, BATCH, seed=0)
    orders = []
    for number in range(REGROUPINGS):
        rows = predictions[predictions.regrouping == number].sort_values("position")
        order = rows["example"].to_numpy()
        assert sorted(order) == list(range(SIZE))  # a permutation of the evaluation set
        orders.append(order)
    assert len({tuple(order) for order in orders}) == REGROUPINGS  # every regrouping is a different grouping
    per_batch = -(-SIZE // BATCH)
    assert len(model.batches) == REGROUPINGS * per_batch
    for number, order in enumerate(orders):
        for k in range(per_batch):
            # Batch k of a regrouping is order[k*B:(k+1)*B]: the groups of N are consecutive examples of it.
            assert model.batches[number * per_batch + k] == order[k * BATCH:(k + 1) * BATCH].tolist()
    assert len(summary["per_regrouping"]) == REGROUPINGS
