"""Positive-pair bookkeeping and diagnostics shared by every contrastive loss of the family.

Rows are this rank's 2N embeddings [view1; view2]; columns are the 2NW embeddings of
all ranks [view1 of rank 0..W-1; view2 of rank 0..W-1], gathered with gradients
(open_clip's "local loss": memory linear in the local batch), then any extra negatives
(K queued keys, no gradient). Row i's positive is the other view of the same image, at a
column offset by this rank's position (rank × N).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ssl_app.errors import ConfigError
from ssl_app.losses.gather import gather_with_grad, rank, world_size


@dataclass
class PairSimilarities:
    """Cosine similarities of local rows against global columns, with the pair layout."""

    sim: torch.Tensor  # (2N, 2NW + K) cosine similarities
    positive: torch.Tensor  # (2N,) column index of each row's positive
    self_mask: torch.Tensor  # (2N, 2NW + K) True at excluded columns: the row itself (+ tower)
    excluded: int = 1  # True entries per row of `self_mask`, known from the layout (no GPU sync)

    @property
    def num_candidates(self) -> int:
        """K (2NW − 1 in-batch, + the queue): the positive plus every negative of a row."""
        return self.sim.shape[1] - self.excluded

    def positive_sim(self) -> torch.Tensor:
        """(2N,) similarity of each row to its positive."""
        return self.sim.gather(1, self.positive[:, None]).squeeze(1)

    def negative_mask(self) -> torch.Tensor:
        """(2N, 2NW + K) True at the negatives of each row (not self, not positive)."""
        return ~self.self_mask & ~column_is(self.positive, self.sim.shape[1])


class LossOutput(NamedTuple):
    """What every loss returns from `with_stats`: the scalar and its detached diagnostics
    (`loss, stats = loss_fn.with_stats(z1, z2)`)."""

    loss: torch.Tensor
    stats: dict[str, torch.Tensor]


def pair_similarities(
    z1: torch.Tensor,
    z2: torch.Tensor,
    gather: bool = True,
    negatives: torch.Tensor | None = None,
) -> PairSimilarities:
    """Normalise two views' projections (N, D) and compare local rows with global columns;
    `negatives` (K, D), e.g. queued keys, are appended as columns without gradient."""
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(
            f"z1 and z2 must both be (N, D), got {tuple(z1.shape)} and {tuple(z2.shape)}"
        )
    n = z1.shape[0]
    w, r = (world_size(), rank()) if gather else (1, 0)
    if n * w < 2:
        raise ConfigError(
            f"global batch is {n * w} image(s): InfoNCE needs ≥ 2 to have a negative; "
            "raise optim.batch_size"
        )
    z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    rows = torch.cat([z1, z2])
    gathered = gather and w > 1
    columns = torch.cat([gather_with_grad(z1), gather_with_grad(z2)]) if gathered else rows
    if negatives is not None:
        columns = torch.cat([columns, F.normalize(negatives.detach().to(rows.dtype), dim=1)])
    idx = torch.arange(n, device=z1.device) + r * n
    self_col = torch.cat([idx, idx + n * w])
    positive = torch.cat([idx + n * w, idx])
    return PairSimilarities(rows @ columns.T, positive, column_is(self_col, len(columns)))


def column_is(index: torch.Tensor, columns: int) -> torch.Tensor:
    """(rows, columns) bool, True at column `index[row]`: a comparison, not an indexed write,
    which on CUDA would make the CPU wait for the GPU."""
    return torch.arange(columns, device=index.device) == index[:, None]


def masked_logsumexp(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(rows,) log Σ_j e^{x_ij} over the columns where `mask` is True (e.g. the negatives)."""
    return x.masked_fill(~mask, float("-inf")).logsumexp(1)


def contrastive_stats(
    pairs: PairSimilarities, loss: torch.Tensor, temperature: torch.Tensor, bounds_mi: bool
) -> dict[str, torch.Tensor]:
    """Detached diagnostics: positive/negative similarity, top-1 of the positive, counts, τ,
    and (for losses that are an InfoNCE bound) the MI bound log K − L.

    Tensors on the similarities' device, made without reading a value back to the host, so the
    CPU never waits for the GPU here (Lightning reads them every `log_every_n_steps`)."""
    with torch.no_grad():
        sim = pairs.sim.detach()
        negatives = pairs.negative_mask()
        top1 = sim.masked_fill(pairs.self_mask, float("-inf")).argmax(1)
        k = pairs.num_candidates
        stats = {
            "pos_sim": pairs.positive_sim().detach().mean(),
            "neg_sim": (sim * negatives).sum() / negatives.sum().clamp(min=1),
            "pos_acc": (top1 == pairs.positive).float().mean(),
            "num_negatives": sim.new_full((), float(k - 1)),
            "temperature": temperature.detach(),
        }
        if bounds_mi:
            stats["mi_bound"] = math.log(k) - loss.detach().float()
        return stats
