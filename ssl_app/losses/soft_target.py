"""Soft-target InfoNCE: cross-entropy against α·q + (1 − α)·one-hot instead of the one-hot.

For data whose positives can be wrong (occlusions, tracking errors) or whose negatives can
be near-duplicates, each row i spreads mass α over the candidates j ≠ i:

    L_i = −Σ_{j≠i} t_ij log softmax_j(s_ij/τ),   t_i = α·q_i + (1 − α)·onehot(p(i))

q = uniform over the 2NW − 1 (+ queue) candidates (`source="uniform"`: label smoothing), or
q_i = softmax_j(s'_ij/τ_t) from a momentum encoder (`source="target"`: the training module's
EMA copy, `model.ema.enabled=true`, whose projections arrive as `targets=(t1, t2)`; they are
detached and gathered like z, and compared with the same queued keys). α = 0 is InfoNCE.
"""

from __future__ import annotations

import torch

from ssl_app.errors import ConfigError, require_positive, require_unit_interval
from ssl_app.losses.base import ContrastiveLoss
from ssl_app.losses.pairs import LossOutput, PairSimilarities, column_is, pair_similarities

SOURCES = ("uniform", "target")


def soft_cross_entropy(
    pairs: PairSimilarities, target: torch.Tensor, scale: torch.Tensor
) -> torch.Tensor:
    """Mean over rows of −Σ_j t_ij log softmax_j(s_ij·scale), self column excluded."""
    logits = (pairs.sim.float() * scale).masked_fill(pairs.self_mask, float("-inf"))
    log_p = logits.log_softmax(1).masked_fill(pairs.self_mask, 0.0)
    return -(target * log_p).sum(1).mean()


class SoftTargetLoss(ContrastiveLoss):
    """InfoNCE with soft targets: uniform (label smoothing) or from an EMA encoder's targets."""

    def __init__(
        self,
        temperature: float = 0.1,
        alpha: float = 0.1,
        source: str = "uniform",
        target_temperature: float | None = None,
        gather: bool = True,
        learnable_temperature: bool = False,
    ) -> None:
        super().__init__(temperature, gather, learnable_temperature)
        require_unit_interval("loss.alpha", alpha)
        if source not in SOURCES:
            raise ConfigError(f"loss.source must be one of {SOURCES}, got '{source}'")
        if target_temperature is not None:
            require_positive("loss.target_temperature", target_temperature)
        self.alpha, self.source = alpha, source
        self.target_temperature = target_temperature or temperature

    def target_distribution(
        self,
        pairs: PairSimilarities,
        negatives: torch.Tensor | None,
        targets: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> torch.Tensor:
        """(2N, 2NW + K) target t = α·q + (1 − α)·one-hot, zero at each row's own column."""
        one_hot = column_is(pairs.positive, pairs.sim.shape[1]).float()
        if self.alpha == 0:
            return one_hot
        if self.source == "uniform":
            q = (~pairs.self_mask).float() / pairs.num_candidates
        elif targets is None:
            raise ConfigError(
                "loss.source=target needs the projections of an EMA encoder; "
                "set model.ema.enabled=true or loss.source=uniform"
            )
        else:
            with torch.no_grad():
                t1, t2 = (t.detach() for t in targets)
                target = pair_similarities(t1, t2, self.gather, negatives)
                logits = target.sim.float() / self.target_temperature
                q = logits.masked_fill(target.self_mask, float("-inf")).softmax(1)
        return self.alpha * q + (1 - self.alpha) * one_hot

    def with_stats(self, z1, z2, negatives=None, targets=None) -> LossOutput:
        pairs = self.pairs(z1, z2, negatives)
        target = self.target_distribution(pairs, negatives, targets)
        loss = soft_cross_entropy(pairs, target, self.scale())
        return self.output(pairs, loss, bounds_mi=False)
