"""End-of-run evaluation: kNN and linear top-1 of the learned backbone next to the
same architecture at random init and raw pixels, so the gain is visible at a glance."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from ssl_app.eval.features import extract_features, raw_pixel_features
from ssl_app.eval.knn import knn_top1
from ssl_app.eval.linear import linear_probe

Features = tuple[torch.Tensor, torch.Tensor]


def score_features(train: Features, test: Features, eval_cfg: dict[str, Any]) -> dict[str, float]:
    """kNN (and, if enabled, linear-probe) top-1 in [0, 1] of one feature set."""
    k, temperature = eval_cfg["knn_k"], eval_cfg["knn_temperature"]
    scores = {"knn_top1": knn_top1(train[0], train[1], test[0], test[1], k, temperature)}
    if eval_cfg["linear"]:
        scores["linear_top1"] = linear_probe(*train, *test)["top1"]
    return scores


def evaluate_backbones(
    backbones: dict[str, nn.Module],
    loaders: tuple[DataLoader, DataLoader],
    eval_cfg: dict[str, Any],
    device: torch.device | None = None,
) -> dict[str, dict[str, float]]:
    """Test-split scores of each named backbone (features computed on `device`; the training
    split is the kNN bank and the probe's data), plus raw pixels when `eval_cfg["raw_pixels"]`."""
    train_loader, test_loader = loaders
    rows = {}
    for name, backbone in backbones.items():
        train = extract_features(backbone, train_loader, device)
        test = extract_features(backbone, test_loader, device)
        rows[name] = {"split": "test", **score_features(train, test, eval_cfg)}
    if eval_cfg["raw_pixels"]:
        raw = score_features(
            raw_pixel_features(train_loader), raw_pixel_features(test_loader), eval_cfg
        )
        rows["raw pixels"] = {"split": "test", **raw}
    return rows


def verdict(rows: dict[str, dict]) -> str | None:
    """One line when the learned features do not beat a baseline on some metric, else None."""
    learned = rows.get("learned", {})
    behind = [
        f"{baseline} on {metric.split('_')[0]} ({100 * row[metric]:.1f} vs {100 * value:.1f} %)"
        for metric, value in learned.items()
        if isinstance(value, float)
        for baseline, row in rows.items()
        if baseline != "learned" and isinstance(row.get(metric), float) and row[metric] > value
    ]
    return f"note: the learned features do not beat {'; '.join(behind)}" if behind else None
