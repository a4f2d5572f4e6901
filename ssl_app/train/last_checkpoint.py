"""`last.ckpt` for resume, saved by time rather than every epoch.

On a GPU an epoch of small images takes seconds (Fashion-MNIST at 28 px: ~3 s on an H200) and a
ResNet-18 checkpoint with its optimiser state ~0.2 s to write (94 MB, fsync'd): saved every
epoch, up to a tenth of the run went to checkpoints. Here it is saved after the first epoch,
then at the first epoch end `every_s` seconds after the previous save, and after the last
epoch, whose weights the final table names; an interrupt saves its own (`SaveOnInterrupt`).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Checkpoint


class SaveLast(Checkpoint):
    """Writes `path` at the epoch ends `due` picks; every rank decides as rank 0 does (the save
    is collective under DDP, and the ranks' clocks differ). A `Checkpoint`, so Lightning runs it
    after the other callbacks' epoch ends, as it did `ModelCheckpoint`, and adds no default one."""

    def __init__(self, path: Path, every_s: float) -> None:
        self.path, self.every_s = path, every_s
        self.saved_at = -math.inf

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.strategy.broadcast(self.due(trainer), src=0):
            trainer.save_checkpoint(self.path, weights_only=False)  # unset: a log line each
            self.saved_at = time.monotonic()

    def due(self, trainer: pl.Trainer) -> bool:
        """The first epoch, `every_s` since the last save, or the last epoch of the run."""
        epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else math.inf
        last_epoch = trainer.current_epoch + 1 >= epochs
        steps_done = 0 <= trainer.max_steps <= trainer.global_step
        stopping = trainer.should_stop or last_epoch or steps_done
        return stopping or time.monotonic() - self.saved_at >= self.every_s
