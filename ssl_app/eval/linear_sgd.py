"""SGD linear head on the frozen backbone, trained on augmented images (the MoCo/SimCLR protocol).

Unlike the L-BFGS probe on cached features, every epoch sees new random crops, so it needs
backbone forward passes each step: meant for GPU runs. The head is BatchNorm1d without affine
parameters (it only whitens the feature scale) followed by `nn.Linear`; SGD momentum 0.9,
cosine learning-rate decay, cross-entropy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterable

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader

from ssl_app.data.base import Transformed
from ssl_app.data.views import build_view_transform
from ssl_app.errors import DataError, require_positive
from ssl_app.eval.features import _module_device, eval_mode
from ssl_app.progress import bar

EMPTY = "the {split} split is empty; check the data set root and split"


def augmented_train_loader(datamodule, batch_size: int) -> DataLoader:
    """Shuffled labelled training split with the data set's crop + flip (no colour changes)."""
    base = datamodule.eval_dataloaders()[0].dataset.base
    views = dataclasses.replace(
        datamodule.views, color_jitter=0.0, jitter_prob=0.0, grayscale_prob=0.0, blur_prob=0.0
    )
    transform = build_view_transform(datamodule.image_size, datamodule.info, views)
    return DataLoader(
        Transformed(base, transform),
        batch_size=batch_size,
        shuffle=True,
        num_workers=datamodule.num_workers,
        pin_memory=datamodule.pin_memory,
        persistent_workers=datamodule.persistent_workers,
    )


def _autocast(device: torch.device):
    """bf16 autocast for the backbone on CUDA; nothing elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def _features(backbone: nn.Module, images: torch.Tensor, device: torch.device) -> torch.Tensor:
    with _autocast(device):
        out = backbone(images.to(device, non_blocking=True))
    return out.flatten(1).float()


def _feature_width(backbone: nn.Module, loader: Iterable, device: torch.device) -> int:
    """`backbone.num_features` (timm), else the width of one batch's features."""
    width = getattr(backbone, "num_features", None)
    if isinstance(width, int):
        return width
    images, _ = next(iter(loader))
    return _features(backbone, images[:2], device).shape[1]


def linear_head(width: int, num_classes: int, batch_norm: bool = True) -> nn.Sequential:
    """BatchNorm1d(affine=False) + Linear, zero-initialised bias and small weights."""
    linear = nn.Linear(width, num_classes)
    nn.init.normal_(linear.weight, std=0.01)
    nn.init.zeros_(linear.bias)
    norm = [nn.BatchNorm1d(width, affine=False)] if batch_norm else []
    return nn.Sequential(*norm, linear)


@torch.no_grad()
def head_accuracy(
    backbone: nn.Module, head: nn.Module, loader: Iterable, device: torch.device
) -> dict[str, float]:
    """Top-1 / top-5 (top-k for fewer than 5 classes) of backbone + head over `loader`, both in
    eval mode (their train/eval modes restored after)."""
    hits, total = torch.zeros(2), 0
    with eval_mode(backbone), eval_mode(head):
        for images, labels in loader:
            logits = head(_features(backbone, images, device))
            top = logits.topk(min(5, logits.shape[1]), dim=1).indices.cpu()
            correct = top == torch.as_tensor(labels)[:, None]
            hits += torch.stack([correct[:, 0].sum(), correct.any(1).sum()]).float()
            total += len(correct)
    if total == 0:
        raise DataError(EMPTY.format(split="test"))
    return {"top1": (hits[0] / total).item(), "top5": (hits[1] / total).item()}


def _train_epoch(backbone, head, loader, optimiser, schedule, device) -> float:
    """One pass of SGD steps on the head; the mean training loss."""
    head.train()
    total = torch.zeros((), device=device)
    for images, labels in loader:
        loss = F.cross_entropy(
            head(_features(backbone, images, device)), torch.as_tensor(labels).to(device)
        )
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        total += loss.detach()
    return total.item() / max(len(loader), 1)


def train_linear_head(
    backbone: nn.Module,
    train_loader: DataLoader,
    test_loader: Iterable,
    num_classes: int,
    epochs: int = 100,
    lr: float = 0.1,
    device: torch.device | str | None = None,
    weight_decay: float = 0.0,
    batch_norm: bool = True,
    progress: bool = True,
) -> dict[str, float]:
    """Train a linear head on the frozen `backbone`; test top-1/top-5 (0..1) and final loss.

    The backbone runs in eval mode under no_grad (its weights and BN statistics stay as they
    are); its train/eval mode is restored afterwards. `device=None` keeps it where it is.
    """
    require_positive("linear_sgd.epochs", epochs)
    require_positive("linear_sgd.lr", lr)
    if len(train_loader) == 0:
        raise DataError(EMPTY.format(split="training"))
    if device is not None:
        backbone = backbone.to(device)
    device = _module_device(backbone)
    with eval_mode(backbone):
        head = linear_head(_feature_width(backbone, train_loader, device), num_classes, batch_norm)
        head = head.to(device)
        optimiser = torch.optim.SGD(
            head.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay
        )
        steps = epochs * len(train_loader)
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda step: 0.5 * (1 + math.cos(math.pi * step / steps))
        )
        with bar("linear head (SGD epochs)", epochs, progress) as advance:
            for _ in range(epochs):
                loss = _train_epoch(backbone, head, train_loader, optimiser, schedule, device)
                advance(status=f"loss {loss:.3f}")
        return {**head_accuracy(backbone, head, test_loader, device), "train_loss": loss}
