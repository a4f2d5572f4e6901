"""InfoNCE: loop reference, invariances, limiting cases, errors, learnable temperature."""

import math

import loss_reference as ref
import pytest
import torch

from ssl_app.errors import ConfigError
from ssl_app.losses import InfoNCELoss


def _views(n: int = 6, d: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)


@pytest.mark.parametrize("tau", [0.05, 0.1, 0.5, 2.0])
def test_matches_loop_reference(tau):
    z1, z2 = _views()
    loss = InfoNCELoss(temperature=tau)(z1.double(), z2.double())
    assert loss.item() == pytest.approx(ref.infonce(z1, z2, tau), rel=1e-6)


def test_invariant_to_rescaling_projections():
    z1, z2 = _views()
    loss = InfoNCELoss()
    assert loss(3.7 * z1, 0.2 * z2).item() == pytest.approx(loss(z1, z2).item(), rel=1e-5)


def test_aligned_positives_orthogonal_negatives_give_low_loss():
    z = torch.eye(8, dtype=torch.float64)[:4]
    low = InfoNCELoss(temperature=0.1)(z, z.clone())
    random = InfoNCELoss(temperature=0.1)(*_views(4, 8))
    assert low.item() == pytest.approx(math.log1p(6 * math.exp(-10)), rel=1e-3)
    assert low.item() < 1e-3 < random.item()


@pytest.mark.parametrize("tau", [0.0, -0.1])
def test_non_positive_temperature_is_refused(tau):
    with pytest.raises(ConfigError, match="temperature"):
        InfoNCELoss(temperature=tau)


def test_global_batch_of_one_is_refused():
    with pytest.raises(ConfigError, match="batch"):
        InfoNCELoss()(torch.randn(1, 4), torch.randn(1, 4))


def test_stats_report_mi_bound_and_counts():
    z1, z2 = _views(n=5)
    loss_fn = InfoNCELoss()
    loss, stats = loss_fn.with_stats(z1, z2)
    assert stats["num_negatives"].item() == 8
    assert stats["mi_bound"].item() == pytest.approx(math.log(9) - loss.item())


def test_learnable_temperature_clamps_scale_at_100_and_keeps_gradient():
    loss_fn = InfoNCELoss(temperature=0.1, learnable_temperature=True)
    with torch.no_grad():
        loss_fn.log_scale.fill_(math.log(1000.0))
    z1, z2 = _views()
    loss = loss_fn(z1, z2)
    assert loss_fn.temperature.item() == pytest.approx(0.01)
    assert loss.item() == pytest.approx(InfoNCELoss(temperature=0.01)(z1, z2).item(), rel=1e-5)
    loss.backward()
    assert loss_fn.log_scale.grad is not None and loss_fn.log_scale.grad.abs().item() > 0


def test_learnable_temperature_trains_and_starts_clamped():
    assert InfoNCELoss(0.001, learnable_temperature=True).temperature.item() == pytest.approx(0.01)
    loss_fn = InfoNCELoss(temperature=0.5, learnable_temperature=True)
    assert [n for n, _ in loss_fn.named_parameters()] == ["log_scale"]
    assert InfoNCELoss(temperature=0.5).state_dict() == {}
