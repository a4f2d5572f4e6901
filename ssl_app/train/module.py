"""The LightningModule: backbone + projection head trained with a contrastive loss.

Lightning owns the loop, precision, devices, checkpoints and logging; this class holds
the model, one training step and the optimiser set-up, and what the step feeds the loss
besides the two views: the momentum (EMA) encoder of `model.ema` and the negative queue of
`loss.queue_size`. It takes its three config groups, typed; the whole resolved run config is
only stored, in the checkpoint (`hyper_parameters["cfg"]`), so a checkpoint rebuilds itself.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import asdict
from typing import Any, NamedTuple

import pytorch_lightning as pl
import torch
import torch.nn as nn

from ssl_app.losses import build_loss, build_queue
from ssl_app.losses.config import LossConfig
from ssl_app.models import ProjectionHead
from ssl_app.models.checkpoint import BackboneSpec
from ssl_app.models.config import ModelConfig
from ssl_app.train.config import OptimConfig
from ssl_app.train.optim import build_optimizer, build_scheduler, scaled_lr


def frozen_copy(*modules: nn.Module) -> nn.Sequential:
    """A gradient-free copy of `modules` in sequence (the EMA target encoder)."""
    copy = deepcopy(nn.Sequential(*modules))
    return copy.requires_grad_(False)


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target ← momentum · target + (1 − momentum) · online, parameters and buffers."""
    for t, o in zip(target.state_dict().values(), online.state_dict().values(), strict=True):
        if t.dtype.is_floating_point:
            t.lerp_(o, 1 - momentum)
        else:
            t.copy_(o)


def logs_this_step(trainer: pl.Trainer) -> bool:
    """Whether Lightning writes this training step's logged values (every `log_every_n_steps`).

    Each `self.log` call costs Lightning ~0.5 ms of Python; on a GPU that is the step's
    bottleneck at small images, and values logged on other steps are overwritten unread."""
    return trainer._logger_connector.should_update_logs  # what LearningRateMonitor asks too


class Step(NamedTuple):
    """One contrastive step: the loss and its stats, the backbone features (2N, F) of both
    views, and the keys (t1, t2) of each view that the queue takes."""

    loss: torch.Tensor
    stats: dict[str, torch.Tensor]
    features: torch.Tensor
    keys: tuple[torch.Tensor, torch.Tensor]


class ContrastiveModule(pl.LightningModule):
    """SimCLR-style pretraining: two views → backbone → head → loss(z1, z2).

    With `model.ema.enabled`, a momentum copy of backbone + head (`target`) gives the keys:
    queued negatives and soft_target's targets; without it the keys are the online
    projections with stop-gradient. With `loss.queue_size=K`, the last K keys extend every
    row's negatives.

    `model` must be complete (`in_chans` and `small_images` decided). `run_config`, the whole
    resolved run config as plain containers, is only stored: checkpoints carry it as
    `hyper_parameters["cfg"]` for `ssl-eval`, `ssl-export` and resume (default: the three
    groups given here)."""

    def __init__(
        self,
        model: ModelConfig,
        loss: LossConfig,
        optim: OptimConfig,
        run_config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        own = {"model": asdict(model), "loss": asdict(loss), "optim": asdict(optim)}
        self.save_hyperparameters({"cfg": own if run_config is None else run_config})
        self.optim = optim
        self.compile_mode = model.compile_mode if model.compile else None
        self.backbone = BackboneSpec.from_run_config(model).build()
        self.head = ProjectionHead(self.backbone.num_features, **asdict(model.head))
        self.loss = build_loss(loss.name, **loss.loss_kwargs())
        self.queue = build_queue(loss.name, loss.queue_size, model.head.out_dim)
        self.ema_momentum = model.ema.momentum
        self.target = frozen_copy(self.backbone, self.head) if model.ema.enabled else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features (what evaluation and export use)."""
        return self.backbone(x)

    def contrastive_step(self, x1: torch.Tensor, x2: torch.Tensor) -> Step:
        """Encode both views and score them against the batch and the queue. The queue is only
        read here (`training_step` pushes), so measurements may call this freely."""
        x = torch.cat([x1, x2]).contiguous(memory_format=self.memory_format)
        features = self.backbone(x)
        z1, z2 = self.head(features).float().chunk(2)
        targets = self.momentum_keys(x) if self.target is not None else None
        negatives = self.queue.keys() if self.queue is not None else None
        # Similarities and softmax in fp32: under bf16 autocast the logits lose ~3 digits.
        with torch.autocast(self.device.type, enabled=False):
            loss, stats = self.loss.with_stats(z1, z2, negatives, targets)
        return Step(loss, stats, features, targets or (z1.detach(), z2.detach()))

    @torch.no_grad()
    def momentum_keys(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The EMA encoder's projections (fp32) of the two views stacked in `x`."""
        t1, t2 = self.target(x).float().chunk(2)
        return t1, t2

    def training_step(self, batch: Any, batch_idx: int) -> dict[str, torch.Tensor]:
        """The loss, and the detached backbone features of both views (for the online probe);
        this step's keys join the queue."""
        (x1, x2), _ = batch
        step = self.contrastive_step(x1, x2)
        if self.queue is not None:
            self.queue.push(*step.keys)
        if logs_this_step(self.trainer):
            self.log("train/loss", step.loss, prog_bar=True, sync_dist=True)
            self.log_dict({f"train/{k}": v for k, v in step.stats.items()}, sync_dist=True)
            lr = self.optimizers().param_groups[0]["lr"]  # as a device tensor: a float would be
            self.log("lr", torch.full((), lr, device=self.device), prog_bar=True)  # copied (sync)
        return {"loss": step.loss, "features": step.features.detach()}

    @property
    def memory_format(self) -> torch.memory_format:
        """channels_last: faster convolutions with tensor cores on CUDA and with oneDNN on CPU
        (ResNet-18 at 32 px on 2 cores: +10 % images/s)."""
        return torch.channels_last

    def configure_model(self) -> None:
        """Weights in the input's memory format, before Lightning wraps the model in DDP:
        converted after it, DDP's gradient buckets keep the old strides and the gradients of
        some weights come out wrong (seen: 1x1 convolutions, two processes vs one)."""
        self.to(memory_format=self.memory_format)

    def on_fit_start(self) -> None:
        """`model.compile=true` compiles backbone and head in place (state_dict keys unchanged)."""
        if self.compile_mode is not None:
            for part in (self.backbone, self.head):
                part.compile(mode=self.compile_mode)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.target is not None:
            online = nn.Sequential(self.backbone, self.head)
            ema_update(self.target, online, self.ema_momentum)

    def global_batch_size(self) -> int:
        """Images per optimiser step over all devices and nodes."""
        accumulate = self.trainer.accumulate_grad_batches if self._trainer else 1
        world = self.trainer.world_size if self._trainer else 1
        return self.optim.batch_size * world * accumulate

    def configure_optimizers(self) -> dict[str, Any]:
        lr = scaled_lr(self.optim.base_lr, self.global_batch_size())
        optimizer = build_optimizer(
            self,
            self.optim.name,
            lr,
            self.optim.weight_decay,
            self.optim.momentum,
            fused=self.device.type == "cuda",
        )
        total = int(self.trainer.estimated_stepping_batches)
        steps_per_epoch = max(1, total // max(1, self.trainer.max_epochs))
        warmup = round(self.optim.warmup_epochs * steps_per_epoch)  # at most half: WarmupCosine
        scheduler = build_scheduler(optimizer, warmup, total)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }
