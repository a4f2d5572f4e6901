"""Classic NCE: the objective by hand, consistency on a 1-D Gaussian, fixed-noise check;
and its in-batch form (`nce` in the registry) against a loop reference."""

import importlib.util
import math
from pathlib import Path

import loss_reference as ref
import pytest
import torch
import torch.nn as nn
from torch.distributions import Independent, Normal

from ssl_app.errors import ConfigError
from ssl_app.losses import NCELoss, PairNCELoss

DEMO = Path(__file__).resolve().parents[1] / "scripts" / "nce_density.py"


def _demo():
    spec = importlib.util.spec_from_file_location("nce_density", DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Quadratic(nn.Module):
    """log p̃(x) = −a·x²; a single trainable parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(0.3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -self.a * x[:, 0] ** 2


def _noise(loc=0.0, scale=2.0):
    return Independent(Normal(torch.tensor([float(loc)]), torch.tensor([float(scale)])), 1)


def test_objective_matches_hand_computation():
    model, noise, k = Quadratic(), _noise(), 3
    nce = NCELoss(model, noise, k=k)
    with torch.no_grad():
        nce.c.fill_(-0.7)
    x, y = torch.tensor([[0.5], [-1.0]]), torch.tensor([[2.0], [0.1], [-0.3], [1.5], [0.0], [3.0]])

    def g(u: float) -> float:
        log_noise = -0.5 * (u / 2) ** 2 - math.log(2 * math.sqrt(2 * math.pi))
        return -0.3 * u**2 - 0.7 - log_noise - math.log(k)

    def log_sigmoid(v: float) -> float:
        return -math.log1p(math.exp(-v))

    data_term = sum(log_sigmoid(g(u)) for u in x[:, 0].tolist()) / len(x)
    noise_term = sum(log_sigmoid(-g(u)) for u in y[:, 0].tolist()) / len(y)
    assert nce(x, y).item() == pytest.approx(-data_term - k * noise_term, rel=1e-5)


def test_one_dimensional_gaussian_recovers_log_partition():
    demo = _demo()
    c_err_16 = demo.gaussian_errors(1, 16, seed=0, n_data=2000)[0]
    assert c_err_16 < 0.05
    runs = {k: [demo.gaussian_errors(1, k, s, 2000) for s in range(3)] for k in (1, 64)}
    c_err = {k: sum(r[0] for r in rs) for k, rs in runs.items()}
    to_ml = {k: sum(r[2] for r in rs) for k, rs in runs.items()}
    assert c_err[64] < c_err[1]
    assert to_ml[64] < to_ml[1]


def test_noise_tied_to_the_model_is_refused():
    model = Quadratic()
    with pytest.raises(ConfigError, match="independent of θ"):
        NCELoss(model, Independent(Normal(model.a.reshape(1), torch.ones(1)), 1))
    with pytest.raises(ConfigError, match="independent of θ"):
        NCELoss(model, Independent(Normal(model.a.detach().reshape(1), torch.ones(1)), 1))
    trainable = Independent(Normal(torch.zeros(1), nn.Parameter(torch.ones(1))), 1)
    with pytest.raises(ConfigError, match="independent of θ"):
        NCELoss(model, trainable)
    NCELoss(model, _noise(loc=model.a.item()))


def test_k_below_one_is_refused():
    with pytest.raises(ConfigError, match="k"):
        NCELoss(Quadratic(), _noise(), k=0)


@pytest.mark.parametrize(("tau", "log_z"), [(0.1, 0.0), (0.5, 1.3)])
def test_pair_nce_matches_loop_reference(tau, log_z):
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    loss_fn = PairNCELoss(temperature=tau)
    with torch.no_grad():
        loss_fn.log_z.fill_(log_z)
    loss, stats = loss_fn.with_stats(z1, z2)
    assert loss.item() == pytest.approx(ref.pair_nce(z1, z2, tau, log_z), rel=1e-5)
    loss.backward()
    assert loss_fn.log_z.grad is not None and "mi_bound" not in stats
