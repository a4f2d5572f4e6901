"""Online linear probe: a linear classifier trained on the detached backbone features of the
training views while pretraining runs, scored on the validation split every epoch.

As in solo-learn and lightly, the probe learns from the features the training step already
computed (no extra forward pass) with the batch's labels (-1 = unlabelled, skipped; validation
images arrive unlabelled), with its own optimiser, so no gradient reaches the backbone. A
steadier and cheaper signal than the kNN monitor; it follows a moving backbone, so it sits
below a linear probe fitted on frozen final features.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from ssl_app.eval.linear_sgd import head_accuracy, linear_head
from ssl_app.train.callbacks import is_monitor_epoch, log_validation_score
from ssl_app.train.module import logs_this_step

ONLINE_LINEAR_METRIC = "val/online_linear_top1"
HEAD_SEED = 0  # the head's own initial draw: same on every rank, global RNG untouched


class OnlineLinearProbe(pl.Callback):
    """BatchNorm(affine=False) + Linear on the training step's `outputs["features"]`; SGD with
    momentum at a constant `lr`; top-1 on validation every `every_n_epochs` and after the last
    epoch (rank 0, broadcast), the epochs the kNN monitor scores."""

    def __init__(
        self, num_classes: int, every_n_epochs: int = 1, lr: float = 0.1, momentum: float = 0.9
    ) -> None:
        self.num_classes, self.every_n_epochs = num_classes, every_n_epochs
        self.lr, self.momentum = lr, momentum
        self.head: torch.nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.restored: dict[str, Any] | None = None

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Head and optimiser on the module's device; a resumed state is loaded into them."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(HEAD_SEED)
            head = linear_head(pl_module.backbone.num_features, self.num_classes)
        self.head = head.to(pl_module.device)
        self.optimizer = torch.optim.SGD(self.head.parameters(), self.lr, self.momentum)
        if self.restored is not None:
            self.load_state_dict(self.restored)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        """One SGD step on the labelled rows of the global batch (both views of each image).

        Unlabelled rows (-1) are weighted out rather than indexed out, so the step never waits
        for the GPU; a batch without labels gives a zero gradient (momentum still moves)."""
        features = gathered(pl_module, outputs["features"])
        labels = gathered(pl_module, batch[1].repeat(2)).long()
        with torch.enable_grad(), torch.autocast(pl_module.device.type, enabled=False):
            self.head.train()
            logits = self.head(features.float())
            summed = F.cross_entropy(logits, labels, ignore_index=-1, reduction="sum")
            loss = summed / (labels >= 0).sum().clamp(min=1)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if logs_this_step(trainer):
            pl_module.log("train/online_linear_loss", loss.detach())

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if is_monitor_epoch(trainer, self.every_n_epochs):
            score = lambda: self.val_top1(trainer, pl_module)  # noqa: E731
            log_validation_score(trainer, pl_module, ONLINE_LINEAR_METRIC, score)

    def val_top1(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> float:
        """Top-1 of backbone + head (both in eval mode) on the validation split."""
        _, val_loader = trainer.datamodule.monitor_dataloaders()
        return head_accuracy(pl_module.backbone, self.head, val_loader, pl_module.device)["top1"]

    def state_dict(self) -> dict[str, Any]:
        if self.head is None:
            return {}
        return {"head": self.head.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Into the head if it exists, else kept until `on_fit_start` builds it (Lightning
        restores callbacks before the module reaches its device)."""
        if not state_dict:
            return
        if self.head is None:
            self.restored = state_dict
            return
        self.head.load_state_dict(state_dict["head"])
        self.optimizer.load_state_dict(state_dict["optimizer"])
        self.restored = None


def gathered(pl_module: pl.LightningModule, x: torch.Tensor) -> torch.Tensor:
    """`x` of every rank concatenated along dim 0 (every rank takes the same probe step)."""
    if pl_module.trainer.world_size == 1:
        return x
    return pl_module.all_gather(x).flatten(0, 1)
