"""InfoNCE / NT-Xent (SimCLR; van den Oord et al. 2018; Chen et al. 2020).

For each of the 2N local rows i with positive p(i):

    L_i = −log  exp(s_{i,p(i)} / τ) / Σ_{j ≠ i} exp(s_ij / τ)

s = cosine similarity, j runs over all 2NW global columns but i itself. The loss is the
mean over rows; log(K) − L (K = 2NW − 1 candidates) lower-bounds the mutual
information between the views. Shapes: z1, z2 (N, D) → scalar.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ssl_app.errors import require_positive
from ssl_app.losses.pairs import PairSimilarities, contrastive_stats, pair_similarities

CLIP_MAX_SCALE = 100.0  # CLIP clamps the learnable logit scale 1/τ at 100
MAX_LOG_SCALE = math.log(CLIP_MAX_SCALE)


class InfoNCELoss(nn.Module):
    """Symmetric NT-Xent over negatives gathered from every rank (with gradients).

    `learnable_temperature=True` learns log(1/τ) starting at 1/temperature, clamped at
    1/τ ≤ 100 as CLIP does (a fixed temperature is used as given). After each call
    `self.stats` holds detached diagnostics.
    Variants of the family subclass this and override `pair_loss` (and `similarities`);
    those whose loss is not an InfoNCE bound set `bounds_mi = False` (no `mi_bound` stat).
    """

    bounds_mi = True

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
        self.stats: dict[str, torch.Tensor] = {}

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

    def similarities(self, z1: torch.Tensor, z2: torch.Tensor) -> PairSimilarities:
        """Local rows × global columns with the positive layout (see `pairs.py`)."""
        return pair_similarities(z1, z2, self.gather)

    def pair_loss(self, pairs: PairSimilarities, scale: torch.Tensor) -> torch.Tensor:
        """Mean over rows of the cross-entropy of the positive against the other columns."""
        logits = (pairs.sim * scale).masked_fill(pairs.self_mask, float("-inf"))
        return F.cross_entropy(logits.float(), pairs.positive)

    def record(self, pairs: PairSimilarities, loss: torch.Tensor) -> torch.Tensor:
        """Store the detached diagnostics of this call in `self.stats`; return `loss`."""
        self.stats = contrastive_stats(pairs, loss)
        self.stats["temperature"] = self.temperature
        if not self.bounds_mi:
            del self.stats["mi_bound"]
        return loss

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        pairs = self.similarities(z1, z2)
        return self.record(pairs, self.pair_loss(pairs, self.scale()))
