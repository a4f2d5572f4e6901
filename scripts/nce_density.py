"""Demo: classic NCE estimates unnormalised densities, and approaches maximum likelihood as k grows.

Fits an unnormalised 1-D and d-D Gaussian (c* = −log Z known in closed form) and a small MLP
energy on a 2-D ring of Gaussians against a fixed Gaussian noise, for k ∈ {1, 4, 16, 64},
next to maximum likelihood. Prints a table and saves `nce_density.png` under --out; --json
also writes the table's rows (JSON lines; null where a column does not apply).

    python scripts/nce_density.py [--out outputs/demos] [--seeds 5] [--n-data 2000] [--json F]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch
import torch.nn as nn
from torch.distributions import (
    Categorical,
    Independent,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
)

from ssl_app.losses import NCELoss

KS = (1, 4, 16, 64)


class UnnormalisedGaussian(nn.Module):
    """log p̃(x) = −½ (x − μ)ᵀ L Lᵀ (x − μ), L lower-triangular with log-parameterised diagonal."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.mu = nn.Parameter(torch.zeros(d))
        self.tril = nn.Parameter(torch.zeros(d, d))

    def cholesky(self) -> torch.Tensor:
        return self.tril.tril(-1) + torch.diag(self.tril.diagonal().exp())

    def precision(self) -> torch.Tensor:
        lower = self.cholesky()
        return lower @ lower.T

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -0.5 * ((x - self.mu) @ self.cholesky()).pow(2).sum(1)


def gaussian_c(precision: torch.Tensor) -> float:
    """−log Z of exp(−½ xᵀ Λ x): ½ log det Λ − (d/2) log 2π."""
    return 0.5 * torch.logdet(precision).item() - 0.5 * len(precision) * math.log(2 * math.pi)


def true_gaussian(d: int) -> MultivariateNormal:
    """The data distribution: a fixed random mean and covariance (unit variance scale)."""
    g = torch.Generator().manual_seed(1000 + d)
    a = torch.randn(d, d, generator=g) / math.sqrt(d)
    return MultivariateNormal(0.5 * torch.ones(d), a @ a.T + 0.5 * torch.eye(d))


def fixed_noise(d: int, scale: float = 2.0) -> MultivariateNormal:
    """The NCE noise: N(0, scale²·I), independent of the model."""
    return MultivariateNormal(torch.zeros(d), scale**2 * torch.eye(d))


