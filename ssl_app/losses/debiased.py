"""Debiased contrastive loss (Chuang et al. 2020): correct for false negatives.

With class prior τ⁺ (probability that a "negative" shares the anchor's class), each of the
2N rows replaces the negative sum by

    N_g = max( (Σ_neg e^{s/τ} − τ⁺·M·e^{s⁺/τ}) / (1 − τ⁺),  M·e^{−1/τ} )
    L_i = −log e^{s⁺/τ} / (e^{s⁺/τ} + N_g)

M = 2NW − 2 negatives per row; the clamp keeps N_g at its theoretical minimum. τ⁺ = 0 is
plain InfoNCE. Computed with a per-row shift so large scales (1/τ up to 100) do not overflow.
"""

from __future__ import annotations

import torch

from ssl_app.errors import ConfigError
from ssl_app.losses.infonce import InfoNCELoss
from ssl_app.losses.pairs import PairSimilarities, masked_logsumexp


class DebiasedLoss(InfoNCELoss):
    """InfoNCE whose negative term is debiased by the class prior `tau_plus` ∈ [0, 1)."""

    bounds_mi = False

    def __init__(
        self,
        temperature: float = 0.1,
        tau_plus: float = 0.1,
        gather: bool = True,
        learnable_temperature: bool = False,
    ) -> None:
        super().__init__(temperature, gather, learnable_temperature)
        if not 0 <= tau_plus < 1:
            raise ConfigError(
                f"loss.tau_plus must be in [0, 1), got {tau_plus}; "
                "it is the class prior, e.g. 0.1 for 10 balanced classes"
            )
        self.tau_plus = tau_plus

    def log_negative_sum(self, logits: torch.Tensor, neg_mask: torch.Tensor) -> torch.Tensor:
        """(2N,) log Σ_neg e^{s/τ} of each row."""
        return masked_logsumexp(logits, neg_mask)

    def pair_loss(self, pairs: PairSimilarities, scale: torch.Tensor) -> torch.Tensor:
        logits = pairs.sim.float() * scale
        neg_mask = pairs.negative_mask()
        m = pairs.num_candidates - 1
        pos = pairs.positive_sim().float() * scale
        log_neg = self.log_negative_sum(logits, neg_mask)
        shift = torch.maximum(pos, log_neg).detach()
        pos_exp, neg_exp = (pos - shift).exp(), (log_neg - shift).exp()
        debiased = (neg_exp - self.tau_plus * m * pos_exp) / (1 - self.tau_plus)
        n_g = torch.maximum(debiased, m * (-scale - shift).exp())
        return ((pos_exp + n_g).log() - (pos - shift)).mean()
