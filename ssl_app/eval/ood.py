"""Out-of-distribution scores of frozen features against a memory bank of training features.

Higher score = more in-distribution. Scores:
  knn          max cosine similarity to the bank
  energy       τ·log Σ_bank e^{sim/τ}  (the negative energy; chunked, memory bounded)
  nce_ratio    log p̂(x)/p_n(x) from a classic-NCE classifier of bank features vs a fixed
               Gaussian p_n fitted to them
  nce_density  log p̂(x) = log p_n(x) + nce_ratio: the NCE density estimate itself
Each is reported as AUROC (in-distribution = positive) and FPR at 95 % TPR.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score
from torch.distributions import MultivariateNormal

from ssl_app.losses import NCELoss

MAX_CHUNK_ELEMENTS = 1 << 24  # similarities held at once: 64 MB of float32


def similarity_scores(
    bank: torch.Tensor, queries: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(max cosine similarity, τ·logsumexp(sim/τ)) of each query over the bank, in chunks."""
    chunk = max(1, MAX_CHUNK_ELEMENTS // len(bank))
    top, energy = [], []
    for start in range(0, len(queries), chunk):
        sim = queries[start : start + chunk] @ bank.T
        top.append(sim.max(1).values)
        energy.append(temperature * (sim / temperature).logsumexp(1))
    return torch.cat(top), torch.cat(energy)


def fit_gaussian(feats: torch.Tensor, shrinkage: float = 1e-2) -> MultivariateNormal:
    """A fixed Gaussian noise fitted to `feats`, covariance shrunk towards its mean variance."""
    x = feats.double()
    mean = x.mean(0)
    cov = (x - mean).T @ (x - mean) / len(x)
    cov += shrinkage * cov.diagonal().mean() * torch.eye(len(cov), dtype=cov.dtype)
    return MultivariateNormal(mean.float(), covariance_matrix=cov.float())


class LogRatio(nn.Module):
    """f(x) ≈ log p_data(x)/p_n(x): an MLP on features standardised by the noise."""

    def __init__(self, noise: MultivariateNormal, hidden: int = 128) -> None:
        super().__init__()
        self.register_buffer("mean", noise.loc.clone())
        self.register_buffer("std", noise.variance.sqrt().clone())
        dim = len(self.mean)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp((x - self.mean) / self.std).squeeze(1)


class NoiseTimesRatio(nn.Module):
    """The unnormalised model log p̃(x) = log p_n(x) + f(x), so NCE's logit is f + c − log k."""

    def __init__(self, ratio: LogRatio, noise: MultivariateNormal) -> None:
        super().__init__()
        self.ratio, self.noise = ratio, noise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.noise.log_prob(x) + self.ratio(x)


def fit_nce_ratio(
    bank: torch.Tensor, k: int = 4, steps: int = 400, batch_size: int = 256, seed: int = 0
) -> NCELoss:
    """Train the NCE classifier of bank features vs a Gaussian fitted to them (Adam)."""
    torch.manual_seed(seed)
    noise = fit_gaussian(bank)
    nce = NCELoss(NoiseTimesRatio(LogRatio(noise), noise), noise, k=k)
    opt = torch.optim.Adam(nce.parameters(), lr=3e-3)
    for _ in range(steps):
        batch = bank[torch.randint(len(bank), (batch_size,))]
        opt.zero_grad()
        nce(batch).backward()
        opt.step()
    return nce


def auroc_fpr95(in_scores: torch.Tensor, out_scores: torch.Tensor) -> dict[str, float]:
    """AUROC with in-distribution as positive; FPR of OOD at the threshold keeping 95 % of in."""
    labels = torch.cat([torch.ones(len(in_scores)), torch.zeros(len(out_scores))])
    auroc = roc_auc_score(labels.numpy(), torch.cat([in_scores, out_scores]).numpy())
    threshold = torch.quantile(in_scores.double(), 0.05)
    return {
        "auroc": float(auroc),
        "fpr95": float((out_scores.double() >= threshold).float().mean()),
    }


def ood_report(
    bank_feats: torch.Tensor,
    in_feats: torch.Tensor,
    out_feats: torch.Tensor,
    temperature: float = 0.1,
) -> dict[str, dict[str, float]]:
    """AUROC and FPR@95 of every score for in-distribution vs OOD queries against the bank."""
    bank, in_q, out_q = (F.normalize(f.float(), dim=1) for f in (bank_feats, in_feats, out_feats))
    in_knn, in_energy = similarity_scores(bank, in_q, temperature)
    out_knn, out_energy = similarity_scores(bank, out_q, temperature)
    nce = fit_nce_ratio(bank)
    with torch.no_grad():
        in_ratio, out_ratio = nce.log_model.ratio(in_q), nce.log_model.ratio(out_q)
        in_density, out_density = nce.log_density(in_q), nce.log_density(out_q)
    scores = {
        "knn": (in_knn, out_knn),
        "energy": (in_energy, out_energy),
        "nce_ratio": (in_ratio + nce.c.detach(), out_ratio + nce.c.detach()),
        "nce_density": (in_density, out_density),
    }
    return {name: auroc_fpr95(*pair) for name, pair in scores.items()}
