"""`noise`: seeded pixel-noise images, the classic far-out-of-distribution set for OOD scores.

Each pixel is drawn independently, uniform on the integers low..high or a Gaussian
(mean, std in 0..255 units) rounded and clipped to 0..255. Image i is a pure function of
(seed, split, i), so nothing is stored. One class (label 0): `ssl-eval protocol=ood` reads
the test split through the labelled evaluation loaders, and the labels are never used.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ssl_app.data.base import DATASETS, DatasetInfo, Source
from ssl_app.errors import ConfigError

SPLIT_IDS = {"train": 0, "test": 1}
DISTRIBUTIONS = ("uniform", "gaussian")
LEVELS = np.arange(256.0)


def level_probabilities(
    distribution: str, low: int, high: int, mean: float, std: float
) -> np.ndarray:
    """P(pixel = v) for v = 0..255: the exact law of the uint8 values (clipping included)."""
    if distribution == "uniform":
        inside = (LEVELS - low >= 0) & (high - LEVELS >= 0)
        return inside / inside.sum()
    edges = torch.special.ndtr(torch.from_numpy((LEVELS + 0.5 - mean) / std)).numpy()
    edges[-1] = 1.0  # 255 takes the upper tail, 0 the lower one
    return np.diff(edges, prepend=0.0)


def check_settings(distribution: str, channels: int, image_size: int, low: int, high: int, std):
    if distribution not in DISTRIBUTIONS:
        raise ConfigError(
            f"noise distribution '{distribution}' is unknown; choose one of: "
            + ", ".join(DISTRIBUTIONS)
        )
    if channels not in (1, 3) or image_size < 1:
        raise ConfigError(
            f"noise needs channels 1 or 3 and image_size >= 1; got {channels}, {image_size}"
        )
    if not 0 <= low <= high <= 255 or std <= 0:
        raise ConfigError(
            f"noise needs 0 <= low <= high <= 255 and std > 0; got {low}, {high}, {std}"
        )


@DATASETS.register("noise")
class NoiseImages(Source):
    """`size` train / `test_size` test images of i.i.d. pixel noise, all labelled 0."""

    def __init__(
        self,
        split: str,
        root: str | None = None,
        download: bool = False,
        size: int = 1024,
        test_size: int = 1024,
        distribution: str = "uniform",
        channels: int = 1,
        image_size: int = 32,
        low: int = 0,
        high: int = 255,
        mean: float = 127.5,
        std: float = 64.0,
        seed: int = 0,
    ) -> None:
        self.info = self.static_info(
            distribution=distribution,
            channels=channels,
            image_size=image_size,
            low=low,
            high=high,
            mean=mean,
            std=std,
        )
        if min(size, test_size) < 1:
            raise ConfigError("data.dataset_kwargs size and test_size must be >= 1")
        self.split_id = SPLIT_IDS[self.resolve_split(split)]
        self.length = size if self.split_id == 0 else test_size
        self.shape = (channels, image_size, image_size)
        self.distribution, self.seed = distribution, seed
        self.low, self.high, self.mean, self.std = low, high, mean, std

    @classmethod
    def static_info(
        cls,
        root: str | None = None,
        distribution: str = "uniform",
        channels: int = 1,
        image_size: int = 32,
        low: int = 0,
        high: int = 255,
        mean: float = 127.5,
        std: float = 64.0,
        **_,
    ) -> DatasetInfo:
        check_settings(distribution, channels, image_size, low, high, std)
        p = level_probabilities(distribution, low, high, mean, std)
        mu = float((p * LEVELS).sum())
        sigma = math.sqrt(float((p * (LEVELS - mu) ** 2).sum()))
        return DatasetInfo(
            "noise", channels, 1, (mu / 255,) * channels, (sigma / 255,) * channels, image_size
        )

    def __len__(self) -> int:
        return self.length

    @property
    def labels(self) -> torch.Tensor:
        """One class: every label is 0."""
        return torch.zeros(self.length, dtype=torch.int64)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, self.split_id, index])
        if self.distribution == "uniform":
            image = rng.integers(self.low, self.high, self.shape, endpoint=True)
        else:
            image = np.rint(rng.normal(self.mean, self.std, self.shape)).clip(0, 255)
        return torch.from_numpy(image.astype(np.uint8)), 0
