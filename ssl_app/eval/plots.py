"""PNG figures for the report: training curves and similarity histograms, and the shared
figure helpers (the class-coloured figures are in `class_plots`).

matplotlib `Figure` objects render with the Agg canvas (no display, no global backend
switch); every figure has a title, axis labels and, where series share axes, a legend.
Constrained layout keeps legends placed outside the axes inside the figure.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

DPI = 110
MAX_SIDE_PX = 2400  # no figure side beyond this, whatever the number of classes


@dataclass(frozen=True)
class Panel:
    """One training-curve panel: its series are (metrics.csv column, legend) pairs."""

    title: str
    ylabel: str
    series: tuple[tuple[str, str], ...]
    x: str = "step"


LOG_K = "train/log_k"  # log of the candidates per row, derived from train/num_negatives
CURVES = (
    Panel("Training loss", "loss", (("train/loss", "{loss}"),)),
    Panel("Online kNN top-1 (validation)", "top-1", (("val/knn_top1", "learned"),), "epoch"),
    Panel(
        "Cosine similarity after the head",
        "cosine similarity of projections",
        (("train/pos_sim", "positive pairs"), ("train/neg_sim", "negative pairs")),
    ),
    Panel(
        "MI lower bound log K − L",
        "nats",
        (("train/mi_bound", "I ≥ log K − L"), (LOG_K, "log K (the bound's ceiling)")),
    ),
    Panel("Positive-pair accuracy", "accuracy", (("train/pos_acc", "positive ranked first"),)),
    Panel("Learning rate", "lr", (("lr", "lr"),)),
)
DASHED = {LOG_K}
REFERENCE_STYLES = {"random init": "tab:red", "raw pixels": "tab:gray"}


def read_metrics(path: str | Path) -> dict[str, np.ndarray]:
    """Columns of a Lightning metrics.csv as float arrays (NaN where a row lacks a value)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = rows[0].keys() if rows else []
    return {
        c: np.array([float(r[c]) if r[c] not in ("", None) else np.nan for r in rows])
        for c in columns
    }


def with_log_k(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`cols` plus log K, K = negatives + 1 candidates per row (the MI bound's ceiling)."""
    if "train/num_negatives" in cols:
        cols = {**cols, LOG_K: np.log(cols["train/num_negatives"] + 1)}
    return cols


def new_figure(
    rows: int, cols: int, width: float, height: float, **grid
) -> tuple[Figure, np.ndarray]:
    """A figure (inches; at most MAX_SIDE_PX a side when saved) with a grid of axes."""
    limit = MAX_SIDE_PX / DPI
    fig = Figure(figsize=(min(width, limit), min(height, limit)), layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False, gridspec_kw=grid or None)


def save_figure(fig: Figure, out: str | Path) -> Path:
    """`fig` as a PNG at `out` (parents created)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI)
    return out


def _draw_panel(ax: Axes, panel: Panel, cols: dict[str, np.ndarray], loss_name: str) -> None:
    x_col = panel.x if panel.x in cols else "step"
    for column, legend in panel.series:
        if column in cols:
            ok = np.isfinite(cols[column]) & np.isfinite(cols[x_col])
            ax.plot(
                cols[x_col][ok],
                cols[column][ok],
                linestyle="--" if column in DASHED else "-",
                marker="o" if ok.sum() < 30 else None,
                label=legend.format(loss=loss_name),
            )
    ax.set(title=panel.title, xlabel=x_col, ylabel=panel.ylabel)
    ax.grid(alpha=0.3)


def _draw_references(ax: Axes, references: Mapping[str, float]) -> None:
    """Horizontal lines of the baselines' kNN top-1 (test split, from the final table)."""
    for name, value in references.items():
        colour = REFERENCE_STYLES.get(name, "black")
        ax.axhline(value, color=colour, linestyle=":", label=f"{name} (test)")


def training_curves_figure(
    cols: dict[str, np.ndarray],
    loss_name: str = "contrastive loss",
    knn_references: Mapping[str, float] | None = None,
) -> Figure | None:
    """One panel per CURVES entry whose first series was logged; None when there is none.

    The loss is labelled `loss_name`; `knn_references` (e.g. random init, raw pixels) draw
    horizontal lines on the kNN panel."""
    cols = with_log_k(cols)
    logged = [
        p for p in CURVES if p.series[0][0] in cols and np.isfinite(cols[p.series[0][0]]).any()
    ]
    if not logged:
        return None
    rows = math.ceil(len(logged) / 3)
    fig, axes = new_figure(rows, 3, 13, 3.6 * rows)
    for ax, panel in zip(axes.flat, logged, strict=False):
        _draw_panel(ax, panel, cols, loss_name)
        if panel.series[0][0] == "val/knn_top1":
            _draw_references(ax, knn_references or {})
        ax.legend(loc="best", fontsize=8)
    for ax in list(axes.flat)[len(logged) :]:
        ax.axis("off")
    return fig


def plot_training_curves(
    metrics_csv: str | Path,
    out: str | Path,
    loss_name: str = "contrastive loss",
    knn_references: Mapping[str, float] | None = None,
) -> Path | None:
    """The training curves of a metrics.csv as a PNG; None when it logged none of them."""
    fig = training_curves_figure(read_metrics(metrics_csv), loss_name, knn_references)
    return None if fig is None else save_figure(fig, out)


def plot_similarity_histograms(pos: torch.Tensor, neg: torch.Tensor, out: str | Path) -> Path:
    """Histograms of the cosine similarity of backbone features (before the head; the training
    curves show it after the head) of positive pairs (two views) vs negative pairs."""
    fig, axes = new_figure(1, 1, 6.5, 4.2)
    ax = axes[0, 0]
    both = torch.cat([pos, neg])
    bins = np.linspace(both.min().item(), both.max().item() + 1e-6, 61)
    ax.hist(neg.numpy(), bins=bins, density=True, alpha=0.6, label=f"negative pairs (n={len(neg)})")
    ax.hist(pos.numpy(), bins=bins, density=True, alpha=0.6, label=f"positive pairs (n={len(pos)})")
    ax.set(
        title="Cosine similarity of backbone features (before the head)",
        xlabel="cosine similarity of backbone features",
        ylabel="density",
    )
    ax.legend(loc="upper left")
    return save_figure(fig, out)
