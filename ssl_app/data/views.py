"""Positive pairs: two independent random augmentations of one image (SimCLR's recipe).

Cropping and flipping run on the uint8 image (4x less memory traffic than float); colour,
grayscale, blur and normalisation run on the float crop, with the fast photometric ops of
`augment.py`. Randomness comes from torch's
global RNG, which Lightning's `seed_everything(workers=True)` seeds per rank and per worker.
`view_ops` decides which ops a view has and how strong they are, for this per-sample path and
for the batched one on the training device (`batch_views.py`) alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torchvision.transforms import v2

from ssl_app.data.augment import ColourJitter, GaussianBlur, RandomResizedCrop
from ssl_app.data.base import DatasetInfo
from ssl_app.data.config import ViewConfig

BLUR_MIN_SIZE = 96  # blur hurts at CIFAR scale (SimCLR appendix B.9); use it from STL-10 size up
EVAL_CROP_RATIO = 0.875  # ImageNet convention: resize to 256, centre-crop 224


@dataclass(frozen=True)
class ViewOps:
    """The random ops of one view, each with the probability it applies (0 = left out)."""

    crop: RandomResizedCrop
    hflip: float
    jitter: ColourJitter
    jitter_prob: float
    grayscale_prob: float
    blur: GaussianBlur
    blur_prob: float
    solarize_prob: float


def _colour_jitter(strength: float, channels: int) -> ColourJitter:
    """SimCLR's jitter: brightness, contrast, saturation 0.8 s, hue 0.2 s; gray: the first two."""
    if channels == 1:
        return ColourJitter(brightness=0.8 * strength, contrast=0.8 * strength)
    return ColourJitter(0.8 * strength, 0.8 * strength, 0.8 * strength, min(0.2 * strength, 0.5))


def view_ops(image_size: int, info: DatasetInfo, views: ViewConfig) -> ViewOps:
    """Which ops a view has and how strong: one decision that both augmentation paths follow."""
    kernel = int(0.1 * image_size) // 2 * 2 + 1  # about 10 % of the image, odd (SimCLR)
    return ViewOps(
        crop=RandomResizedCrop(image_size, scale=views.crop_scale),
        hflip=views.hflip,
        jitter=_colour_jitter(views.color_jitter, info.channels),
        jitter_prob=views.jitter_prob if views.color_jitter > 0 else 0.0,
        grayscale_prob=views.grayscale_prob if info.channels == 3 else 0.0,
        blur=GaussianBlur(kernel, sigma=(0.1, 2.0)),
        blur_prob=views.blur_prob if image_size >= BLUR_MIN_SIZE else 0.0,
        solarize_prob=views.solarize_prob,
    )


def build_view_transform(image_size: int, info: DatasetInfo, views: ViewConfig) -> v2.Compose:
    """One random view: uint8 (C, H, W) image → normalised float32 (C, image_size, image_size)."""
    ops = view_ops(image_size, info, views)
    steps: list[Callable] = [ops.crop]
    if ops.hflip > 0:
        steps.append(v2.RandomHorizontalFlip(p=ops.hflip))
    steps.append(v2.ToDtype(torch.float32, scale=True))
    if ops.jitter_prob > 0:
        steps.append(v2.RandomApply([ops.jitter], p=ops.jitter_prob))
    if ops.grayscale_prob > 0:
        steps.append(v2.RandomGrayscale(p=ops.grayscale_prob))
    if ops.blur_prob > 0:
        steps.append(v2.RandomApply([ops.blur], p=ops.blur_prob))
    if ops.solarize_prob > 0:
        steps.append(v2.RandomSolarize(threshold=0.5, p=ops.solarize_prob))
    steps.append(v2.Normalize(info.mean, info.std))
    return v2.Compose(steps)


def eval_resize(image_size: int, info: DatasetInfo) -> int | None:
    """The side the eval transform resizes to before its centre crop (None: native size, kept)."""
    if info.image_size == image_size:
        return None
    return image_size if info.image_size else round(image_size / EVAL_CROP_RATIO)


def eval_preprocessing(image_size: int, info: DatasetInfo) -> dict:
    """The eval transform in timm's `pretrained_cfg` terms (input_size, interpolation, crop_pct,
    mean, std), so `timm.data.create_transform` rebuilds it for exported models.

    timm resizes to floor(image_size / crop_pct): crop_pct aims at the middle of the resize
    side's pixel, so float rounding cannot land one pixel short."""
    resize = eval_resize(image_size, info) or image_size
    return {
        "input_size": (info.channels, image_size, image_size),
        "interpolation": "bilinear",
        "crop_pct": 1.0 if resize == image_size else image_size / (resize + 0.5),
        "mean": tuple(info.mean),
        "std": tuple(info.std),
    }


def build_eval_transform(image_size: int, info: DatasetInfo) -> v2.Compose:
    """Deterministic: bilinear resize + centre crop (skipped at the native size) + normalise."""
    steps: list[Callable] = []
    if resize := eval_resize(image_size, info):
        bilinear = v2.InterpolationMode.BILINEAR
        steps += [v2.Resize(resize, bilinear, antialias=True), v2.CenterCrop(image_size)]
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(info.mean, info.std)]
    return v2.Compose(steps)


class TwoViews:
    """`image → (t(image), t(image))`: two independent draws of the same random transform."""

    def __init__(self, transform: Callable) -> None:
        self.transform = transform

    def __call__(self, image):
        return self.transform(image), self.transform(image)

    def __repr__(self) -> str:
        return f"TwoViews({self.transform!r})"
