"""Decoupled contrastive loss: identity with InfoNCE, loop references, vMF weighting."""

import loss_reference as ref
import pytest
import torch

from ssl_app.errors import ConfigError
from ssl_app.losses import DecoupledLoss
from ssl_app.losses.pairs import pair_similarities


def _views(n: int = 6, d: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)


def test_equals_infonce_plus_log_one_minus_positive_probability():
    z1, z2 = _views()
    tau = 0.2
    pairs = pair_similarities(z1, z2)
    logits = (pairs.sim / tau).masked_fill(pairs.self_mask, float("-inf"))
    p_pos = logits.softmax(1).gather(1, pairs.positive[:, None]).squeeze(1)
    infonce_rows = -p_pos.log()
    expected = (infonce_rows + torch.log1p(-p_pos)).mean()
    assert DecoupledLoss(temperature=tau)(z1, z2).item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize(("tau", "sigma"), [(0.1, None), (0.5, None), (0.1, 0.5), (0.3, 2.0)])
def test_matches_loop_reference(tau, sigma):
    z1, z2 = _views()
    loss = DecoupledLoss(temperature=tau, sigma=sigma)(z1, z2)
    assert loss.item() == pytest.approx(ref.decoupled(z1, z2, tau, sigma), rel=1e-5)


def test_large_sigma_is_unweighted():
    z1, z2 = _views()
    weighted = DecoupledLoss(temperature=0.1, sigma=1e6)(z1, z2)
    assert weighted.item() == pytest.approx(DecoupledLoss(temperature=0.1)(z1, z2).item(), 1e-5)


def test_non_positive_sigma_is_refused():
    with pytest.raises(ConfigError, match="sigma"):
        DecoupledLoss(sigma=0.0)
