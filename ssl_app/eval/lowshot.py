"""Low-shot evaluation: kNN and linear probe with 1 % / 10 % of the training labels.

Subsets are class-balanced and drawn with fixed seeds; results are mean ± std over draws.
"""

from __future__ import annotations

import numpy as np
import torch

from ssl_app.eval.features import Features
from ssl_app.eval.knn import knn_top1
from ssl_app.eval.linear import linear_probe
from ssl_app.progress import bar

FRACTIONS = (0.01, 0.1)
SEEDS = (0, 1, 2)


def balanced_subset(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Sorted indices holding round(fraction × n_c) (at least 1) images of every class c."""
    rng = np.random.default_rng(seed)
    y = labels.numpy()
    picks = [
        rng.choice(members, max(1, round(fraction * len(members))), replace=False)
        for members in (np.flatnonzero(y == c) for c in np.unique(y))
    ]
    return torch.from_numpy(np.sort(np.concatenate(picks)))


def _scores(train_x, train_y, test_x, test_y, k, temperature, linear, seed) -> dict[str, float]:
    scores = {
        "knn_top1": knn_top1(train_x, train_y, test_x, test_y, min(k, len(train_x)), temperature)
    }
    if linear:
        scores["linear_top1"] = linear_probe(train_x, train_y, test_x, test_y, seed)["top1"]
    return scores


def lowshot_eval(
    train: Features,
    test: Features,
    fractions: tuple[float, ...] = FRACTIONS,
    seeds: tuple[int, ...] = SEEDS,
    k: int = 200,
    temperature: float = 0.1,
    linear: bool = True,
) -> dict[str, dict[str, float]]:
    """Rows "<p>% labels" with mean and std (over seeds) of kNN and linear top-1 (0..1)."""
    rows = {}
    for fraction in fractions:
        draws = []
        with bar(f"low-shot {100 * fraction:g}% labels (draws)", len(seeds)) as advance:
            for seed in seeds:
                idx = balanced_subset(train[1], fraction, seed)
                subset = (train[0][idx], train[1][idx])
                draws.append(_scores(*subset, *test, k, temperature, linear, seed))
                advance()
        row = {}
        for key in draws[0]:
            values = np.array([d[key] for d in draws])
            row[key], row[f"{key}_std"] = float(values.mean()), float(values.std())
        rows[f"{100 * fraction:g}% labels"] = row
    return rows
