"""Linear probe on frozen features: multinomial logistic regression (scikit-learn L-BFGS).

The regularisation strength C is picked on a held-out part of the training features and
the probe is then refitted on all of them, so the test split never steers a choice.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from ssl_app.errors import DataError
from ssl_app.eval.knn import check_labels
from ssl_app.progress import track

C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)
HELD_OUT = 0.2
MIN_PER_CLASS = 5  # fewer labelled images per class: no held-out choice, the grid's middle C


def _numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _probe(c: float, seed: int, max_iter: int) -> Pipeline:
    logreg = LogisticRegression(C=c, solver="lbfgs", max_iter=max_iter, random_state=seed)
    return make_pipeline(StandardScaler(), logreg)


def _fit(c: float, x: np.ndarray, y: np.ndarray, seed: int, max_iter: int) -> Pipeline:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return _probe(c, seed, max_iter).fit(x, y)


def _choose_c(x: np.ndarray, y: np.ndarray, grid: tuple, seed: int, max_iter: int) -> float:
    """The C of `grid` with the best accuracy on a stratified held-out part of (x, y)."""
    _, counts = np.unique(y, return_counts=True)
    if len(grid) == 1 or counts.min() < MIN_PER_CLASS:
        return float(grid[len(grid) // 2])
    xa, xb, ya, yb = train_test_split(x, y, test_size=HELD_OUT, random_state=seed, stratify=y)
    scores = [
        _fit(c, xa, ya, seed, max_iter).score(xb, yb)
        for c in track(grid, "linear probe (L-BFGS): C grid")
    ]
    return float(grid[int(np.argmax(scores))])


def fit_probe(
    train_x: torch.Tensor | np.ndarray,
    train_y: torch.Tensor | np.ndarray,
    seed: int = 0,
    c_grid: tuple[float, ...] = C_GRID,
    max_iter: int = 1000,
) -> tuple[Pipeline, float]:
    """Fitted probe (scaler + logistic regression) and the chosen C."""
    x, y = _numpy(train_x).astype(np.float32), _numpy(train_y).astype(np.int64)
    check_labels(torch.as_tensor(y), "training")
    if len(np.unique(y)) < 2:
        raise DataError("the linear probe needs at least 2 classes in the training split")
    c = _choose_c(x, y, tuple(c_grid), seed, max_iter)
    return _fit(c, x, y, seed, max_iter), c


def topk_accuracy(probs: np.ndarray, classes: np.ndarray, y: np.ndarray, k: int) -> float:
    """Fraction of rows whose label is among the k most probable classes."""
    top = classes[np.argsort(-probs, axis=1, kind="stable")[:, :k]]
    return float((top == y[:, None]).any(axis=1).mean())


def linear_probe(
    train_x: torch.Tensor | np.ndarray,
    train_y: torch.Tensor | np.ndarray,
    test_x: torch.Tensor | np.ndarray,
    test_y: torch.Tensor | np.ndarray,
    seed: int = 0,
    c_grid: tuple[float, ...] = C_GRID,
) -> dict[str, float]:
    """Top-1 / top-5 test accuracy (0..1) of a logistic-regression probe, and its C."""
    model, c = fit_probe(train_x, train_y, seed, c_grid)
    x, y = _numpy(test_x).astype(np.float32), _numpy(test_y).astype(np.int64)
    check_labels(torch.as_tensor(y), "test")
    probs = model.predict_proba(x)
    classes = model.classes_
    return {
        "top1": topk_accuracy(probs, classes, y, 1),
        "top5": topk_accuracy(probs, classes, y, 5),
        "C": c,
    }
