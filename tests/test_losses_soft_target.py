"""Soft-target InfoNCE: α = 0 is InfoNCE; loop references for both target sources."""

import loss_reference as ref
import pytest
import torch

from ssl_app.errors import ConfigError
from ssl_app.losses import InfoNCELoss, SoftTargetLoss


def _views(n: int = 6, d: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)


@pytest.mark.parametrize("source", ["uniform", "target"])
def test_alpha_zero_is_infonce(source):
    z1, z2 = _views()
    loss = SoftTargetLoss(temperature=0.2, alpha=0.0, source=source)(z1, z2, targets=_views(seed=1))
    assert loss.item() == pytest.approx(InfoNCELoss(temperature=0.2)(z1, z2).item(), rel=1e-6)


@pytest.mark.parametrize(("tau", "alpha"), [(0.1, 0.1), (0.5, 0.3), (1.0, 1.0)])
def test_uniform_source_matches_loop_reference(tau, alpha):
    z1, z2 = _views()
    loss = SoftTargetLoss(temperature=tau, alpha=alpha)(z1, z2)
    assert loss.item() == pytest.approx(ref.soft_target(z1, z2, tau, alpha), rel=1e-5)


def test_target_source_matches_loop_reference_and_blocks_gradient():
    z1, z2 = _views()
    t1, t2 = (t.requires_grad_() for t in _views(seed=1))
    loss_fn = SoftTargetLoss(temperature=0.2, alpha=0.4, source="target", target_temperature=0.5)
    loss = loss_fn(z1, z2, targets=(t1, t2))
    q = ref.target_q(t1.detach(), t2.detach(), 0.5)
    assert loss.item() == pytest.approx(ref.soft_target(z1, z2, 0.2, 0.4, q), rel=1e-5)
    assert not loss.requires_grad


def test_target_source_without_targets_is_refused():
    with pytest.raises(ConfigError, match="EMA"):
        SoftTargetLoss(alpha=0.1, source="target")(*_views())


@pytest.mark.parametrize("kwargs", [{"alpha": 1.5}, {"source": "ema"}, {"target_temperature": 0}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ConfigError):
        SoftTargetLoss(**kwargs)
