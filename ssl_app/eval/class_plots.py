"""Figures coloured or indexed by class that stay readable from 10 to 1,000 classes.

Up to LEGEND_MAX classes each has its own colour and legend entry; beyond, the TOP_CLASSES
most frequent get colours and entries and the rest share one grey, so no legend outgrows its
figure. The confusion matrix loses its per-cell text and class-name ticks above CELL_TEXT_MAX
classes and comes with a per-class accuracy bar chart naming the worst classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import Normalize, PowerNorm, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ssl_app.eval.plots import new_figure, save_figure

LEGEND_MAX = 20  # classes that each get a colour and a legend entry
TOP_CLASSES = 10  # above LEGEND_MAX: the most frequent classes that keep a colour
CELL_TEXT_MAX = 30  # confusion matrices up to this size show values and class names
BARS_MAX = 30  # classes in the per-class accuracy chart (the worst, when there are more)
NAME_CHARS = 18  # longer class names are shortened in legends and ticks
HEAT_MAX_INCHES = 9.0  # confusion heat map side: 1,000 px at the report's resolution
OTHER = to_rgba("lightgrey")


@dataclass(frozen=True)
class ClassColours:
    """An RGBA colour per class and the legend entries (label, colour), in legend order."""

    colours: np.ndarray
    legend: list[tuple[str, tuple]]


def short(name: str) -> str:
    """`name` cut to NAME_CHARS characters (an ellipsis marks the cut)."""
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"


def names_for(num_classes: int, names: Sequence[str] | None) -> list[str]:
    """The given class names when there is one per class, else the class indices."""
    if names is not None and len(names) >= num_classes:
        return [short(n) for n in names[:num_classes]]
    return [str(i) for i in range(num_classes)]


def class_colours(labels: np.ndarray, names: Sequence[str]) -> ClassColours:
    """A categorical palette up to LEGEND_MAX classes; above, the TOP_CLASSES most frequent in
    `labels` coloured and the rest grey, with one legend entry for all of those."""
    n = len(names)
    counts = np.bincount(labels, minlength=n)
    if n <= LEGEND_MAX:
        colours = colormaps["tab10" if n <= 10 else "tab20"](np.arange(n))
        return ClassColours(colours, [(names[c], colours[c]) for c in range(n)])
    top = np.argsort(-counts, kind="stable")[:TOP_CLASSES]
    colours = np.tile(OTHER, (n, 1))
    colours[top] = colormaps["tab10"](np.arange(len(top)))
    legend = [(f"{names[c]} (n={counts[c]})", colours[c]) for c in top]
    legend.append((f"{n - len(top)} other classes", OTHER))
    return ClassColours(colours, legend)


def legend_handles(palette: ClassColours) -> list[Line2D]:
    """One round marker per legend entry of `palette`."""
    return [
        Line2D([], [], marker="o", linestyle="", color=colour, label=label)
        for label, colour in palette.legend
    ]


def _scatter(ax: Axes, xy: np.ndarray, labels: np.ndarray, palette: ClassColours, title: str):
    """Points coloured by class; grey ("other") points small and beneath the coloured ones."""
    named = (palette.colours[labels] != OTHER).any(1)
    many = len(xy) > 2000 or not named.all()
    for keep, size in ((~named, 2), (named, 8 if many else 6)):
        points = xy[keep]
        ax.scatter(*points.T, c=palette.colours[labels[keep]], s=size, alpha=0.8, linewidths=0)
    ax.set(title=title, xlabel="component 1", ylabel="component 2")


def embedding_figure(
    maps: Sequence[tuple[str, np.ndarray]], labels: np.ndarray, names: Sequence[str] | None
) -> Figure:
    """One scatter per (title, (N, 2) map) sharing one class legend right of the panels."""
    labels = np.asarray(labels)
    names = names_for(int(labels.max()) + 1, names)
    palette = class_colours(labels, names)
    fig, axes = new_figure(1, len(maps), 6.0 * len(maps) + 2.0, 5.5)
    for ax, (title, xy) in zip(axes.flat, maps, strict=True):
        _scatter(ax, xy, labels, palette, title)
    fig.legend(
        handles=legend_handles(palette), title="class", loc="outside right upper", fontsize=8
    )
    return fig


def plot_embedding(
    feats: torch.Tensor,
    labels: torch.Tensor,
    out: str | Path,
    seed: int = 0,
    tsne_max_points: int = 5000,
    class_names: Sequence[str] | None = None,
) -> Path:
    """2-D map of the embeddings coloured by class: PCA, plus t-SNE when few points (slow)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x = feats.numpy()
    maps = [("PCA of test embeddings", PCA(2, random_state=seed).fit_transform(x))]
    if len(x) <= tsne_max_points:
        tsne = TSNE(2, init="pca", perplexity=min(30.0, (len(x) - 1) / 3), random_state=seed)
        maps.append(("t-SNE of test embeddings", tsne.fit_transform(x)))
    return save_figure(embedding_figure(maps, labels.numpy(), class_names), out)


