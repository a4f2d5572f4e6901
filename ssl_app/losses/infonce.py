"""InfoNCE / NT-Xent (SimCLR; van den Oord et al. 2018; Chen et al. 2020).

For each of the 2N local rows i with positive p(i):

    L_i = −log  exp(s_{i,p(i)} / τ) / Σ_{j ≠ i} exp(s_ij / τ)

s = cosine similarity, j runs over all 2NW global columns but i itself (and over K queued
keys when given as `negatives`). The loss is the mean over rows; log(K) − L (K = 2NW − 1
(+ queue) candidates) lower-bounds the mutual information between the views.
Shapes: z1, z2 (N, D) → scalar.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ssl_app.losses.base import ContrastiveLoss
from ssl_app.losses.pairs import LossOutput, PairSimilarities


def infonce(pairs: PairSimilarities, scale: torch.Tensor) -> torch.Tensor:
    """Mean over rows of the cross-entropy of the positive against the other columns."""
    logits = (pairs.sim * scale).masked_fill(pairs.self_mask, float("-inf"))
    return F.cross_entropy(logits.float(), pairs.positive)


class InfoNCELoss(ContrastiveLoss):
    """Symmetric NT-Xent over negatives gathered from every rank (with gradients)."""

    def with_stats(self, z1, z2, negatives=None, targets=None) -> LossOutput:
        pairs = self.pairs(z1, z2, negatives)
        return self.output(pairs, infonce(pairs, self.scale()), bounds_mi=True)
