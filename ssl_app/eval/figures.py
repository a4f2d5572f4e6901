"""The figures of `ssl-eval` and the `report.md` that shows them beside the result table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from ssl_app.errors import DataError
from ssl_app.eval.features import view_pair_similarities
from ssl_app.eval.plots import (
    plot_confusion,
    plot_embedding,
    plot_similarity_histograms,
    plot_training_curves,
)
from ssl_app.eval.report import write_report

SIMILARITY_BATCHES = 2


def _metrics_csv(run_dir: Path) -> Path | None:
    found = sorted(run_dir.rglob("metrics.csv"))
    return found[-1] if found else None


def _similarities(backbone, datamodule, device: str, out: Path) -> Path | None:
    """Histogram of positive (two views) vs negative pair similarities, if batches can be built."""
    try:
        loader = datamodule.view_pair_batches()
    except DataError:
        return None
    pos, neg = view_pair_similarities(backbone, loader, device, SIMILARITY_BATCHES)
    return plot_similarity_histograms(pos, neg, out)


def write_figures(
    source,
    datamodule,
    test: tuple[torch.Tensor, torch.Tensor],
    results,
    section: dict[str, Any],
    cfg: DictConfig,
) -> Path:
    """PNGs in the output directory and `report.md` linking them; returns the report path."""
    out = source.out_dir
    figures: dict[str, Path | None] = {}
    metrics = _metrics_csv(out)
    if metrics is not None:
        figures["Training curves"] = plot_training_curves(metrics, out / "training_curves.png")
    embedding = plot_embedding(*test, out / "embedding.png", cfg.seed, cfg.tsne_max_points)
    figures["Test embeddings"] = embedding
    figures["Positive vs negative similarity"] = _similarities(
        source.backbone, datamodule, cfg.device, out / "similarity.png"
    )
    if results.confusion is not None:
        figures["kNN confusion matrix"] = plot_confusion(results.confusion, out / "confusion.png")
    shown = {caption: path for caption, path in figures.items() if path is not None}
    return write_report(out, section["rows"], shown, f"Evaluation on {datamodule.name}")
