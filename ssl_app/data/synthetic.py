"""`synthetic`: seeded coloured shapes on noisy backgrounds, generated lazily per index.

Each class is one (shape, colour) pair; position, size, background and noise vary per image,
so crops and colour jitter leave something to learn. Nothing is stored: image i is a pure
function of (seed, split, i), which keeps 224-px versions cheap and workers consistent.
"""

from __future__ import annotations

import numpy as np
import torch

from ssl_app.data.base import DATASETS, DatasetInfo, Source
from ssl_app.errors import ConfigError

SPLIT_IDS = {"train": 0, "test": 1}
NOISE_STD = 24.0  # in 0..255 units
NOISE_BANK = 1 << 18  # precomputed noise values; each image reads a random window of them


# Class shapes: boolean masks over coordinates (x, y) centred on the shape, of size r.
SHAPES = (
    lambda x, y, r: np.hypot(x, y) < r,  # disc
    lambda x, y, r: np.maximum(abs(x), abs(y)) < r,  # square
    lambda x, y, r: abs(np.hypot(x, y) - 0.7 * r) < 0.25 * r,  # ring
    lambda x, y, r: abs(x) + abs(y) < r,  # diamond
    lambda x, y, r: (
        (np.maximum(abs(x), abs(y)) < r) & (np.minimum(abs(x), abs(y)) < 0.3 * r)
    ),  # cross
    lambda x, y, r: (np.hypot(x, y) < r) & (np.cos(x * 12 / r) > 0),  # striped disc
    lambda x, y, r: (  # checkerboard
        (np.maximum(abs(x), abs(y)) < r) & ((np.floor(x * 3 / r) + np.floor(y * 3 / r)) % 2 == 0)
    ),
    lambda x, y, r: (y > -r) & (abs(x) < (r - y) / 2),  # triangle
)


def _class_colours(num_classes: int, channels: int, seed: int) -> np.ndarray:
    """Well-separated foreground colours (0..255), one per class."""
    rng = np.random.default_rng([seed, 7])
    if channels == 1:
        return rng.permutation(np.linspace(140, 255, num_classes))[:, None]
    hues = (np.arange(num_classes) / num_classes + rng.uniform(0, 1)) % 1
    angle = 2 * np.pi * hues[:, None] + np.array([0, 2, 4]) * np.pi / 3
    return 128 + 110 * np.cos(angle)


class SyntheticShapes(Source):
    """`size` train / `test_size` test images of `num_classes` balanced classes."""

    def __init__(
        self,
        split: str,
        root: str | None = None,
        download: bool = False,
        size: int = 2048,
        test_size: int = 512,
        num_classes: int = 10,
        channels: int = 3,
        image_size: int = 32,
        seed: int = 0,
    ) -> None:
        self.info = self.static_info(
            num_classes=num_classes, channels=channels, image_size=image_size
        )
        if min(size, test_size, image_size) < 1:
            raise ConfigError("data.dataset_kwargs size, test_size and image_size must be >= 1")
        self.split_id = SPLIT_IDS[self.resolve_split(split)]
        self.length = size if self.split_id == 0 else test_size
        self.seed, self.num_classes, self.channels, self.image_size = (
            seed,
            num_classes,
            channels,
            image_size,
        )
        self.colours = _class_colours(num_classes, channels, seed)
        self.noise = (
            np.random.default_rng([seed, 11]).normal(0, NOISE_STD, NOISE_BANK).astype(np.float32)
        )
        self.grid = np.linspace(-1, 1, image_size)

    @classmethod
    def static_info(
        cls,
        root: str | None = None,
        num_classes: int = 10,
        channels: int = 3,
        image_size: int = 32,
        **_,
    ) -> DatasetInfo:
        if channels not in (1, 3) or num_classes < 1:
            raise ConfigError(
                f"synthetic needs channels 1 or 3, num_classes >= 1; got {channels}, {num_classes}"
            )
        return DatasetInfo(
            "synthetic", channels, num_classes, (0.3,) * channels, (0.2,) * channels, image_size
        )

    def __len__(self) -> int:
        return self.length

    @property
    def labels(self) -> torch.Tensor:
        """Every item's label (balanced: index mod classes), without drawing images."""
        return torch.arange(self.length) % self.num_classes

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, self.split_id, index])
        label = index % self.num_classes
        cx, cy = rng.uniform(-0.35, 0.35, 2)
        shape = SHAPES[label % len(SHAPES)]
        mask = shape(self.grid[None, :] - cx, self.grid[:, None] - cy, rng.uniform(0.35, 0.6))[None]
        background = rng.uniform(20, 110, (self.channels, 1, 1))
        colour = self.colours[label][:, None, None] + rng.normal(0, 12, (self.channels, 1, 1))
        image = np.where(mask, colour, background) + self._noise(rng)
        return torch.from_numpy(image.clip(0, 255).astype(np.uint8)), label

    def _noise(self, rng: np.random.Generator) -> np.ndarray:
        count = self.channels * self.image_size**2
        start = rng.integers(0, max(NOISE_BANK - count, 1))
        window = np.resize(self.noise[start : start + count], count)
        return window.reshape(self.channels, self.image_size, self.image_size)


DATASETS.register("synthetic")(SyntheticShapes)
