"""What every two-view contrastive loss holds: a temperature and the gather flag.

Each loss subclasses `ContrastiveLoss` once (no loss derives from another) and writes its
formula in `with_stats` from the shared helpers of `pairs.py`: the pair similarities and
their positive/negative layout in, a `LossOutput` (scalar + detached stats) out.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from ssl_app.errors import require_positive
from ssl_app.losses.pairs import LossOutput, PairSimilarities, contrastive_stats, pair_similarities

CLIP_MAX_SCALE = 100.0  # CLIP clamps the learnable logit scale 1/τ at 100
MAX_LOG_SCALE = math.log(CLIP_MAX_SCALE)


class ContrastiveLoss(nn.Module):
    """`loss(z1, z2)` → the scalar; `loss.with_stats(z1, z2)` → `LossOutput(loss, stats)`.

    Both also take `negatives` (K, D): extra negatives such as queued keys (detached), for
    losses with `takes_negatives`; and `targets` (t1, t2): a momentum (EMA) encoder's
    projections of the two views, which losses that need them read (soft_target) and the
    others ignore. `learnable_temperature=True` learns log(1/τ) from 1/temperature,
    clamped at 1/τ ≤ 100 as CLIP does.
    """

    takes_negatives = True

    def __init__(
        self, temperature: float = 0.1, gather: bool = True, learnable_temperature: bool = False
    ) -> None:
        super().__init__()
        require_positive("loss.temperature", temperature)
        self.gather = gather
        log_scale = torch.tensor(math.log(1.0 / temperature))
        if learnable_temperature:
            self.log_scale = nn.Parameter(log_scale.clamp(max=MAX_LOG_SCALE))
        else:
            self.register_buffer("log_scale", log_scale, persistent=False)

    @property
    def temperature(self) -> torch.Tensor:
        """Current τ = 1 / scale."""
        return (-self.log_scale.detach()).exp()

    def scale(self) -> torch.Tensor:
        """1/τ; a learnable scale is clamped in place at 100 before use, as CLIP does after
        each step, so its gradient stays alive at the cap (a clamp in the graph would zero it)."""
        if isinstance(self.log_scale, nn.Parameter):
            with torch.no_grad():
                self.log_scale.clamp_(max=MAX_LOG_SCALE)
        return self.log_scale.exp()

    def pairs(
        self, z1: torch.Tensor, z2: torch.Tensor, negatives: torch.Tensor | None = None
    ) -> PairSimilarities:
        """Local rows × global columns (+ `negatives`) with the positive layout (`pairs.py`)."""
        if negatives is not None and not self.takes_negatives:
            raise ValueError(f"{type(self).__name__} takes no extra negatives")
        return pair_similarities(z1, z2, self.gather, negatives)

    def output(self, pairs: PairSimilarities, loss: torch.Tensor, bounds_mi: bool) -> LossOutput:
        """`loss` with the detached stats of `pairs` (`mi_bound` only for InfoNCE bounds)."""
        return LossOutput(loss, contrastive_stats(pairs, loss, self.temperature, bounds_mi))

    def with_stats(
        self,
        z1: torch.Tensor,
        z2: torch.Tensor,
        negatives: torch.Tensor | None = None,
        targets: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> LossOutput:
        raise NotImplementedError

    def forward(
        self,
        z1: torch.Tensor,
        z2: torch.Tensor,
        negatives: torch.Tensor | None = None,
        targets: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        return self.with_stats(z1, z2, negatives, targets).loss
