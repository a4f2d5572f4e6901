"""The figures of `ssl-eval` and the `report.md` that shows them beside the result table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ssl_app.errors import DataError
from ssl_app.eval.class_plots import plot_confusion, plot_embedding
from ssl_app.eval.features import Features, view_pair_similarities
from ssl_app.eval.plots import plot_similarity_histograms, plot_training_curves
from ssl_app.eval.report import write_report

SIMILARITY_BATCHES = 2
BASELINES = ("random init", "raw pixels")


def _metrics_csv(run_dir: Path) -> Path | None:
    found = sorted(run_dir.rglob("metrics.csv"))
    return found[-1] if found else None


def run_loss_name(run_dir: Path) -> str:
    """The run's loss as configured (`loss=<name>` from .hydra/config.yaml), for the legend."""
    config = run_dir / ".hydra" / "config.yaml"
    name = OmegaConf.select(OmegaConf.load(config), "loss.name") if config.is_file() else None
    return f"loss={name}" if isinstance(name, str) else "contrastive loss"


def stored_rows(path: Path, data_name: str) -> dict[str, dict]:
    """The rows of `data_name` in a results file (eval.json's schema); {} if none or unreadable."""
    try:
        stored = json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError:
        return {}
    section = stored.get(data_name) if isinstance(stored, dict) else None
    rows = section.get("rows") if isinstance(section, dict) else None
    return rows if isinstance(rows, dict) else {}


def knn_references(run_dir: Path, data_name: str, rows: dict[str, dict]) -> dict[str, float]:
    """kNN top-1 on test of the baselines on `data_name`: eval.json's rows, else the run's
    results.json."""
    final = stored_rows(run_dir / "results.json", data_name)
    found = {name: rows.get(name) or final.get(name) for name in BASELINES}
    return {
        name: float(row["knn_top1"])
        for name, row in found.items()
        if isinstance(row, dict) and isinstance(row.get("knn_top1"), int | float)
    }


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
    test: Features,
    results,
    section: dict[str, Any],
    cfg: DictConfig,
) -> Path:
    """PNGs in the output directory and `report.md` linking them; returns the report path."""
    out = source.out_dir
    figures: dict[str, Path | None] = {}
    metrics = _metrics_csv(out)
    names = datamodule.info.label_names()
    if metrics is not None:
        figures["Training curves"] = plot_training_curves(
            metrics,
            out / "training_curves.png",
            run_loss_name(out),
            knn_references(out, datamodule.name, section["rows"]),
        )
    embedding = plot_embedding(
        *test, out / "embedding.png", cfg.seed, cfg.tsne_max_points, class_names=names
    )
    figures["Test embeddings"] = embedding
    figures["Positive vs negative similarity"] = _similarities(
        source.backbone, datamodule, cfg.device, out / "similarity.png"
    )
    if results.confusion is not None:
        figures["kNN confusion matrix"] = plot_confusion(
            results.confusion, out / "confusion.png", class_names=names
        )
    shown = {caption: path for caption, path in figures.items() if path is not None}
    return write_report(out, section["rows"], shown, f"Evaluation on {datamodule.name}")
