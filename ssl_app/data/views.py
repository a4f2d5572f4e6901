"""Positive pairs: two independent random augmentations of one image (SimCLR's recipe).

Cropping and flipping run on the uint8 image (4x less memory traffic than float); colour,
grayscale, blur and normalisation run on the float crop, with the fast photometric ops of
`augment.py`. Randomness comes from torch's
global RNG, which Lightning's `seed_everything(workers=True)` seeds per rank and per worker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields

import torch
from torchvision.transforms import v2

from ssl_app.data.augment import ColourJitter, GaussianBlur, RandomResizedCrop
from ssl_app.data.base import DatasetInfo
from ssl_app.errors import ConfigError

BLUR_MIN_SIZE = 96  # blur hurts at CIFAR scale (SimCLR appendix B.9); use it from STL-10 size up
EVAL_CROP_RATIO = 0.875  # ImageNet convention: resize to 256, centre-crop 224


@dataclass(frozen=True)
class ViewConfig:
    """Augmentation strengths, as in `conf/data/*.yaml` under `views`."""

    crop_scale: tuple[float, float] = (0.2, 1.0)
    hflip: float = 0.5
    color_jitter: float = 0.5
    jitter_prob: float = 0.8
    grayscale_prob: float = 0.2
    blur_prob: float = 0.0

    @classmethod
    def from_mapping(cls, views: Mapping | None) -> ViewConfig:
        """Build from a config dict; unknown keys or out-of-range values raise ConfigError."""
        views = dict(views or {})
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(views) - set(known))
        if unknown:
            raise ConfigError(f"unknown data.views key(s) {unknown}; known: {', '.join(known)}")
        if "crop_scale" in views:
            views["crop_scale"] = tuple(float(s) for s in views["crop_scale"])
        config = cls(**views)
        config.validate()
        return config

    def validate(self) -> None:
        low, high = self.crop_scale
        if not 0 < low <= high <= 1:
            raise ConfigError(
                f"data.views.crop_scale must satisfy 0 < min <= max <= 1, got {self.crop_scale}"
            )
        for name in ("hflip", "jitter_prob", "grayscale_prob", "blur_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(
                    f"data.views.{name} is a probability in [0, 1], got {getattr(self, name)}"
                )
        if self.color_jitter < 0:
            raise ConfigError(f"data.views.color_jitter must be >= 0, got {self.color_jitter}")


def _colour_jitter(strength: float, channels: int) -> ColourJitter:
    """SimCLR's jitter: brightness, contrast, saturation 0.8 s, hue 0.2 s; gray: the first two."""
    if channels == 1:
        return ColourJitter(brightness=0.8 * strength, contrast=0.8 * strength)
    return ColourJitter(0.8 * strength, 0.8 * strength, 0.8 * strength, min(0.2 * strength, 0.5))


def build_view_transform(image_size: int, info: DatasetInfo, views: ViewConfig) -> v2.Compose:
    """One random view: uint8 (C, H, W) image → normalised float32 (C, image_size, image_size)."""
    steps: list[Callable] = [RandomResizedCrop(image_size, scale=views.crop_scale)]
    if views.hflip > 0:
        steps.append(v2.RandomHorizontalFlip(p=views.hflip))
    steps.append(v2.ToDtype(torch.float32, scale=True))
    if views.color_jitter > 0 and views.jitter_prob > 0:
        steps.append(
            v2.RandomApply([_colour_jitter(views.color_jitter, info.channels)], p=views.jitter_prob)
        )
    if info.channels == 3 and views.grayscale_prob > 0:
        steps.append(v2.RandomGrayscale(p=views.grayscale_prob))
    if views.blur_prob > 0 and image_size >= BLUR_MIN_SIZE:
        kernel = int(0.1 * image_size) // 2 * 2 + 1
        steps.append(v2.RandomApply([GaussianBlur(kernel, sigma=(0.1, 2.0))], p=views.blur_prob))
    steps.append(v2.Normalize(info.mean, info.std))
    return v2.Compose(steps)


def build_eval_transform(image_size: int, info: DatasetInfo) -> v2.Compose:
    """Deterministic: resize + centre crop (skipped at the native size) + normalise."""
    steps: list[Callable] = []
    if info.image_size != image_size:
        resize = image_size if info.image_size else round(image_size / EVAL_CROP_RATIO)
        steps += [v2.Resize(resize, antialias=True), v2.CenterCrop(image_size)]
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
