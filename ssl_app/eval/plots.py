"""PNG figures for the report: training curves, embedding map, similarity histograms, confusion.

matplotlib `Figure` objects render with the Agg canvas (no display, no global backend
switch); every figure has a title, axis labels and, where series share axes, a legend.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

TSNE_MAX_POINTS = 5000
CURVES = (  # panel title, y label, [(column, legend)], x column
    ("Contrastive loss", "loss", [("train/loss", "InfoNCE")], "step"),
    ("Online kNN top-1", "accuracy", [("val/knn_top1", "kNN top-1")], "epoch"),
    (
        "Cosine similarity",
        "cosine",
        [("train/pos_sim", "positive"), ("train/neg_sim", "negative")],
        "step",
    ),
    ("MI lower bound log(K) − L", "nats", [("train/mi_bound", "I ≥ log K − L")], "step"),
    ("Positive-pair accuracy", "accuracy", [("train/pos_acc", "positive ranked first")], "step"),
    ("Learning rate", "lr", [("lr", "lr")], "step"),
)


def read_metrics(path: str | Path) -> dict[str, np.ndarray]:
    """Columns of a Lightning metrics.csv as float arrays (NaN where a row lacks a value)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = rows[0].keys() if rows else []
    return {
        c: np.array([float(r[c]) if r[c] not in ("", None) else np.nan for r in rows])
        for c in columns
    }


def _figure(rows: int, cols: int, width: float, height: float) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(width, height), layout="tight")
    return fig, fig.subplots(rows, cols, squeeze=False)


def _save(fig: Figure, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out


def plot_training_curves(metrics_csv: str | Path, out: str | Path) -> Path | None:
    """One panel per logged quantity of CURVES; None when the CSV has none of them."""
    cols = read_metrics(metrics_csv)
    panels = [p for p in CURVES if any(c in cols and np.isfinite(cols[c]).any() for c, _ in p[2])]
    if not panels:
        return None
    rows = math.ceil(len(panels) / 3)
    fig, axes = _figure(rows, 3, 13, 3.6 * rows)
    for ax, (title, ylabel, series, x_col) in zip(axes.flat, panels, strict=False):
        x_col = x_col if x_col in cols else "step"
        for column, legend in series:
            if column in cols:
                ok = np.isfinite(cols[column]) & np.isfinite(cols[x_col])
                ax.plot(
                    cols[x_col][ok],
                    cols[column][ok],
                    marker="o" if ok.sum() < 30 else None,
                    label=legend,
                )
        ax.set(title=title, xlabel=x_col, ylabel=ylabel)
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    return _save(fig, out)


def _scatter(ax: Axes, xy: np.ndarray, labels: np.ndarray, title: str) -> None:
    points = ax.scatter(
        xy[:, 0], xy[:, 1], c=labels, cmap="tab10" if labels.max() < 10 else "tab20", s=6, alpha=0.8
    )
    ax.set(title=title, xlabel="component 1", ylabel="component 2")
    ax.legend(
        *points.legend_elements(num=None), title="class", fontsize=7, loc="best", markerscale=0.8
    )


def plot_embedding(
    feats: torch.Tensor,
    labels: torch.Tensor,
    out: str | Path,
    seed: int = 0,
    tsne_max_points: int = TSNE_MAX_POINTS,
) -> Path:
    """2-D map of the embeddings coloured by class: PCA, plus t-SNE when few points (slow)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x, y = feats.numpy(), labels.numpy()
    maps = [("PCA of test embeddings", PCA(2, random_state=seed).fit_transform(x))]
    if len(x) <= tsne_max_points:
        tsne = TSNE(2, init="pca", perplexity=min(30.0, (len(x) - 1) / 3), random_state=seed)
        maps.append(("t-SNE of test embeddings", tsne.fit_transform(x)))
    fig, axes = _figure(1, len(maps), 6.5 * len(maps), 5.5)
    for ax, (title, xy) in zip(axes.flat, maps, strict=True):
        _scatter(ax, xy, y, title)
    return _save(fig, out)


def plot_similarity_histograms(pos: torch.Tensor, neg: torch.Tensor, out: str | Path) -> Path:
    """Histograms of cosine similarity of positive pairs (two views) vs negative pairs."""
    fig, axes = _figure(1, 1, 6.5, 4.2)
    ax = axes[0, 0]
    both = torch.cat([pos, neg])
    bins = np.linspace(both.min().item(), both.max().item() + 1e-6, 61)
    ax.hist(neg.numpy(), bins=bins, density=True, alpha=0.6, label=f"negative pairs (n={len(neg)})")
    ax.hist(pos.numpy(), bins=bins, density=True, alpha=0.6, label=f"positive pairs (n={len(pos)})")
    ax.set(
        title="Cosine similarity of backbone features", xlabel="cosine similarity", ylabel="density"
    )
    ax.legend(loc="upper left")
    return _save(fig, out)


def plot_confusion(cm: torch.Tensor, out: str | Path, title: str = "kNN confusion matrix") -> Path:
    """Row-normalised confusion matrix (true class down, predicted class across)."""
    counts = cm.double()
    rates = (counts / counts.sum(1, keepdim=True).clamp_min(1)).numpy()
    n = len(rates)
    fig, axes = _figure(1, 1, max(4.5, 0.45 * n + 2), max(4, 0.45 * n + 1.5))
    ax = axes[0, 0]
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="fraction of true class")
    if n <= 20:
        for i, j in np.ndindex(n, n):
            ax.text(
                j,
                i,
                f"{rates[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=6,
                color="white" if rates[i, j] > 0.5 else "black",
            )
    ax.set(title=title, xlabel="predicted class", ylabel="true class")
    return _save(fig, out)
