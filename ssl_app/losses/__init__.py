"""The contrastive loss family behind one registry: `build_loss(name, **kwargs)`.

Every registered loss is called as `loss(z1, z2)` with (N, D) projections of two views and
gathers negatives across ranks the same way (see `pairs.py`); `loss.with_stats(z1, z2)`
returns the scalar with its detached diagnostics. `build_queue` makes the negative queue of
`loss.queue_size` (for losses that take negatives). `NCELoss` (classic NCE of an
unnormalised density against a fixed noise) is not a two-view loss and is not registered.
"""

from __future__ import annotations

from ssl_app.losses.base import ContrastiveLoss
from ssl_app.losses.clip import CLIPLoss
from ssl_app.losses.debiased import DebiasedLoss
from ssl_app.losses.decoupled import DecoupledLoss
from ssl_app.losses.gather import gather_with_grad
from ssl_app.losses.hard_negative import HardNegativeLoss
from ssl_app.losses.infonce import InfoNCELoss
from ssl_app.losses.nce import NCELoss, PairNCELoss
from ssl_app.losses.pairs import LossOutput
from ssl_app.losses.queue import NegativeQueue, check_queue_size
from ssl_app.losses.soft_target import SoftTargetLoss
from ssl_app.registry import Registry

LOSSES: Registry[ContrastiveLoss] = Registry("loss")
LOSSES.register("infonce")(InfoNCELoss)
LOSSES.register("debiased")(DebiasedLoss)
LOSSES.register("hard_negative")(HardNegativeLoss)
LOSSES.register("decoupled")(DecoupledLoss)
LOSSES.register("soft_target")(SoftTargetLoss)
LOSSES.register("clip")(CLIPLoss)
LOSSES.register("nce")(PairNCELoss)


def build_loss(name: str, **kwargs) -> ContrastiveLoss:
    """Construct the loss registered as `name` (unknown names list the known ones)."""
    return LOSSES.build(name, **kwargs)


def build_queue(loss_name: str, size: int, dim: int) -> NegativeQueue | None:
    """The queue of `size` keys (D = `dim`) that extends `loss_name`'s negatives; None for 0."""
    takes_negatives = LOSSES.get(loss_name).takes_negatives
    return NegativeQueue(size, dim) if check_queue_size(size, loss_name, takes_negatives) else None


__all__ = [
    "LOSSES",
    "CLIPLoss",
    "ContrastiveLoss",
    "DebiasedLoss",
    "DecoupledLoss",
    "HardNegativeLoss",
    "InfoNCELoss",
    "LossOutput",
    "NCELoss",
    "NegativeQueue",
    "PairNCELoss",
    "SoftTargetLoss",
    "build_loss",
    "build_queue",
    "gather_with_grad",
]
