"""Linear probe: separable data is learned, shuffled labels stay at chance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssl_app.errors import DataError
from ssl_app.eval.linear import C_GRID, linear_probe, topk_accuracy


def separable(n: int, seed: int, num_classes: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """Classes split by a random linear map: label = argmax(W x), so a linear model is exact."""
    w = torch.randn(num_classes, 32, generator=torch.Generator().manual_seed(7))
    x = torch.randn(n, 32, generator=torch.Generator().manual_seed(seed))
    return x, (x @ w.T).argmax(1)


def test_linear_probe_learns_linearly_separable_features():
    (xa, ya), (xb, yb) = separable(2000, 0), separable(400, 1)
    res = linear_probe(xa, ya, xb, yb)
    assert res["top1"] >= 0.95
    assert res["top5"] >= res["top1"]
    assert res["C"] in C_GRID


def test_linear_probe_on_shuffled_labels_is_chance():
    (xa, ya), (xb, yb) = separable(800, 0), separable(400, 1)
    shuffled = ya[torch.randperm(len(ya), generator=torch.Generator().manual_seed(0))]
    res = linear_probe(xa, shuffled, xb, yb, c_grid=(1.0,))
    chance = np.bincount(yb.numpy()).max() / len(yb)
    assert res["top1"] < chance + 0.1


def test_topk_accuracy_by_hand():
    probs = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]])
    classes = np.array([0, 1, 2])
    y = np.array([2, 2])
    assert topk_accuracy(probs, classes, y, 1) == 0.0
    assert topk_accuracy(probs, classes, y, 2) == 1.0


def test_single_class_or_unlabelled_training_split_is_an_error():
    x = torch.randn(20, 4)
    with pytest.raises(DataError, match="at least 2 classes"):
        linear_probe(x, torch.zeros(20).long(), x, torch.zeros(20).long())
    with pytest.raises(DataError, match="no labels"):
        linear_probe(x, torch.full((20,), -1), x, torch.zeros(20).long())
