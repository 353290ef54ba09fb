"""The regrouping protocol on a recording stand-in: which examples the model sees together."""

from __future__ import annotations

import numpy as np
import torch

from revmux.multiplexing import evaluate as evaluation
from revmux.multiplexing.evaluate import evaluate
from revmux.multiplexing.features import FeatureBatch

SIZE, N, BATCH, REGROUPINGS = 23, 2, 6, 5


class RecordingFeatures:
    """Features whose hidden state is the example's index + 1 (0 is a zero instance), so every group the
    model sees can be read back; example i has i % 7 + 1 real positions."""

    device = torch.device("cpu")

    def __init__(self):
        self._labels = torch.arange(SIZE) % 2

    def __len__(self):
        return SIZE

    def labels(self):
        return self._labels

    def lengths(self):
        return torch.arange(SIZE) % 7 + 1

    def teacher(self, index):
        return torch.zeros(len(index), 1)

    def batch(self, index):
        index = torch.as_tensor(np.asarray(index))
        length = int(self.lengths()[index].max())
        hidden = (index.float() + 1).view(-1, 1, 1).expand(-1, length, 1)
        mask = (torch.arange(length) < self.lengths()[index].unsqueeze(1)).long()
        return FeatureBatch(hidden=hidden, mask=mask, positions=torch.zeros(len(index), dtype=torch.long),
                            teacher=None, labels=None)


class RecordingModel:
    """Records the groups of N consecutive rows of every forward pass, as MultiplexedModel.finish groups
    them, and scores example i as class i % 7, so predictions can be traced back to examples."""

    def __init__(self, n: int = N):
        self.multiplexer = type("Multiplexer", (), {"n": n})()
        self.passes = []

    def head(self, states):
        return torch.zeros(len(states), 2)

    def finish(self, hidden, mask, positions):
        members = hidden[:, 0, 0].long() - 1  # -1: a zero instance
        self.passes.append({"groups": members.view(-1, self.multiplexer.n).tolist(), "length": hidden.shape[1],
                            "longest": int(mask.sum(dim=1).max())})

        class Output:
            logits = torch.nn.functional.one_hot(members % 7, 7).float()

        return Output()


def test_the_model_sees_the_groups_of_each_regrouping_packed_by_length(monkeypatch):
    monkeypatch.setattr(evaluation, "EXECUTION_GROUPS", 5)  # several passes from this small set
    model, features = RecordingModel(), RecordingFeatures()
    summary, predictions = evaluate(model, features, np.arange(SIZE), REGROUPINGS, BATCH, seed=0)
    orders = []
    for number in range(REGROUPINGS):
        rows = predictions[predictions.regrouping == number].sort_values("position")
        order = rows["example"].to_numpy()
        assert sorted(order) == list(range(SIZE))  # a permutation of the evaluation set
        orders.append(order)
    assert len({tuple(order) for order in orders}) == REGROUPINGS  # every regrouping is a different grouping
    # The protocol's groups: N consecutive examples within each batch of B of the order, a batch's partial
    # last group completed with zero instances (-1).
    expected = []
    for order in orders:
        for start in range(0, SIZE, BATCH):
            batch = list(order[start:start + BATCH])
            batch += [-1] * ((-len(batch)) % N)
            expected += [tuple(batch[k:k + N]) for k in range(0, len(batch), N)]
    seen = [tuple(group) for one_pass in model.passes for group in one_pass["groups"]]
    # every distinct group exactly once, whatever pass it ran in (a group that recurs runs once)
    assert sorted(seen) == sorted(set(expected))
    # Passes are packed by length: each is cut to its own longest member, and they come shortest first.
    assert all(one_pass["length"] == one_pass["longest"] for one_pass in model.passes)
    assert [p["length"] for p in model.passes] == sorted(p["length"] for p in model.passes)
    # Every prediction went back to its own example.
    assert (predictions["prediction"] == predictions["example"] % 7).all()
    assert len(summary["per_regrouping"]) == REGROUPINGS


def test_a_group_that_recurs_across_regroupings_runs_once():
    # At N = 1 every regrouping has the same groups (one example each): the model sees each example once.
    model, features = RecordingModel(n=1), RecordingFeatures()
    summary, predictions = evaluate(model, features, np.arange(SIZE), REGROUPINGS, BATCH, seed=0)
    seen = sorted(group[0] for one_pass in model.passes for group in one_pass["groups"])
    assert seen == list(range(SIZE))
    assert len(predictions) == SIZE * REGROUPINGS
    assert (predictions["prediction"] == predictions["example"] % 7).all()
