"""Gradient-noise estimator against the closed form of a linear model with Gaussian data."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from ssl_app.train.grad_variance import gradient_noise

DIM, NOISE_STD = 6, 0.5


def linear_case(batch: int, draws: int, seed: int = 0):
    """Squared loss ½(w·x − y)², x ~ N(0, I), y = w*·x + ε, ε ~ N(0, σ²), at w = w* + δ.

    Per-example gradient g = (δ·x − ε) x, so E g = δ and (Isserlis) Σ = (|δ|² + σ²) I + δδᵀ:
    tr Σ = d (|δ|² + σ²) + |δ|², and the mean of B examples has trace tr Σ / B."""
    gen = torch.Generator().manual_seed(seed)
    model = nn.Linear(DIM, 1, bias=False).double()
    with torch.no_grad():
        model.weight.copy_(torch.randn(1, DIM, generator=gen, dtype=torch.float64))
    true_w = torch.randn(DIM, generator=gen, dtype=torch.float64)
    delta = model.weight.detach()[0] - true_w
    batches = []
    for _ in range(draws):
        x = torch.randn(batch, DIM, generator=gen, dtype=torch.float64)
        y = x @ true_w + NOISE_STD * torch.randn(batch, generator=gen, dtype=torch.float64)
        batches.append((x, y))

    def loss_of(b):
        x, y = b
        return 0.5 * (model(x)[:, 0] - y).square().mean()

    d2 = delta.square().sum().item()
    per_example_trace = DIM * (d2 + NOISE_STD**2) + d2
    return model, loss_of, batches, per_example_trace, d2


@pytest.mark.parametrize("batch", [1, 8, 64])
def test_trace_is_the_per_example_trace_over_the_batch_size(batch):
    model, loss_of, batches, per_example, d2 = linear_case(batch, draws=4000)
    noise = gradient_noise(model, loss_of, batches)
    assert noise.draws == 4000
    assert noise.trace == pytest.approx(per_example / batch, rel=0.08)
    assert noise.mean_sq_norm == pytest.approx(d2, rel=0.05, abs=3 * per_example / batch / 4000)


def test_weights_and_batchnorm_statistics_are_left_as_they_were():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches = [torch.randn(8, 3) for _ in range(3)]
    noise = gradient_noise(model, lambda x: model(x).square().mean(), batches)
    assert noise.trace > 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="at least 2"):
        gradient_noise(model, lambda x: model(x).sum(), batches[:1])
