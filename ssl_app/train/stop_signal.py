"""SIGTERM (scancel, docker stop, preemption) stops every rank at the same step, none hangs.

Lightning 2.6 broadcasts from inside its SIGTERM handler, and that broadcast pairs with the one
its epoch loop makes before every training step, so a signal landing mid-step can leave the
ranks in different collectives (a scancel'd 2-rank run hung in 3 of 4 tries); the per-step
broadcast is also a host-device sync every DDP step (Lightning-AI/pytorch-lightning#21487).
Here the handler only sets a flag, and the ranks agree every `AGREE_EVERY_N_STEPS` steps and at
each epoch's end: when any rank was signalled, Lightning's `received_sigterm` turns true on all
of them at once, its loops raise `SIGTERMException` at the same point, and `SaveOnInterrupt`
writes `last.ckpt`. A single process needs no agreement and stops at the current step.
"""

from __future__ import annotations

from types import FrameType

import pytorch_lightning as pl
from pytorch_lightning.trainer.connectors.signal_connector import _SignalConnector

from ssl_app.train.callbacks import READ_EVERY_N_STEPS

# One all-reduce of a flag on the steps `StopOnNonFinite` already reads the device on: no extra
# host-device sync, and a stop at most 19 steps after the signal.
AGREE_EVERY_N_STEPS = READ_EVERY_N_STEPS


class FlagOnlySigterm(_SignalConnector):
    """Lightning's signal connector (SLURM's requeue handler, other handlers chained, all restored
    after fit) whose SIGTERM handler only sets a flag: no collective inside a signal handler."""

    def __init__(self, trainer: pl.Trainer) -> None:
        super().__init__(trainer)
        self.requested = False

    def register_signal_handlers(self) -> None:
        self.requested = False
        super().register_signal_handlers()

    def _sigterm_notifier_fn(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if self.trainer.world_size == 1:
            self.received_sigterm = True

    def agree(self) -> None:
        """One collective, on every rank at the same step: any rank's SIGTERM stops all of them."""
        if self.trainer.strategy.reduce_boolean_decision(self.requested, all=False):
            self.received_sigterm = True


class StopTogetherOnSigterm(pl.Callback):
    """Puts `FlagOnlySigterm` in place of Lightning's SIGTERM handler and per-step broadcast for
    `fit`, and runs its agreement every `every_n_steps` steps and at each epoch's end."""

    def __init__(self, every_n_steps: int = AGREE_EVERY_N_STEPS) -> None:
        self.every_n_steps = every_n_steps
        self.connector: FlagOnlySigterm | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit":  # before fit registers the handlers
            self.connector = trainer._signal_connector = FlagOnlySigterm(trainer)
            trainer.fit_loop.epoch_loop._broadcast_sigterm_tensor = lambda: None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step % self.every_n_steps == 0:
            self.connector.agree()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.connector.agree()
