"""Two-tower symmetric contrastive loss (CLIP; Radford et al. 2021).

z1 and z2 come from two different encoders or modalities (image–image of two sensors,
image–text). Each row is contrasted only against the other tower's B = NW global columns:

    L = ½·( CE(scale·ẑ1 ẑ2ᵀ, I) + CE(scale·ẑ2 ẑ1ᵀ, I) ),   scale = 1/τ learnable, ≤ 100

i.e. InfoNCE with the row's own tower masked out (open_clip's local loss, labels offset
by rank·N). Symmetric in (z1, z2). Use it when the two inputs are not interchangeable views.
A queue of keys would mix both towers, so it takes no extra negatives.
"""

from __future__ import annotations

import torch

from ssl_app.losses.base import ContrastiveLoss
from ssl_app.losses.infonce import infonce
from ssl_app.losses.pairs import LossOutput, PairSimilarities


def cross_tower(pairs: PairSimilarities) -> PairSimilarities:
    """In-batch pairs with every same-tower column excluded (rows: [z1; z2])."""
    rows, cols = pairs.sim.shape
    row_tower = torch.arange(rows, device=pairs.sim.device) >= rows // 2
    col_tower = torch.arange(cols, device=pairs.sim.device) >= cols // 2
    same_tower = row_tower[:, None] == col_tower[None, :]
    return PairSimilarities(pairs.sim, pairs.positive, same_tower, excluded=cols // 2)


class CLIPLoss(ContrastiveLoss):
    """Symmetric cross-tower InfoNCE with a learnable logit scale (init 1/0.07, clamped at 100)."""

    takes_negatives = False

    def __init__(
        self, temperature: float = 0.07, gather: bool = True, learnable_temperature: bool = True
    ) -> None:
        super().__init__(temperature, gather, learnable_temperature)

    def with_stats(self, z1, z2, negatives=None, targets=None) -> LossOutput:
        pairs = cross_tower(self.pairs(z1, z2, negatives))
        return self.output(pairs, infonce(pairs, self.scale()), bounds_mi=True)
