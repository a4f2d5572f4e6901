"""Two-tower CLIP loss: loop reference, symmetry, learnable scale clamped at 100."""

import math

import loss_reference as ref
import pytest
import torch

from ssl_app.losses import CLIPLoss


def _views(n: int = 6, d: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)


@pytest.mark.parametrize("tau", [0.07, 0.5])
def test_matches_loop_reference(tau):
    z1, z2 = _views()
    loss = CLIPLoss(temperature=tau, learnable_temperature=False)(z1, z2)
    assert loss.item() == pytest.approx(ref.clip(z1, z2, tau), rel=1e-5)


def test_symmetric_in_the_two_towers():
    z1, z2 = _views()
    loss_fn = CLIPLoss()
    assert loss_fn(z1, z2).item() == pytest.approx(loss_fn(z2, z1).item(), rel=1e-6)


def test_counts_only_the_other_tower_as_candidates():
    loss_fn = CLIPLoss()
    loss, stats = loss_fn.with_stats(*_views(n=5))
    assert stats["num_negatives"].item() == 4
    assert stats["mi_bound"].item() == pytest.approx(math.log(5) - loss.item(), rel=1e-6)


def test_logit_scale_is_learnable_and_clamps_at_100():
    loss_fn = CLIPLoss()
    assert loss_fn.temperature.item() == pytest.approx(0.07)
    opt = torch.optim.Adam(loss_fn.parameters(), lr=1.0)
    z = torch.eye(6)
    for _ in range(5):  # aligned pairs: the loss always wants a larger scale
        opt.zero_grad()
        loss_fn(z, z.clone()).backward()
        opt.step()
    loss_fn(z, z.clone())
    assert loss_fn.temperature.item() == pytest.approx(0.01)
    assert loss_fn.log_scale.item() == pytest.approx(math.log(100.0))
