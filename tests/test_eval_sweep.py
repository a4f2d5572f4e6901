"""kNN sweep equals separate kNN runs; per-class accuracy and confusion matrix by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ssl_app.eval.knn import knn_accuracy
from ssl_app.eval.metrics import confusion_matrix, per_class_accuracy
from ssl_app.eval.sweep import knn_sweep


def test_sweep_matches_individual_knn_runs():
    g = torch.Generator().manual_seed(0)
    bank, query = (
        F.normalize(torch.randn(300, 16, generator=g), dim=1),
        F.normalize(torch.randn(80, 16, generator=g), dim=1),
    )
    bank_y, query_y = (
        torch.randint(0, 6, (300,), generator=g),
        torch.randint(0, 6, (80,), generator=g),
    )
    rows = knn_sweep(bank, bank_y, query, query_y, ks=(5, 50), temperatures=(0.07, 0.5))
    assert len(rows) == 2 * 2 + 2
    for row in rows:
        weighted = row["voting"] != "majority"
        tau = float(row["voting"].split("=")[1]) if weighted else 0.1
        ref = knn_accuracy(bank, bank_y, query, query_y, row["k"], tau, weighted)
        assert (row["top1"], row["top5"]) == pytest.approx((ref["top1"], ref["top5"]))


def test_confusion_matrix_and_per_class_accuracy():
    truth = torch.tensor([0, 0, 1, 1, 1, 2])
    pred = torch.tensor([0, 1, 1, 1, 0, 2])
    assert confusion_matrix(pred, truth, 4).tolist() == [
        [1, 1, 0, 0],
        [1, 2, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 0],
    ]
    acc = per_class_accuracy(pred, truth, 4)
    assert acc[:3] == pytest.approx([0.5, 2 / 3, 1.0]) and math.isnan(acc[3])
