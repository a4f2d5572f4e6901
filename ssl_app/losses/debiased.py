"""Debiased contrastive loss (Chuang et al. 2020): correct for false negatives.

With class prior τ⁺ (probability that a "negative" shares the anchor's class), each of the
2N rows replaces the negative sum by

    N_g = max( (Σ_neg e^{s/τ} − τ⁺·M·e^{s⁺/τ}) / (1 − τ⁺),  M·e^{−1/τ} )
    L_i = −log e^{s⁺/τ} / (e^{s⁺/τ} + N_g)

M = 2NW − 2 negatives per row (+ the queue); the clamp keeps N_g at its theoretical minimum.
τ⁺ = 0 is plain InfoNCE. Computed with a per-row shift so large scales (1/τ up to 100) do
not overflow.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ssl_app.errors import ConfigError
from ssl_app.losses.base import ContrastiveLoss
from ssl_app.losses.pairs import LossOutput, PairSimilarities, masked_logsumexp

LogNegativeSum = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def debiased_infonce(
    pairs: PairSimilarities,
    scale: torch.Tensor,
    tau_plus: float,
    log_negative_sum: LogNegativeSum = masked_logsumexp,
) -> torch.Tensor:
    """Mean over rows of the debiased loss; `log_negative_sum(logits, negative_mask)` → (2N,)
    is log Σ_neg e^{s/τ} (the hard-negative loss passes its re-weighted sum)."""
    logits = pairs.sim.float() * scale
    m = pairs.num_candidates - 1
    pos = pairs.positive_sim().float() * scale
    log_neg = log_negative_sum(logits, pairs.negative_mask())
    shift = torch.maximum(pos, log_neg).detach()
    pos_exp, neg_exp = (pos - shift).exp(), (log_neg - shift).exp()
    debiased = (neg_exp - tau_plus * m * pos_exp) / (1 - tau_plus)
    n_g = torch.maximum(debiased, m * (-scale - shift).exp())
    return ((pos_exp + n_g).log() - (pos - shift)).mean()


def check_tau_plus(tau_plus: float) -> float:
    """`tau_plus` if it is a class prior in [0, 1), else a one-line ConfigError."""
    if not 0 <= tau_plus < 1:
        raise ConfigError(
            f"loss.tau_plus must be in [0, 1), got {tau_plus}; "
            "it is the class prior, e.g. 0.1 for 10 balanced classes"
        )
    return tau_plus


class DebiasedLoss(ContrastiveLoss):
    """InfoNCE whose negative term is debiased by the class prior `tau_plus` ∈ [0, 1)."""

    def __init__(
        self,
        temperature: float = 0.1,
        tau_plus: float = 0.1,
        gather: bool = True,
        learnable_temperature: bool = False,
    ) -> None:
        super().__init__(temperature, gather, learnable_temperature)
        self.tau_plus = check_tau_plus(tau_plus)

    def with_stats(self, z1, z2, negatives=None, targets=None) -> LossOutput:
        pairs = self.pairs(z1, z2, negatives)
        loss = debiased_infonce(pairs, self.scale(), self.tau_plus)
        return self.output(pairs, loss, bounds_mi=False)
