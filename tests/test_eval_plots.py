"""Each figure is written with non-trivial content; report.md links them with the table.

The class figures are read as matplotlib Figures at 10 and 1,000 classes: bounded pixel
size, legend entries, legends inside the figure, no per-cell text on a large confusion."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.image import imread

from ssl_app.eval.class_plots import (
    BARS_MAX,
    TOP_CLASSES,
    confusion_figure,
    embedding_figure,
    plot_confusion,
    plot_embedding,
)
from ssl_app.eval.features import view_pair_similarities
from ssl_app.eval.figures import knn_references, run_loss_name
from ssl_app.eval.metrics import confusion_matrix
from ssl_app.eval.plots import (
    DPI,
    MAX_SIDE_PX,
    plot_similarity_histograms,
    plot_training_curves,
    read_metrics,
    training_curves_figure,
)
from ssl_app.eval.report import write_report

HEADER = "step,epoch,train/loss,train/pos_sim,train/neg_sim,train/mi_bound,train/pos_acc,lr"
METRICS = f"""{HEADER},train/num_negatives,val/knn_top1
0,0,5.0,0.5,0.1,0.2,0.1,0.01,255,
1,0,4.0,0.6,0.05,1.0,0.3,0.02,255,
1,0,,,,,,,,0.4
2,1,3.0,0.7,0.0,2.0,0.6,0.015,255,
3,1,,,,,,,,0.6
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


def legend_labels(fig) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()] + [
        t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()
    ]


def test_curves_name_the_loss_and_draw_log_k_and_the_baselines(tmp_path):
    csv = tmp_path / "metrics.csv"
    csv.write_text(METRICS)
    references = {"random init": 0.25, "raw pixels": 0.5}
    fig = training_curves_figure(read_metrics(csv), "loss=debiased", references)
    panels = {ax.get_title(): ax for ax in fig.axes}
    loss_legend = [t.get_text() for t in panels["Training loss"].get_legend().get_texts()]
    assert loss_legend == ["loss=debiased"]
    mi_lines = {line.get_label(): line for line in panels["MI lower bound log K − L"].lines}
    ceiling = mi_lines["log K (the bound's ceiling)"].get_ydata()
    assert np.allclose(ceiling, math.log(256)) and mi_lines["I ≥ log K − L"].get_linestyle() == "-"
    knn = {line.get_label(): line for line in panels["Online kNN top-1 (validation)"].lines}
    assert knn["random init (test)"].get_ydata()[0] == 0.25
    assert knn["raw pixels (test)"].get_ydata()[0] == 0.5
    assert "Cosine similarity after the head" in panels


def test_curve_inputs_come_from_the_run_directory(tmp_path):
    assert run_loss_name(tmp_path) == "contrastive loss"
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("loss:\n  name: hard_negative\n")
    assert run_loss_name(tmp_path) == "loss=hard_negative"
    final = {"random init": {"knn_top1": 0.3}, "raw pixels": {"knn_top1": 0.6}}
    other = {"random init": {"knn_top1": 0.1}}
    stored = {"digits": {"rows": final, "knn_sweep": {}}, "fashion_mnist": {"rows": other}}
    (tmp_path / "results.json").write_text(json.dumps(stored))  # eval.json's schema
    rows = {"learned": {"knn_top1": 0.9}, "raw pixels": {"knn_top1": 0.7}}
    assert knn_references(tmp_path, "digits", rows) == {"random init": 0.3, "raw pixels": 0.7}
    assert knn_references(tmp_path, "fashion_mnist", {}) == {"random init": 0.1}
    assert knn_references(tmp_path, "cifar10", {}) == {}
    (tmp_path / "results.json").write_text("{not json")
    assert knn_references(tmp_path, "digits", {}) == {}


def synthetic_classes(num_classes: int, per_class: int):
    """Labels, 2-D points near a centre per class, predictions with class 1 always wrong."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    centres = torch.randn(num_classes, 2, generator=g)
    xy = (centres[labels] + 0.05 * torch.randn(len(labels), 2, generator=g)).numpy()
    pred = torch.where(
        torch.rand(len(labels), generator=g) < 0.8, labels, (labels + 2) % num_classes
    )
    pred[labels == 1] = 0
    return labels, xy, pred


def drawn(fig):
    """`fig` laid out and drawn; returns (width, height) in pixels at the saving resolution."""
    fig.set_dpi(DPI)
    FigureCanvasAgg(fig).draw()
    return fig.bbox.width, fig.bbox.height


@pytest.mark.parametrize(("num_classes", "entries"), [(10, 10), (1000, TOP_CLASSES + 1)])
def test_embedding_legend_scales_and_stays_inside(num_classes, entries, tmp_path):
    labels, xy, _ = synthetic_classes(num_classes, 3)
    names = [f"class number {i}" for i in range(num_classes)]
    fig = embedding_figure([("PCA", xy), ("t-SNE", xy)], labels.numpy(), names)
    width, height = drawn(fig)
    assert max(width, height) <= MAX_SIDE_PX
    (legend,) = fig.legends
    assert len(legend.get_texts()) == entries
    assert legend_labels(fig)[0].startswith("class number 0")
    box = legend.get_window_extent()
    assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height
    if num_classes > 10:
        assert legend_labels(fig)[-1] == f"{num_classes - TOP_CLASSES} other classes"


@pytest.mark.parametrize("num_classes", [10, 1000])
def test_confusion_is_bounded_and_drops_cell_text_at_many_classes(num_classes, tmp_path):
    labels, _, pred = synthetic_classes(num_classes, 4)
    names = [f"c{i}" for i in range(num_classes)]
    fig = confusion_figure(confusion_matrix(pred, labels, num_classes), names)
    heat, bars, *_ = fig.axes
    width, height = drawn(fig)
    assert max(width, height) <= MAX_SIDE_PX
    shown = [t.get_text() for t in bars.get_yticklabels()]
    assert len(shown) == min(num_classes, BARS_MAX) and shown[0] == "c1"  # the worst first
    widths = [patch.get_width() for patch in bars.patches]
    assert widths == sorted(widths) and widths[0] == 0
    if num_classes <= 30:
        assert len(heat.texts) > num_classes  # the diagonal and the confusions
        assert [t.get_text() for t in heat.get_xticklabels()] == names
    else:
        assert len(heat.texts) == 0 and "index" in heat.get_xlabel()
    out = plot_confusion(confusion_matrix(pred, labels, num_classes), tmp_path / "cm.png")
    assert imread(out).shape[:2] == (round(height), round(width))
