"""`digits`: scikit-learn's 8x8 handwritten digits, upscaled to 32 px, with a fixed split.

It ships with scikit-learn, so `make run` needs no download. The 80/20 split is stratified
by class with a fixed seed: train and test never mix, on every machine.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from ssl_app.data.base import DATASETS, DatasetInfo, TensorImages

IMAGE_SIZE = 32
TEST_FRACTION = 0.2
SPLIT_SEED = 0
# Statistics of the upscaled training split (tests recompute them).
INFO = DatasetInfo(
    "digits",
    1,
    10,
    mean=(0.3123,),
    std=(0.3561,),
    image_size=IMAGE_SIZE,
    detail_size=8,
    class_names=tuple("0123456789"),
)


def digits_split_indices() -> dict[str, np.ndarray]:
    """Fixed stratified train/test indices into `load_digits()`."""
    target = load_digits().target
    train, test = train_test_split(
        np.arange(len(target)), test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=target
    )
    return {"train": np.sort(train), "test": np.sort(test)}


def upscale_digits(images: np.ndarray, size: int = IMAGE_SIZE) -> torch.Tensor:
    """(N, 8, 8) values 0..16 → uint8 (N, 1, size, size), bicubic."""
    x = torch.from_numpy(images).float()[:, None] * (255.0 / 16.0)
    x = F.interpolate(x, size=size, mode="bicubic", align_corners=False)
    return x.clamp(0, 255).round().to(torch.uint8)


@DATASETS.register("digits")
class Digits(TensorImages):
    """1,437 train / 360 test grayscale digits, 10 classes, 32 px."""

    def __init__(self, split: str, root: str | None = None, download: bool = False) -> None:
        split = self.resolve_split(split)
        bunch = load_digits()
        index = digits_split_indices()[split]
        labels = torch.from_numpy(bunch.target[index])
        super().__init__(upscale_digits(bunch.images[index]), labels, INFO)

    @classmethod
    def static_info(cls, root: str | None = None) -> DatasetInfo:
        return INFO
