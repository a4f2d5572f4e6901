"""All-gather with gradients: every rank sees every rank's rows, and backward sends
each row's gradient back to the rank that produced it.

`torch.distributed.nn.functional.all_gather` is autograd-aware: its backward is a
reduce-scatter (sum) of the incoming gradients, which is exactly right when every rank
computes its own loss term on (local rows × global columns) and DDP then averages
parameter gradients over ranks.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_nn


def world_size() -> int:
    """Number of processes in the default group (1 when not distributed)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank in the default group (0 when not distributed)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate `x` (N, ...) from all ranks along dim 0 → (N·W, ...); identity if W = 1."""
    if world_size() == 1:
        return x
    return torch.cat(dist_nn.all_gather(x), dim=0)
