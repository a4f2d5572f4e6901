"""Soft-target InfoNCE: cross-entropy against α·q + (1 − α)·one-hot instead of the one-hot.

For data whose positives can be wrong (occlusions, tracking errors) or whose negatives can
be near-duplicates, each row i spreads mass α over the candidates j ≠ i:

    L_i = −Σ_{j≠i} t_ij log softmax_j(s_ij/τ),   t_i = α·q_i + (1 − α)·onehot(p(i))

q = uniform over the 2NW − 1 candidates (`source="uniform"`: label smoothing), or
q_i = softmax_j(s'_ij/τ_t) from a target encoder (`source="target"`, e.g. an EMA copy owned
by the training module: pass its projections as `loss(z1, z2, target_z1, target_z2)`; they
are detached and gathered like z). α = 0 is plain InfoNCE.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ssl_app.errors import ConfigError, require_positive
from ssl_app.losses.infonce import InfoNCELoss
from ssl_app.losses.pairs import PairSimilarities, pair_similarities

SOURCES = ("uniform", "target")


class SoftTargetLoss(InfoNCELoss):
    """InfoNCE with soft targets; `needs_target` tells the trainer to pass EMA projections.

    `target_momentum` is not used here: it is the EMA rate the training module gives the
    target encoder, kept in the loss config so the whole recipe lives in one place.
    """

    bounds_mi = False

    def __init__(
        self,
        temperature: float = 0.1,
        alpha: float = 0.1,
        source: str = "uniform",
        target_temperature: float | None = None,
        target_momentum: float = 0.996,
        gather: bool = True,
        learnable_temperature: bool = False,
    ) -> None:
        super().__init__(temperature, gather, learnable_temperature)
        if not 0 <= alpha <= 1:
            raise ConfigError(f"loss.alpha must be in [0, 1], got {alpha}; 0 is plain InfoNCE")
        if source not in SOURCES:
            raise ConfigError(f"loss.source must be one of {SOURCES}, got '{source}'")
        if target_temperature is not None:
            require_positive("loss.target_temperature", target_temperature)
        self.alpha, self.source, self.target_momentum = alpha, source, target_momentum
        self.target_temperature = target_temperature or temperature

    @property
    def needs_target(self) -> bool:
        """True when each call needs the target (EMA) encoder's projections."""
        return self.source == "target" and self.alpha > 0

    def target_distribution(
        self,
        pairs: PairSimilarities,
        target_z1: torch.Tensor | None,
        target_z2: torch.Tensor | None,
    ) -> torch.Tensor:
        """(2N, 2NW) target t = α·q + (1 − α)·one-hot, zero at each row's own column."""
        one_hot = F.one_hot(pairs.positive, pairs.sim.shape[1]).float()
        if self.alpha == 0:
            return one_hot
        if self.source == "uniform":
            q = (~pairs.self_mask).float() / pairs.num_candidates
        elif target_z1 is None or target_z2 is None:
            raise ConfigError(
                "loss.source=target needs target_z1/target_z2 (projections of an EMA encoder); "
                "set loss.source=uniform or pass them"
            )
        else:
            with torch.no_grad():
                target = pair_similarities(target_z1.detach(), target_z2.detach(), self.gather)
                logits = target.sim.float() / self.target_temperature
                q = logits.masked_fill(target.self_mask, float("-inf")).softmax(1)
        return self.alpha * q + (1 - self.alpha) * one_hot

    def soft_cross_entropy(
        self, pairs: PairSimilarities, target: torch.Tensor, scale: torch.Tensor
    ) -> torch.Tensor:
        """Mean over rows of −Σ_j t_ij log softmax_j(s_ij·scale), self column excluded."""
        logits = (pairs.sim.float() * scale).masked_fill(pairs.self_mask, float("-inf"))
        log_p = logits.log_softmax(1).masked_fill(pairs.self_mask, 0.0)
        return -(target * log_p).sum(1).mean()

    def pair_loss(self, pairs: PairSimilarities, scale: torch.Tensor) -> torch.Tensor:
        return self.soft_cross_entropy(pairs, self.target_distribution(pairs, None, None), scale)

    def forward(
        self,
        z1: torch.Tensor,
        z2: torch.Tensor,
        target_z1: torch.Tensor | None = None,
        target_z2: torch.Tensor | None = None,
    ) -> torch.Tensor:
        pairs = self.similarities(z1, z2)
        target = self.target_distribution(pairs, target_z1, target_z2)
        return self.record(pairs, self.soft_cross_entropy(pairs, target, self.scale()))
