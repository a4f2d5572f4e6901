"""The contrastive loss family behind one registry: `build_loss(name, **kwargs)`.

Every loss is called as `loss(z1, z2)` with (N, D) projections of two views and gathers
negatives across ranks the same way (see `pairs.py`).
"""

from __future__ import annotations

import torch.nn as nn

from ssl_app.losses.gather import gather_with_grad
from ssl_app.losses.infonce import InfoNCELoss
from ssl_app.registry import Registry

LOSSES: Registry[nn.Module] = Registry("loss")
LOSSES.register("infonce")(InfoNCELoss)


def build_loss(name: str, **kwargs) -> nn.Module:
    """Construct the loss registered as `name` (unknown names list the known ones)."""
    return LOSSES.build(name, **kwargs)


__all__ = ["LOSSES", "InfoNCELoss", "build_loss", "gather_with_grad"]
