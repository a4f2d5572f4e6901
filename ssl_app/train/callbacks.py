"""Callbacks: the online kNN monitor, the checkpoint set-up, the divergence stop and the
checkpoint on SIGTERM / Ctrl-C.

kNN runs on global rank 0 and its top-1 is broadcast, so every rank logs the same
value and `ModelCheckpoint(monitor=...)` decides identically everywhere; its bank and queries
are capped, so rank 0 finishes far inside the collective's timeout on any data set.
"""

from __future__ import annotations

import signal
import warnings
from collections.abc import Callable
from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities.exceptions import SIGTERMException
from torch.utils.data import DataLoader

from ssl_app.errors import DivergedError, require_positive
from ssl_app.eval.features import capped_loader, extract_features
from ssl_app.eval.knn import knn_top1
from ssl_app.progress import say
from ssl_app.train.last_checkpoint import SaveLast

# Steps on which callbacks read values from the device (a host-device sync on a GPU): the
# divergence check and the DDP ranks' agreements (stop_signal.py, time_budget.py) share them.
READ_EVERY_N_STEPS = 20


def ranks_agree_now(trainer: pl.Trainer, every_n_steps: int = READ_EVERY_N_STEPS) -> bool:
    """Whether the ranks agree on a decision at this step: under DDP every `every_n_steps` steps
    (a collective), alone every step (no collective, nobody to wait for)."""
    return trainer.world_size == 1 or trainer.global_step % every_n_steps == 0


KNN_METRIC = "val/knn_top1"
KNN_BANK_MAX = 100_000  # training images in the monitor's bank (CIFAR: 45,000; ImageNet: 1.15M)
KNN_QUERY_MAX = 20_000  # validation queries


def log_validation_score(
    trainer: pl.Trainer, pl_module: pl.LightningModule, metric: str, score: Callable[[], float]
) -> None:
    """`score()` computed on global rank 0 and broadcast, so every rank logs the same `metric`.

    The global CPU random state is saved and restored around it: evaluation loaders draw their
    seeds from it, and a run's batches and views must not depend on how often it is monitored."""
    with torch.random.fork_rng(devices=[]):
        value = score() if trainer.is_global_zero else 0.0
    pl_module.log(metric, trainer.strategy.broadcast(value, src=0), prog_bar=True)


def is_monitor_epoch(trainer: pl.Trainer, every_n_epochs: int) -> bool:
    """Whether the epoch now ending is scored on validation: every `every_n_epochs` and the last
    (also one a stop ends early, e.g. `trainer.max_time`)."""
    epoch = trainer.current_epoch + 1
    return epoch % every_n_epochs == 0 or epoch == trainer.max_epochs or trainer.should_stop


