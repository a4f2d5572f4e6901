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
from ssl_app.losses.pairs import contrastive_stats, pair_similarities

CLIP_MAX_SCALE = 100.0  # CLIP clamps the learnable logit scale 1/τ at 100


class InfoNCELoss(nn.Module):
    """Symmetric NT-Xent over negatives gathered from every rank (with gradients).

    `learnable_temperature=True` learns log(1/τ) starting at 1/temperature, clamped at
    1/τ ≤ 100 as CLIP does. After each call `self.stats` holds detached diagnostics.
    """

    def __init__(
        self, temperature: float = 0.1, gather: bool = True, learnable_temperature: bool = False
    ) -> None:
        super().__init__()
        require_positive("loss.temperature", temperature)
        self.gather = gather
        log_scale = torch.tensor(math.log(1.0 / temperature))
        if learnable_temperature:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale, persistent=False)
        self.stats: dict[str, torch.Tensor] = {}

    @property
    def temperature(self) -> torch.Tensor:
        """Current τ = 1 / scale (the scale clamped at CLIP's 100)."""
        return 1.0 / self.log_scale.detach().exp().clamp(max=CLIP_MAX_SCALE)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        pairs = pair_similarities(z1, z2, self.gather)
        scale = self.log_scale.exp().clamp(max=CLIP_MAX_SCALE)
        logits = (pairs.sim * scale).masked_fill(pairs.self_mask, float("-inf"))
        loss = F.cross_entropy(logits.float(), pairs.positive)
        self.stats = contrastive_stats(pairs, loss)
        self.stats["temperature"] = self.temperature
        return loss
