"""The noise of the stochastic gradient at fixed weights: the trace of its covariance over
repeated mini-batch draws, the quantity that sets what a larger batch buys (McCandlish et al.
2018, "An empirical model of large-batch training").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn


@dataclass(frozen=True)
class GradientNoise:
    """`trace`: Σ over parameters of the variance of the mini-batch gradient across draws;
    `mean_sq_norm`: |mean gradient|²; `draws`: how many mini-batches were drawn."""

    trace: float
    mean_sq_norm: float
    draws: int


def gradient_noise(
    module: nn.Module, loss_of: Callable[[Any], torch.Tensor], batches: Iterable[Any]
) -> GradientNoise:
    """Per-batch gradient variance of `loss_of(batch)` w.r.t. `module`'s trainable parameters
    over `batches` (R ≥ 2 draws, unbiased), at fixed weights.

    This is the variance of the gradient estimate one optimiser step sees, tr Cov(ĝ_B), not a
    per-example one: for a loss that is a mean of independent per-example terms,
    tr Cov(ĝ_B) = tr Σ / B (Σ = per-example gradient covariance; drawing B of a fixed set of N
    without replacement multiplies by (N − B)/(N − 1)). InfoNCE couples the rows of a batch
    through its negatives, so for it B · trace is only roughly constant: that is measured.
    Weights are untouched and buffers (BatchNorm statistics) are restored afterwards.
    """
    params = [p for p in module.parameters() if p.requires_grad]
    buffers = [(buffer, buffer.clone()) for buffer in module.buffers()]
    total = squares = None
    draws = 0
    try:
        for batch in batches:
            grads = torch.autograd.grad(loss_of(batch), params, allow_unused=True)
            flat = torch.cat([_flat(g, p) for g, p in zip(grads, params, strict=True)])
            total = flat if total is None else total + flat
            squares = flat.square() if squares is None else squares + flat.square()
            draws += 1
    finally:
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)
    if draws < 2:
        raise ValueError(f"gradient_noise needs at least 2 mini-batches, got {draws}")
    mean = total / draws
    variance = (squares - draws * mean.square()) / (draws - 1)
    return GradientNoise(variance.sum().item(), mean.square().sum().item(), draws)


def _flat(grad: torch.Tensor | None, param: torch.Tensor) -> torch.Tensor:
    """The gradient as a float64 vector (zeros for a parameter the loss does not use)."""
    return (torch.zeros_like(param) if grad is None else grad).reshape(-1).double()
