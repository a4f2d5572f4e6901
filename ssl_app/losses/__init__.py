"""The contrastive loss family behind one registry: `build_loss(name, **kwargs)`.

Every registered loss is called as `loss(z1, z2)` with (N, D) projections of two views and
gathers negatives across ranks the same way (see `pairs.py`). `NCELoss` (classic NCE of an
unnormalised density against a fixed noise) is not a two-view loss and is not registered.
"""

from __future__ import annotations

import torch.nn as nn

from ssl_app.losses.clip import CLIPLoss
from ssl_app.losses.debiased import DebiasedLoss
from ssl_app.losses.decoupled import DecoupledLoss
from ssl_app.losses.gather import gather_with_grad
from ssl_app.losses.hard_negative import HardNegativeLoss
from ssl_app.losses.infonce import InfoNCELoss
from ssl_app.losses.nce import NCELoss, PairNCELoss
from ssl_app.losses.soft_target import SoftTargetLoss
from ssl_app.registry import Registry

LOSSES: Registry[nn.Module] = Registry("loss")
LOSSES.register("infonce")(InfoNCELoss)
LOSSES.register("debiased")(DebiasedLoss)
LOSSES.register("hard_negative")(HardNegativeLoss)
LOSSES.register("decoupled")(DecoupledLoss)
LOSSES.register("soft_target")(SoftTargetLoss)
LOSSES.register("clip")(CLIPLoss)
LOSSES.register("nce")(PairNCELoss)


def build_loss(name: str, **kwargs) -> nn.Module:
    """Construct the loss registered as `name` (unknown names list the known ones)."""
    return LOSSES.build(name, **kwargs)


__all__ = [
    "LOSSES",
    "CLIPLoss",
    "DebiasedLoss",
    "DecoupledLoss",
    "HardNegativeLoss",
    "InfoNCELoss",
    "NCELoss",
    "PairNCELoss",
    "SoftTargetLoss",
    "build_loss",
    "gather_with_grad",
]
