"""Optimisers (timm's, by name) and the per-step warmup + cosine schedule.

Weight decay skips biases and norm parameters (timm's `filter_bias_and_bn`); for LARS
those groups are also excluded from the trust-ratio adaptation (timm adapts only
parameters with weight decay), as in SimCLR.
"""

from __future__ import annotations

import math

import timm.optim
import torch
import torch.nn as nn

from ssl_app.errors import ConfigError, require_positive

OPTIMIZERS = ("sgd", "adamw", "lars", "lamb", "adam")
WITH_MOMENTUM = ("sgd", "lars")


def scaled_lr(base_lr: float, global_batch: int) -> float:
    """Linear scaling rule (Goyal et al. 2017): lr = base_lr × global_batch / 256."""
    return base_lr * global_batch / 256


def build_optimizer(
    model: nn.Module,
    name: str,
    lr: float,
    weight_decay: float,
    momentum: float | None = 0.9,
    fused: bool = False,
) -> torch.optim.Optimizer:
    """A timm optimiser over `model`'s parameters, no weight decay on 1-D parameters.

    `momentum`: SGD's and LARS's (the others have none). `fused`: torch's fused Adam(W)
    kernel (CUDA parameters); SGD and LARS use the multi-tensor (foreach) path, torch's
    default on CUDA."""
    if name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimiser '{name}'; choose one of: {', '.join(OPTIMIZERS)}")
    require_positive("optim.lr", lr)
    if weight_decay < 0:
        raise ConfigError(f"optim.weight_decay must be ≥ 0, got {weight_decay}")
    kwargs = {}
    if name in WITH_MOMENTUM:
        if momentum is None:
            raise ConfigError(f"optim={name} needs a momentum; set optim.momentum=0.9")
        kwargs["momentum"] = momentum
    if fused and name in ("adam", "adamw"):
        kwargs["fused"] = True
    return timm.optim.create_optimizer_v2(
        model, opt=name, lr=lr, weight_decay=weight_decay, filter_bias_and_bn=True, **kwargs
    )


def warmup_cosine(
    step: int, warmup_steps: int, total_steps: int, final_ratio: float = 0.0
) -> float:
    """LR multiplier: linear 0→1 over `warmup_steps`, then cosine 1→`final_ratio`."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


class WarmupCosine:
    """The per-step LR multiplier `warmup_cosine` over `total_steps`, whose cosine ends sooner at
    `end_step` when that is set and smaller: the step a time budget runs out at (`TimeBudget`).
    The warm-up takes at most half the steps, so the cosine still ends at 0."""

    def __init__(self, warmup_steps: int, total_steps: int) -> None:
        self.warmup_steps, self.total_steps = warmup_steps, total_steps
        self.end_step: int | None = None

    def __call__(self, step: int) -> float:
        total = min(self.total_steps, self.end_step or self.total_steps)
        return warmup_cosine(step, min(self.warmup_steps, total // 2), total)


class WarmupCosineLR(torch.optim.lr_scheduler.LambdaLR):
    """Per-step LambdaLR with `WarmupCosine`. Its checkpoint holds the step only, not the plan:
    a resumed run plans from its own config (another `epochs` re-plans the cosine)."""

    @property
    def schedule(self) -> WarmupCosine:
        return self.lr_lambdas[0]

    def state_dict(self) -> dict:
        return {**super().state_dict(), "lr_lambdas": [None] * len(self.lr_lambdas)}


def build_scheduler(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int
) -> WarmupCosineLR:
    """Linear warmup over `warmup_steps`, then cosine to 0 at `total_steps` (or sooner)."""
    return WarmupCosineLR(optimizer, WarmupCosine(warmup_steps, total_steps))
