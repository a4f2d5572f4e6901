"""A FIFO queue of past key embeddings: extra negatives beyond the batch (MoCo, He et al. 2020).

Each training step pushes the keys of both views of the global batch (2NW rows, gathered
from every rank, so every rank holds the same queue) and the oldest fall out once K are
held. Keys are detached and stored L2-normalised; the queue is module state (buffers), so
it travels in checkpoints. Reading it (`keys()`) never changes it: only `push` does.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ssl_app.errors import ConfigError
from ssl_app.losses.gather import gather_with_grad


class NegativeQueue(nn.Module):
    """The last `size` keys of dimension `dim`; empty at the start, filled step by step.

    Where the next key goes and how many are held is known on the host (every push has a
    known size), so reading or pushing never waits for the GPU; the `ptr` and `count` buffers
    mirror it for checkpoints and are read back only when a state dict is loaded."""

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("bank", torch.zeros(size, dim))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))  # next slot to write
        self.register_buffer("count", torch.zeros((), dtype=torch.long))  # slots filled
        self.next_slot, self.held = 0, 0

    @property
    def size(self) -> int:
        return len(self.bank)

    def keys(self) -> torch.Tensor:
        """(min(pushed, K), D) the held keys, oldest first."""
        if self.held < self.size:
            return self.bank[: self.held]
        return self.bank.roll(-self.next_slot, 0)

    @torch.no_grad()
    def push(self, *views: torch.Tensor) -> None:
        """Append the keys (M, D) of each view, gathered over ranks, in the order given."""
        keys = torch.cat([gather_with_grad(v.detach()) for v in views])[-self.size :]
        slots = (self.next_slot + torch.arange(len(keys), device=self.bank.device)) % self.size
        self.bank[slots] = F.normalize(keys.to(self.bank.dtype), dim=1)
        self.next_slot = (self.next_slot + len(keys)) % self.size
        self.held = min(self.held + len(keys), self.size)
        self.ptr.fill_(self.next_slot)
        self.count.fill_(self.held)

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self.next_slot, self.held = int(self.ptr), int(self.count)


def check_queue_size(size: object, loss_name: str, takes_negatives: bool) -> int:
    """`loss.queue_size` as an int ≥ 0; refused in one line for a loss without negatives."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ConfigError(f"loss.queue_size must be an integer ≥ 0 (0 = off), got {size!r}")
    if size and not takes_negatives:
        raise ConfigError(
            f"loss.queue_size={size} makes no sense for loss={loss_name}: it takes no negatives "
            "from other images that a queue could extend; use loss.queue_size=0 or a loss of "
            "the InfoNCE family (infonce, debiased, hard_negative, decoupled, soft_target)"
        )
    return size
