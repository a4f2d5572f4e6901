"""Each figure is written with non-trivial content; report.md links them with the table."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from matplotlib.image import imread

from ssl_app.eval.features import view_pair_similarities
from ssl_app.eval.metrics import confusion_matrix
from ssl_app.eval.plots import (
    plot_confusion,
    plot_embedding,
    plot_similarity_histograms,
    plot_training_curves,
    read_metrics,
)
from ssl_app.eval.report import write_report

HEADER = "step,epoch,train/loss,train/pos_sim,train/neg_sim,train/mi_bound,train/pos_acc,lr"
METRICS = f"""{HEADER},val/knn_top1
0,0,5.0,0.5,0.1,0.2,0.1,0.01,
1,0,4.0,0.6,0.05,1.0,0.3,0.02,
1,0,,,,,,,0.4
2,1,3.0,0.7,0.0,2.0,0.6,0.015,
3,1,,,,,,,0.6
"""


def assert_real_png(path) -> None:
    """A PNG bigger than a blank canvas: several distinct colours and a sensible size."""
    image = imread(path)
    assert image.shape[0] > 200 and image.shape[1] > 200
    assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 20


def test_training_curves_and_metrics_reading(tmp_path):
    csv = tmp_path / "metrics.csv"
    csv.write_text(METRICS)
    cols = read_metrics(csv)
    assert np.isnan(cols["val/knn_top1"][0]) and cols["val/knn_top1"][4] == 0.6
    assert_real_png(plot_training_curves(csv, tmp_path / "curves.png"))
    (tmp_path / "empty.csv").write_text("step,epoch\n0,0\n")
    assert plot_training_curves(tmp_path / "empty.csv", tmp_path / "none.png") is None


def test_embedding_similarity_and_confusion_figures(tmp_path):
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(4).repeat_interleave(30)
    feats = F.normalize(
        torch.randn(4, 8, generator=g)[labels] + 0.3 * torch.randn(120, 8, generator=g)
    )
    figures = {
        "Embedding": plot_embedding(feats, labels, tmp_path / "embedding.png"),
        "Similarities": plot_similarity_histograms(
            torch.rand(50) * 0.5 + 0.5, torch.rand(500) - 0.5, tmp_path / "similarity.png"
        ),
        "Confusion": plot_confusion(
            confusion_matrix(labels.roll(3), labels, 4), tmp_path / "cm.png"
        ),
    }
    for path in figures.values():
        assert_real_png(path)
    report = write_report(tmp_path, {"learned": {"knn_top1": 0.9}}, figures).read_text()
    assert "| learned | 90.0 |" in report and "![Confusion](cm.png)" in report


def test_view_pair_similarities_split_diagonal_from_off_diagonal():
    net = nn.Flatten()
    v1 = torch.eye(3).reshape(3, 1, 3)
    pos, neg = view_pair_similarities(net, [((v1, v1.clone()), torch.zeros(3))])
    assert pos.tolist() == [1.0, 1.0, 1.0] and neg.tolist() == [0.0] * 6