def _heat_map(fig: Figure, ax: Axes, percent: np.ndarray, names: list[str]) -> None:
    """Row-normalised confusion as colour; values and class names only when they fit."""
    n = len(percent)
    few = n <= CELL_TEXT_MAX
    norm = Normalize(0, 100) if few else PowerNorm(0.5, 0, 100)  # faint confusions stay visible
    image = ax.imshow(percent, cmap="Blues", norm=norm, interpolation="antialiased")
    scale = "" if few else " (square-root scale)"
    fig.colorbar(image, ax=ax, label=f"% of the true class{scale}", shrink=0.8)
    if few:
        ax.set_xticks(range(n), names, rotation=90, fontsize=7)
        ax.set_yticks(range(n), names, fontsize=7)
        for i, j in zip(*np.nonzero(percent.round() > 0), strict=True):
            colour = "white" if percent[i, j] > 50 else "black"
            text = f"{percent[i, j]:.0f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=6, color=colour)
    index = "" if few else " (index)"
    ax.set(xlabel=f"predicted class{index}", ylabel=f"true class{index}")


def _accuracy_bars(ax: Axes, percent: np.ndarray, names: list[str], present: np.ndarray) -> None:
    """Per-class accuracy (recall) sorted worst first; the BARS_MAX worst when there are more."""
    classes = np.flatnonzero(present)
    accuracy = percent.diagonal()[classes]
    order = np.argsort(accuracy, kind="stable")[:BARS_MAX]
    shown = "all" if len(classes) <= BARS_MAX else f"the {len(order)} worst of"
    bars = ax.barh(range(len(order)), accuracy[order], color="tab:blue")
    ax.bar_label(bars, fmt="%.0f", fontsize=7, padding=2)
    ax.set_yticks(range(len(order)), [names[c] for c in classes[order]], fontsize=7)
    ax.invert_yaxis()
    mean = accuracy.mean()
    label = f"mean of all classes ({mean:.1f} %)"
    ax.axvline(mean, color="grey", linestyle="--", zorder=0.5, label=label)
    ax.set(xlim=(0, 100), xlabel="accuracy (% of the class)")
    ax.set_title(f"Per-class accuracy: {shown} {len(classes):,} classes", fontsize=10)
    ax.legend(loc="lower right", fontsize=7)


def confusion_figure(
    cm: torch.Tensor, names: Sequence[str] | None = None, title: str = "kNN confusion matrix"
) -> Figure:
    """Row-normalised confusion matrix (true class down, predicted across) beside per-class
    accuracy; bounded in size whatever the number of classes."""
    counts = cm.double()
    present = (counts.sum(1) > 0).numpy()
    percent = (100 * counts / counts.sum(1, keepdim=True).clamp_min(1)).numpy()
    names = names_for(len(percent), names)
    side = min(max(4.0, 0.3 * len(percent) + 2.5), HEAT_MAX_INCHES)
    fig, axes = new_figure(1, 2, side + 5.5, max(side, 5.0), width_ratios=[side, 4.5])
    _heat_map(fig, axes[0, 0], percent, names)
    axes[0, 0].set_title(title)
    _accuracy_bars(axes[0, 1], percent, names, present)
    return fig


def plot_confusion(
    cm: torch.Tensor,
    out: str | Path,
    title: str = "kNN confusion matrix",
    class_names: Sequence[str] | None = None,
) -> Path:
    """The confusion figure as a PNG at `out`."""
    return save_figure(confusion_figure(cm, class_names, title), out)