class OnlineKNN(pl.Callback):
    """Weighted kNN top-1 on the validation split (bank: the rest of the training split)
    every `every_n_epochs` and at the end; never reads test. Above `bank_max` / `query_max`
    images a seeded random subset (the same every epoch) stands for each."""

    def __init__(
        self,
        every_n_epochs: int = 5,
        k: int = 200,
        temperature: float = 0.1,
        bank_max: int = KNN_BANK_MAX,
        query_max: int = KNN_QUERY_MAX,
        seed: int = 0,
    ) -> None:
        require_positive("eval.knn_bank_max", bank_max)
        require_positive("eval.knn_query_max", query_max)
        self.every_n_epochs = every_n_epochs
        self.k = k
        self.temperature = temperature
        self.bank_max, self.query_max, self.seed = bank_max, query_max, seed
        self._loaders: tuple[DataLoader, DataLoader] | None = None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if is_monitor_epoch(trainer, self.every_n_epochs):
            score = lambda: self.knn_top1(trainer, pl_module)  # noqa: E731
            log_validation_score(trainer, pl_module, KNN_METRIC, score)

    def loaders(self, datamodule) -> tuple[DataLoader, DataLoader]:
        """(bank, queries) loaders, capped; made once, with one line when a cap applies."""
        if self._loaders is None:
            bank, queries = datamodule.monitor_dataloaders()
            self._loaders = (
                capped_loader(bank, self.bank_max, self.seed),
                capped_loader(queries, self.query_max, self.seed),
            )
            if self._loaders != (bank, queries):
                capped_bank, capped_queries = (len(loader.dataset) for loader in self._loaders)
                say(
                    f"online kNN: bank {capped_bank:,} of {len(bank.dataset):,} training images, "
                    f"{capped_queries:,} of {len(queries.dataset):,} validation queries (seeded "
                    f"subsets; eval.knn_bank_max={self.bank_max}, knn_query_max={self.query_max})"
                )
        return self._loaders

    def knn_top1(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> float:
        bank_loader, val_loader = self.loaders(trainer.datamodule)
        bank, bank_labels = extract_features(pl_module.backbone, bank_loader, progress=False)
        queries, query_labels = extract_features(pl_module.backbone, val_loader, progress=False)
        return knn_top1(bank, bank_labels, queries, query_labels, self.k, self.temperature)


def checkpoint_callbacks(run_dir: Path, monitor_knn: bool, last_every_s: float) -> list:
    """`last.ckpt` (for resume; `SaveLast`: by time, and at the end) and, with labels,
    `best-knn.ckpt`.

    The best-kNN checkpoint is considered every epoch; it only changes when `OnlineKNN`
    logged a better top-1 (the epochs it runs on include the last one).
    """
    ckpt_dir = run_dir / "checkpoints"
    callbacks: list[pl.Callback] = [SaveLast(ckpt_dir / "last.ckpt", last_every_s)]
    if monitor_knn:
        # The kNN metric exists on evaluation epochs only; the others have nothing to compare.
        warnings.filterwarnings("ignore", message=f".*monitor='{KNN_METRIC}'.*could not find")
        best = ModelCheckpoint(
            dirpath=ckpt_dir,
            filename="best-knn",
            monitor=KNN_METRIC,
            mode="max",
            save_top_k=1,
            auto_insert_metric_name=False,
        )
        callbacks.append(best)
    return callbacks


class StopOnNonFinite(pl.Callback):
    """Stop a diverged run with one line (exit 2) before its weights reach a checkpoint.

    Finiteness is accumulated on the device each step and read every `every_n_steps` and at
    each epoch's end, which Lightning runs before the checkpoint callbacks save.
    """

    def __init__(self, every_n_steps: int = READ_EVERY_N_STEPS) -> None:
        self.every_n_steps = every_n_steps
        self.finite: torch.Tensor | None = None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        finite = torch.isfinite(loss.detach()).all()
        self.finite = finite if self.finite is None else self.finite & finite
        if trainer.global_step % self.every_n_steps == 0:
            self.check(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.check(trainer)

    def check(self, trainer: pl.Trainer) -> None:
        if self.finite is not None and not bool(self.finite):
            raise DivergedError(
                f"the loss became inf/nan by step {trainer.global_step}; the run stopped and "
                "the last checkpoint was kept; lower optim.base_lr or raise loss.temperature"
            )


class SaveOnInterrupt(pl.Callback):
    """SIGTERM (docker stop, scancel, preemption) or Ctrl-C: write a resumable `last.ckpt`
    at the current step and remember the signal, so the run can exit with 128 + its number.

    Under DDP both arrive as Lightning's SIGTERMException on every rank at one step
    (`stop_signal.py` says which); a KeyboardInterrupt there is a second Ctrl-C, which leaves
    the ranks wherever they were, so nothing is saved (the save would wait for them forever)."""

    def __init__(self, ckpt_dir: Path) -> None:
        self.path = ckpt_dir / "last.ckpt"
        self.signal: int | None = None
        self.saved = False

    def on_exception(self, trainer: pl.Trainer, pl_module, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException):
            agreed = getattr(trainer._signal_connector, "stop_signal", 0)
            self.signal = agreed or signal.SIGTERM
        elif isinstance(exception, KeyboardInterrupt):
            self.signal = signal.SIGINT
            if trainer.world_size > 1:
                return
        else:
            return
        trainer.save_checkpoint(self.path, weights_only=False)  # unset, Lightning logs each save
        self.saved = True
