"""Debiased and hard-negative losses: neutral reductions, loop references, the clamp."""

import math

import loss_reference as ref
import pytest
import torch

from ssl_app.errors import ConfigError
from ssl_app.losses import DebiasedLoss, HardNegativeLoss, InfoNCELoss


def _views(n: int = 6, d: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)


@pytest.mark.parametrize("cls", [DebiasedLoss, HardNegativeLoss])
def test_neutral_setting_is_infonce(cls):
    z1, z2 = _views()
    kwargs = {"tau_plus": 0.0} | ({"beta": 0.0} if cls is HardNegativeLoss else {})
    loss = cls(temperature=0.2, **kwargs)(z1, z2)
    assert loss.item() == pytest.approx(InfoNCELoss(temperature=0.2)(z1, z2).item(), rel=1e-6)


@pytest.mark.parametrize(("tau", "tau_plus"), [(0.1, 0.05), (0.5, 0.1), (1.0, 0.2)])
def test_debiased_matches_loop_reference(tau, tau_plus):
    z1, z2 = _views()
    loss = DebiasedLoss(temperature=tau, tau_plus=tau_plus)(z1, z2)
    assert loss.item() == pytest.approx(ref.debiased(z1, z2, tau, tau_plus), rel=1e-5)


@pytest.mark.parametrize(("tau", "beta", "tau_plus"), [(0.1, 1.0, 0.0), (0.5, 0.5, 0.1)])
def test_hard_negative_matches_loop_reference(tau, beta, tau_plus):
    z1, z2 = _views()
    loss = HardNegativeLoss(temperature=tau, beta=beta, tau_plus=tau_plus)(z1, z2)
    assert loss.item() == pytest.approx(ref.debiased(z1, z2, tau, tau_plus, beta), rel=1e-5)


def test_hard_negative_at_beta_zero_is_debiased():
    z1, z2 = _views()
    hard = HardNegativeLoss(temperature=0.3, beta=0.0, tau_plus=0.1)(z1, z2)
    assert hard.item() == pytest.approx(DebiasedLoss(0.3, tau_plus=0.1)(z1, z2).item(), rel=1e-6)


def test_debiased_negative_term_clamps_at_its_minimum():
    # Aligned positives, orthogonal negatives: Σneg = M < τ⁺·M·e^{1/τ}, so the debiased
    # estimate is negative and N_g must be clamped at M·e^{−1/τ}.
    z = torch.eye(8)[:4]
    tau, tau_plus, m = 0.5, 0.5, 6
    loss = DebiasedLoss(temperature=tau, tau_plus=tau_plus)(z, z.clone())
    pos = math.exp(1 / tau)
    expected = -math.log(pos / (pos + m * math.exp(-1 / tau)))
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_large_scale_does_not_overflow():
    z1, z2 = _views()
    loss_fn = DebiasedLoss(temperature=0.01, tau_plus=0.1)
    loss = loss_fn(z1.double(), z2.double())
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(ref.debiased(z1, z2, 0.01, 0.1), rel=1e-4)


@pytest.mark.parametrize("kwargs", [{"tau_plus": 1.0}, {"tau_plus": -0.1}, {"beta": -1.0}])
def test_out_of_range_settings_are_refused(kwargs):
    with pytest.raises(ConfigError):
        HardNegativeLoss(**kwargs)