def minimise(params, objective, max_iter: int = 500) -> None:
    """Full-batch L-BFGS with a strong-Wolfe line search (deterministic estimators)."""
    opt = torch.optim.LBFGS(
        params, max_iter=max_iter, line_search_fn="strong_wolfe", tolerance_change=1e-12
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    opt.step(closure)


def fit_gaussian_nce(
    data: torch.Tensor, k: int, seed: int
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """NCE fit with a fixed sample of k·T noise points → (ĉ, μ̂, Λ̂)."""
    torch.manual_seed(seed)
    model = UnnormalisedGaussian(data.shape[1])
    nce = NCELoss(model, fixed_noise(data.shape[1]), k=k)
    noise_samples = nce.noise.sample((k * len(data),))
    minimise(list(nce.parameters()), lambda: nce(data, noise_samples))
    return nce.c.item(), model.mu.detach(), model.precision().detach()


def fit_gaussian_ml(data: torch.Tensor) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Closed-form maximum likelihood → (c, μ, Λ)."""
    mu = data.mean(0)
    cov = (data - mu).T @ (data - mu) / len(data)
    precision = torch.linalg.inv(cov)
    return gaussian_c(precision), mu, precision


def gaussian_errors(d: int, k: int | None, seed: int, n_data: int) -> tuple[float, float, float]:
    """(|ĉ − c*|, ‖θ̂ − θ*‖, |ĉ − ĉ_ML|) on one data set; k=None is maximum likelihood."""
    truth = true_gaussian(d)
    torch.manual_seed(seed)
    data = truth.sample((n_data,))
    c_ml = fit_gaussian_ml(data)[0]
    c, mu, precision = fit_gaussian_ml(data) if k is None else fit_gaussian_nce(data, k, seed)
    true_precision = truth.precision_matrix
    param_err = torch.cat([mu - truth.loc, (precision - true_precision).flatten()]).norm()
    return abs(c - gaussian_c(true_precision)), param_err.item(), abs(c - c_ml)


def ring_density(modes: int = 8, radius: float = 2.0, std: float = 0.3) -> MixtureSameFamily:
    """The 2-D toy density: `modes` Gaussians on a circle (log-density known exactly)."""
    angles = torch.arange(modes) * 2 * math.pi / modes
    means = radius * torch.stack([angles.cos(), angles.sin()], 1)
    components = Independent(Normal(means, std * torch.ones_like(means)), 1)
    return MixtureSameFamily(Categorical(torch.ones(modes)), components)


def mlp_energy() -> nn.Module:
    """log p̃_θ(x) = MLP(x): a small smooth network, 2 → 32 → 32 → 1."""
    net = nn.Sequential(nn.Linear(2, 32), nn.SiLU(), nn.Linear(32, 32), nn.SiLU(), nn.Linear(32, 1))
    return nn.Sequential(net, nn.Flatten(0))


def grid_log_partition(log_density, half_width: float = 4.5, n: int = 150) -> torch.Tensor:
    """log ∫ exp(log_density(x)) dx over the square [−w, w]² by the midpoint rule."""
    axis = (torch.arange(n) + 0.5) / n * 2 * half_width - half_width
    grid = torch.cartesian_prod(axis, axis)
    return log_density(grid).logsumexp(0) + 2 * math.log(2 * half_width / n)


def mlp_errors(k: int | None, seed: int, n_data: int, iters: int) -> tuple[float, float, float]:
    """(|log Ẑ| of the NCE model exp(f + ĉ), KL(p ‖ p̂) of its grid-normalised shape, nan).

    k=None is maximum likelihood with the partition function computed on the grid."""
    truth = ring_density()
    torch.manual_seed(seed)
    data, held_out = truth.sample((n_data,)), truth.sample((5000,))
    model = mlp_energy()
    if k is None:
        objective = lambda: grid_log_partition(model, n=100) - model(data).mean()  # noqa: E731
        minimise(list(model.parameters()), objective, iters)
        norm_err = 0.0
    else:
        nce = NCELoss(model, fixed_noise(2), k=k)
        noise_samples = nce.noise.sample((k * n_data,))
        minimise(list(nce.parameters()), lambda: nce(data, noise_samples), iters)
        norm_err = grid_log_partition(nce.log_density).abs().item()
    with torch.no_grad():
        kl = (truth.log_prob(held_out) - model(held_out) + grid_log_partition(model)).mean()
    return norm_err, kl.item(), float("nan")


def sweep(errors, seeds: int) -> list[tuple[str, float, float, float]]:
    """Mean errors over seeds for each k and for maximum likelihood."""
    rows = []
    for k in (*KS, None):
        runs = torch.tensor([errors(k, seed) for seed in range(seeds)])
        rows.append(("ML" if k is None else f"NCE k={k}", *runs.mean(0).tolist()))
    return rows


def print_table(results: dict[str, list]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Classic NCE vs maximum likelihood (mean over seeds)")
    for col in (
        "model",
        "estimator",
        "|ĉ − c*|  (MLP: |log Ẑ|)",
        "θ error (MLP: KL)",
        "|ĉ − ĉ_ML|",
    ):
        table.add_column(col, justify="right")
    for model, rows in results.items():
        for estimator, c_err, p_err, to_ml in rows:
            to_ml_text = "—" if math.isnan(to_ml) else f"{to_ml:.4f}"
            table.add_row(model, estimator, f"{c_err:.4f}", f"{p_err:.4f}", to_ml_text)
    Console().print(table)


def write_json(results: dict[str, list], args, path: Path) -> None:
    """One JSON line per table row, with the settings that produced it."""
    keys = ("c_error", "theta_error", "c_to_ml")  # MLP: |log Ẑ|, KL, none
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    with path.open("w") as out:
        for model, rows in results.items():
            for estimator, *errors in rows:
                values = {
                    k: None if math.isnan(v) else v for k, v in zip(keys, errors, strict=True)
                }
                row = {"model": model, "estimator": estimator, **values, **settings}
                out.write(json.dumps(row) + "\n")


def plot(results: dict[str, list], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for i, (ax, label) in enumerate(
        zip(axes, ("normalisation error", "parameter error / KL"), strict=True)
    ):
        for (model, rows), color in zip(results.items(), ("C0", "C1", "C2"), strict=True):
            ax.plot(KS, [r[1 + i] for r in rows[:-1]], "o-", color=color, label=f"{model} NCE")
            ax.axhline(rows[-1][1 + i], color=color, ls="--", label=f"{model} ML")
        ax.set(xscale="log", yscale="log", xlabel="k (noise samples per data point)", title=label)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/demos"))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n-data", type=int, default=2000)
    parser.add_argument("--dim", type=int, default=4)
    parser.add_argument("--mlp-iters", type=int, default=200)
    parser.add_argument("--json", type=Path, help="also write the table's rows here (JSON lines)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = {
        "1-D Gaussian": sweep(lambda k, s: gaussian_errors(1, k, s, args.n_data), args.seeds),
        f"{args.dim}-D Gaussian": sweep(
            lambda k, s: gaussian_errors(args.dim, k, s, args.n_data), args.seeds
        ),
        "2-D MLP energy": sweep(
            lambda k, s: mlp_errors(k, s, args.n_data // 2, args.mlp_iters), max(1, args.seeds // 5)
        ),
    }
    print_table(results)
    if args.json:
        write_json(results, args, args.json)
    plot(results, args.out / "nce_density.png")
    print(f"plot: {args.out / 'nce_density.png'}")


if __name__ == "__main__":
    main()
