"""Resume as a continuation: the random streams travel in every checkpoint, and the metrics
logged before a checkpoint are on disk when it is written.

With both, a run killed after epoch k and resumed draws the same data order and the same
augmentations as the uninterrupted run, and its metrics.csv ends with the same rows.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch


def rng_states() -> dict[str, Any]:
    """torch, CUDA, numpy and Python generator states as tensors, ints and tuples only, so a
    checkpoint holding them still loads with `torch.load(weights_only=True)`."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    states = {
        "torch": torch.get_rng_state(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Inverse of `rng_states` (a CUDA state is skipped when the device count differs)."""
    torch.set_rng_state(states["torch"])
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    cuda = states.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


class ContinueRandomStreams(pl.Callback):
    """Saves the generators' states in each checkpoint and puts them back as soon as Lightning
    restores the checkpoint: before the first data iterator is made (Lightning makes it before
    `on_train_start`), since the sampler and the views draw from them. Under DDP each rank then
    re-seeds from its stream plus its rank, so ranks draw different views."""

    def __init__(self) -> None:
        self.resumed = False

    def state_dict(self) -> dict[str, Any]:
        return {"rng": rng_states()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        set_rng_states(state_dict["rng"])
        self.resumed = True

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.world_size > 1:
            # In-process loading draws from the global RNG, which is equal on all ranks here.
            base = _draw_seed() if self.resumed else torch.initial_seed()
            torch.manual_seed(base + trainer.global_rank)


def _draw_seed() -> int:
    return int(torch.randint(0, 2**62, ()).item())


class FlushMetrics(pl.Callback):
    """Writes the loggers' buffered rows whenever a checkpoint is saved and when an epoch
    starts (after the previous epoch's metrics were logged), so a SIGKILL loses only rows
    that the resumed run logs again."""

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module, checkpoint: dict) -> None:
        _flush(trainer)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        _flush(trainer)


def _flush(trainer: pl.Trainer) -> None:
    if trainer.is_global_zero:
        for logger in trainer.loggers:
            logger.save()
