"""SIGTERM (scancel, docker stop, preemption) or Ctrl-C stops every rank at the same step, and
none hangs.

Lightning 2.6 broadcasts from inside its SIGTERM handler, and that broadcast pairs with the one
its epoch loop makes before every training step, so a signal landing mid-step can leave the
ranks in different collectives (a scancel'd 2-rank run hung in 3 of 4 tries); the per-step
broadcast is also a host-device sync every DDP step (Lightning-AI/pytorch-lightning#21487).
Ctrl-C is worse: a KeyboardInterrupt raised in each rank wherever it happens to be, then a
checkpoint whose save waits at a barrier the other ranks never reach (a 2-rank run hung).
Here the handlers only set a flag, and the ranks agree every `AGREE_EVERY_N_STEPS` steps and at
each epoch's end: when any rank was signalled, Lightning's `received_sigterm` turns true on all
of them at once, its loops raise `SIGTERMException` at the same point, and `SaveOnInterrupt`
writes `last.ckpt` and reads which signal it was from `stop_signal`. A single process needs no
agreement: SIGTERM stops it at the current step, Ctrl-C is Python's KeyboardInterrupt.
"""

from __future__ import annotations

import signal
from types import FrameType

import pytorch_lightning as pl
import torch
from pytorch_lightning.trainer.connectors.signal_connector import _SignalConnector

from ssl_app.train.callbacks import READ_EVERY_N_STEPS

# One all-reduce of a flag on the steps `StopOnNonFinite` already reads the device on: no extra
# host-device sync, and a stop at most 19 steps after the signal.
AGREE_EVERY_N_STEPS = READ_EVERY_N_STEPS


class FlagOnlySignals(_SignalConnector):
    """Lightning's signal connector (SLURM's requeue handler, other handlers chained, all restored
    after fit) whose SIGTERM handler, and under DDP its SIGINT handler, only note the signal: no
    collective, and no exception mid-collective, inside a signal handler.

    `requested`: the signal this rank received (0: none; SIGTERM outranks SIGINT);
    `stop_signal`: the one the ranks agreed to stop on."""

    def __init__(self, trainer: pl.Trainer) -> None:
        super().__init__(trainer)
        self.requested = self.stop_signal = 0

    def register_signal_handlers(self) -> None:
        self.requested = self.stop_signal = 0
        super().register_signal_handlers()
        if self.trainer.world_size > 1:
            self._register_signal(signal.SIGINT, self._sigint_notifier_fn)

    def _sigterm_notifier_fn(self, signum: int, frame: FrameType | None) -> None:
        self.request(signal.SIGTERM)

    def _sigint_notifier_fn(self, signum: int, frame: FrameType | None) -> None:
        """Ctrl-C under DDP; a second one aborts at once, without a checkpoint."""
        if self.requested == signal.SIGINT:
            raise KeyboardInterrupt
        self.request(signal.SIGINT)

    def request(self, signum: int) -> None:
        self.requested = max(self.requested, int(signum))
        if self.trainer.world_size == 1:
            self.stop_signal, self.received_sigterm = self.requested, True

    def agree(self) -> None:
        """One collective, on every rank at the same step: any rank's signal stops all of them."""
        if self.trainer.world_size == 1:  # `request` stopped it already
            return
        requested = torch.tensor(self.requested, device=self.trainer.strategy.root_device)
        agreed = int(self.trainer.strategy.reduce(requested, reduce_op="max"))
        if agreed:
            self.stop_signal, self.received_sigterm = agreed, True


class StopTogetherOnSignals(pl.Callback):
    """Puts `FlagOnlySignals` in place of Lightning's signal handlers and per-step broadcast for
    `fit`, and runs its agreement every `every_n_steps` steps and at each epoch's end."""

    def __init__(self, every_n_steps: int = AGREE_EVERY_N_STEPS) -> None:
        self.every_n_steps = every_n_steps
        self.connector: FlagOnlySignals | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit":  # before fit registers the handlers
            self.connector = trainer._signal_connector = FlagOnlySignals(trainer)
            trainer.fit_loop.epoch_loop._broadcast_sigterm_tensor = lambda: None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step % self.every_n_steps == 0:
            self.connector.agree()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.connector.agree()
