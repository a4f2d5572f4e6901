"""SIGTERM (scancel, docker stop, preemption) or Ctrl-C stops every rank at the same step, and
none hangs; SLURM's requeue signal saves a checkpoint there, on every rank at once.

Lightning 2.6 broadcasts from inside its SIGTERM handler, and that broadcast pairs with the one
its epoch loop makes before every training step, so a signal landing mid-step can leave the
ranks in different collectives (a scancel'd 2-rank run hung in 3 of 4 tries); the per-step
broadcast is also a host-device sync every DDP step (Lightning-AI/pytorch-lightning#21487).
Ctrl-C is worse: a KeyboardInterrupt raised in each rank wherever it happens to be, then a
checkpoint whose save waits at a barrier the other ranks never reach (a 2-rank run hung).
Lightning's SLURM requeue handler saves a checkpoint, barrier included, inside the handler:
the same mismatched collectives, and a checkpoint taken mid-step (half an optimiser step).
Here the handlers only set a flag, and the ranks agree every `AGREE_EVERY_N_STEPS` steps and at
each epoch's end: when any rank was signalled, Lightning's `received_sigterm` turns true on all
of them at once, its loops raise `SIGTERMException` at the same point, and `SaveOnInterrupt`
writes `last.ckpt` and reads which signal it was from `stop_signal`; a requeue signal saves
`hpc_ckpt_N.ckpt` on all of them at that step and training goes on. A single process needs no
collective: SIGTERM stops it at the current step, the requeue save waits for the step's end,
Ctrl-C is Python's KeyboardInterrupt.
"""

from __future__ import annotations

import signal
from types import FrameType

import pytorch_lightning as pl
import torch
from pytorch_lightning.trainer.connectors.signal_connector import _SignalConnector

from ssl_app.train.callbacks import READ_EVERY_N_STEPS, ranks_agree_now

# One all-reduce of a flag on the steps `StopOnNonFinite` already reads the device on: no extra
# host-device sync, and a stop at most 19 steps after the signal.
AGREE_EVERY_N_STEPS = READ_EVERY_N_STEPS


class FlagOnlySignals(_SignalConnector):
    """Lightning's signal connector (other handlers chained, all restored after fit) whose
    handlers only note the signal: no collective, no checkpoint and, under DDP, no exception
    inside a signal handler. SIGTERM; SIGINT (Ctrl-C) under DDP; SLURM's requeue signal
    (SIGUSR1 before the time limit), whose checkpoint + requeue Lightning ran in the handler.

    `requested`: the stop signal this rank received (0: none; SIGTERM outranks SIGINT);
    `stop_signal`: the one the ranks agreed to stop on; `requeued`: the requeue is done."""

    def __init__(self, trainer: pl.Trainer) -> None:
        super().__init__(trainer)
        self.requested = self.stop_signal = 0
        self.requeue_requested = self.requeued = False

    def register_signal_handlers(self) -> None:
        self.requested = self.stop_signal = 0
        self.requeue_requested = self.requeued = False
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

    def _slurm_sigusr_handler_fn(self, signum: int, frame: FrameType | None) -> None:
        self.requeue_requested = True

    def request(self, signum: int) -> None:
        self.requested = max(self.requested, int(signum))
        if self.trainer.world_size == 1:  # nobody to agree with: stop at this step
            self.stop_signal, self.received_sigterm = self.requested, True

    def agree(self) -> None:
        """On every rank at the same step (one all-reduce under DDP): any rank's signal holds
        for all. A requeue signal saves `hpc_ckpt_N.ckpt` and requeues the job (Lightning's
        handler, run here between steps); SIGTERM or Ctrl-C stops the run."""
        stop, requeue = self.requested, int(self.requeue_requested)
        if self.trainer.world_size > 1:
            flags = torch.tensor([stop, requeue], device=self.trainer.strategy.root_device)
            stop, requeue = self.trainer.strategy.reduce(flags, reduce_op="max").tolist()
        if requeue and not self.requeued:
            self.requeued = True
            super()._slurm_sigusr_handler_fn(signal.SIGUSR1, None)
        if stop:
            self.stop_signal, self.received_sigterm = stop, True


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
        if ranks_agree_now(trainer, self.every_n_steps):
            self.connector.agree()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.connector.agree()
