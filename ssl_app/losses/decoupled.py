"""Decoupled contrastive loss (Yeh et al. 2022, "DCL"): the positive leaves the denominator.

Per row i with positive similarity s⁺ and optional von Mises–Fisher weight w_i:

    L_i = −w_i·s⁺/τ + log Σ_{negatives j} e^{s_ij/τ},  mean over the 2N local rows
    w_i = 2 − B·e^{s⁺_i/σ} / Σ_b e^{s⁺_b/σ}   (DCLW; b over the B = NW global images)

Without σ, w = 1 (DCL); σ → ∞ also gives w → 1. Removing the positive from the denominator
removes the "negative-positive coupling" that makes InfoNCE need large batches:
L_DCL = L_InfoNCE + log(1 − p⁺), p⁺ the softmax probability of the positive.
"""

from __future__ import annotations

import torch

from ssl_app.errors import require_positive
from ssl_app.losses.base import ContrastiveLoss
from ssl_app.losses.gather import gather_with_grad
from ssl_app.losses.pairs import LossOutput, PairSimilarities, masked_logsumexp


def positive_weight(pos: torch.Tensor, sigma: float | None, gather: bool) -> torch.Tensor:
    """(2N,) DCLW weights 2 − B·softmax(s⁺/σ) over all global images (1 without σ)."""
    if sigma is None:
        return torch.ones_like(pos)
    local = pos[: len(pos) // 2] / sigma
    everyone = gather_with_grad(local) if gather else local
    weight = 2 - len(everyone) * (local - everyone.logsumexp(0)).exp()
    return torch.cat([weight, weight])


def decoupled(
    pairs: PairSimilarities, scale: torch.Tensor, sigma: float | None, gather: bool
) -> torch.Tensor:
    """Mean over rows of −w·s⁺/τ + log Σ_neg e^{s/τ}."""
    pos = pairs.positive_sim().float()
    log_neg = masked_logsumexp(pairs.sim.float() * scale, pairs.negative_mask())
    return (log_neg - positive_weight(pos, sigma, gather) * pos * scale).mean()


class DecoupledLoss(ContrastiveLoss):
    """DCL (sigma=None) or DCLW (positive weighting with vMF concentration `sigma` > 0)."""

    def __init__(
        self,
        temperature: float = 0.1,
        sigma: float | None = None,
        gather: bool = True,
        learnable_temperature: bool = False,
    ) -> None:
        super().__init__(temperature, gather, learnable_temperature)
        if sigma is not None:
            require_positive("loss.sigma", sigma)
        self.sigma = sigma

    def with_stats(self, z1, z2, negatives=None, targets=None) -> LossOutput:
        pairs = self.pairs(z1, z2, negatives)
        loss = decoupled(pairs, self.scale(), self.sigma, self.gather)
        return self.output(pairs, loss, bounds_mi=False)
