"""Classic binary Noise-Contrastive Estimation (Gutmann & Hyvärinen 2010, 2012).

A classifier tells data x from k·T samples y of a fixed noise p_n with the logit

    G(u) = log p̃_θ(u) + c − log p_n(u) − log k,   c = −log Z learned like any parameter
    J = −E_data log σ(G(x)) − k·E_noise log σ(−G(y))

For k → ∞ the estimate approaches maximum likelihood and c → −log Z(θ). The noise must
not depend on θ: otherwise the classifier can win by moving the noise and the estimator is
no longer consistent. `PairNCELoss` is the same objective on contrastive pairs (registry
name `nce`): model e^{s/τ}, noise uniform over the batch, the 2NW − 2 negatives as samples.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from ssl_app.errors import ConfigError
from ssl_app.losses.base import ContrastiveLoss
from ssl_app.losses.pairs import LossOutput, PairSimilarities


def binary_nce(
    data_logits: torch.Tensor,
    noise_logits: torch.Tensor,
    k: float,
    noise_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """J = −mean log σ(G_data) − k·mean log σ(−G_noise): the NCE loss per data sample.

    With `noise_mask` (rows of the same count of True) the noise samples are its True entries,
    averaged by masked sums: boolean indexing would wait for the GPU to learn the count."""
    noise = F.logsigmoid(-noise_logits)
    if noise_mask is not None:
        noise = (noise * noise_mask).sum(1) / noise_mask.sum(1)
    return -F.logsigmoid(data_logits).mean() - k * noise.mean()


def _tensors(obj: object, depth: int = 0) -> Iterator[torch.Tensor]:
    """Every tensor reachable from a noise object (module, distribution, plain object)."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, nn.Module):
        yield from obj.parameters()
        yield from obj.buffers()
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _tensors(item, depth + 1)
    elif hasattr(obj, "__dict__") and depth < 4:
        for value in vars(obj).values():
            yield from _tensors(value, depth + 1)


def check_fixed_noise(noise: object, model: nn.Module) -> None:
    """Raise ConfigError if `noise` holds a trainable tensor or shares storage with `model`."""
    model_storage = {p.untyped_storage().data_ptr() for p in model.parameters()}
    for t in _tensors(noise):
        if t.requires_grad or t.untyped_storage().data_ptr() in model_storage:
            raise ConfigError(
                "NCE noise shares parameters with the model or is trainable: it must be a fixed "
                "distribution independent of θ, else the classifier wins by moving the noise and "
                "NCE is no longer consistent; fit the noise once and pass detached copies"
            )


class NCELoss(nn.Module):
    """Binary NCE of an unnormalised model `log_model` (B, ...) → (B,) against `noise`.

    `noise` is fixed, with `sample((n,))` and `log_prob(u)` → (n,) (a torch Distribution;
    use `Independent` for diagonal Gaussians). `self.c` is the learned −log Z.
    """

    def __init__(self, log_model: nn.Module, noise: object, k: int = 16) -> None:
        super().__init__()
        if not k >= 1:
            raise ConfigError(f"NCE k (noise samples per data sample) must be ≥ 1, got {k}")
        check_fixed_noise(noise, log_model)
        self.log_model, self.noise, self.k = log_model, noise, k
        self.c = nn.Parameter(torch.zeros(()))

    def logits(self, u: torch.Tensor) -> torch.Tensor:
        """G(u) = log p̃_θ(u) + c − log p_n(u) − log k: the classifier's log-odds of data."""
        return self.log_model(u) + self.c - self.noise.log_prob(u) - math.log(self.k)

    def log_density(self, u: torch.Tensor) -> torch.Tensor:
        """The normalised model's log density estimate log p̃_θ(u) + c."""
        return self.log_model(u) + self.c

    def forward(self, x: torch.Tensor, noise_samples: torch.Tensor | None = None) -> torch.Tensor:
        """NCE loss of data `x` against `noise_samples` (k·len(x) fresh ones if None)."""
        if noise_samples is None:
            noise_samples = self.noise.sample((self.k * len(x),))
        return binary_nce(self.logits(x), self.logits(noise_samples), self.k)


def pair_nce(pairs: PairSimilarities, scale: torch.Tensor, log_z: torch.Tensor) -> torch.Tensor:
    """Binary NCE with the positive as data and the row's M negatives as noise samples."""
    m = pairs.num_candidates - 1
    logits = pairs.sim.float() * scale - log_z - math.log(m)
    data_logits = logits.gather(1, pairs.positive[:, None])
    return binary_nce(data_logits, logits, m, noise_mask=pairs.negative_mask())


class PairNCELoss(ContrastiveLoss):
    """Binary NCE on in-batch pairs: G_ij = s_ij/τ − ĉ − log M for the positive and M negatives.

    With noise uniform over the K = 2NW − 1 candidates, ĉ = log Z − log K is the learned log of
    the mean partition per candidate (0 at init); `stats["log_z"]` logs it. The noise is the
    batch itself, so it takes no queued negatives.
    """

    takes_negatives = False

    def __init__(
        self, temperature: float = 0.1, gather: bool = True, learnable_temperature: bool = False
    ) -> None:
        super().__init__(temperature, gather, learnable_temperature)
        self.log_z = nn.Parameter(torch.zeros(()))

    def with_stats(self, z1, z2, negatives=None, targets=None) -> LossOutput:
        pairs = self.pairs(z1, z2, negatives)
        result = self.output(pairs, pair_nce(pairs, self.scale(), self.log_z), bounds_mi=False)
        result.stats["log_z"] = self.log_z.detach()
        return result
