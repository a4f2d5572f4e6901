"""Hard-negative contrastive loss (Robinson et al. 2021, "HCL").

Negatives are importance-weighted towards the hard (similar) ones. As in the authors'
code, the weights are w_j = e^{β·s_j/τ} normalised to mean 1 over the row's M negatives
(no stop-gradient), and the weighted sum replaces Σ_neg e^{s/τ} in the debiased loss:

    N_g = max( (Σ_j w_j e^{s_j/τ} − τ⁺·M·e^{s⁺/τ}) / (1 − τ⁺),  M·e^{−1/τ} )
    L_i = −log e^{s⁺/τ} / (e^{s⁺/τ} + N_g)

β = 0 is the debiased loss; β = 0 and τ⁺ = 0 is plain InfoNCE.
"""

from __future__ import annotations

import functools

import torch

from ssl_app.errors import ConfigError
from ssl_app.losses.base import ContrastiveLoss
from ssl_app.losses.debiased import check_tau_plus, debiased_infonce
from ssl_app.losses.pairs import LossOutput, masked_logsumexp


def reweighted_logsumexp(logits: torch.Tensor, neg_mask: torch.Tensor, beta: float) -> torch.Tensor:
    """(2N,) log Σ_j w_j e^{l_j} = log M + LSE((1+β)·l) − LSE(β·l) over the negatives."""
    m = neg_mask.sum(1).float()
    weighted = masked_logsumexp((1 + beta) * logits, neg_mask)
    return m.log() + weighted - masked_logsumexp(beta * logits, neg_mask)


class HardNegativeLoss(ContrastiveLoss):
    """Debiased InfoNCE with negatives re-weighted by e^{β·s/τ} (concentration `beta` ≥ 0)."""

    def __init__(
        self,
        temperature: float = 0.1,
        beta: float = 1.0,
        tau_plus: float = 0.0,
        gather: bool = True,
        learnable_temperature: bool = False,
    ) -> None:
        super().__init__(temperature, gather, learnable_temperature)
        self.tau_plus = check_tau_plus(tau_plus)
        if not beta >= 0:
            raise ConfigError(f"loss.beta must be ≥ 0, got {beta}; 0 turns re-weighting off")
        self.beta = beta

    def with_stats(self, z1, z2, negatives=None, targets=None) -> LossOutput:
        pairs = self.pairs(z1, z2, negatives)
        log_negatives = functools.partial(reweighted_logsumexp, beta=self.beta)
        loss = debiased_infonce(pairs, self.scale(), self.tau_plus, log_negatives)
        return self.output(pairs, loss, bounds_mi=False)
