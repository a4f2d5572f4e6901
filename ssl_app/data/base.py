"""What every data set shares: static `DatasetInfo`, the `DATASETS` registry, the source base class.

Every data set yields `(image, label)` with `image` a uint8 tensor of shape (C, H, W) and
`label` an int (-1 when unlabelled), so augmentation works on small tensors and is cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from ssl_app.errors import ConfigError
from ssl_app.registry import Registry

SPLITS = ("pretrain", "train", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about a data set, known before any image is loaded (to build the model)."""

    name: str
    channels: int
    num_classes: int | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    image_size: int | None  # native side length; None when images vary in size
    detail_size: int | None = None  # side length of the real detail when upscaled (digits: 8)
    class_names: tuple[str, ...] | None = None  # the data set's own names, where it has them

    def label_names(self) -> list[str]:
        """A name per class for plots: the data set's own, else the class indices as text."""
        if self.class_names is not None:
            return list(self.class_names)
        return [str(i) for i in range(self.num_classes or 0)]


class Source(Dataset):
    """Base of registered data sets: `static_info` is cheap, `download` fetches, `__init__` loads.

    The split "pretrain" is what contrastive training sees; it is "train" unless a data set
    offers more unlabelled images (stl10 with `unlabeled=True`).
    """

    info: DatasetInfo

    @classmethod
    def static_info(cls, root: str | None = None, **kwargs) -> DatasetInfo:
        raise NotImplementedError

    @classmethod
    def resolve_split(cls, split: str, **kwargs) -> str:
        """The concrete split behind `split`; equal results mean the same images."""
        check_split(split)
        return "train" if split == "pretrain" else split

    @classmethod
    def download(cls, root: str | None = None, **kwargs) -> None:
        """Fetch the files to `root` (no-op for data sets that need none)."""

    @classmethod
    def check_present(cls, root: str | None = None, **kwargs) -> None:
        """A one-line DataError when the files are not where the data set looks, found without
        reading them, so a run stops before it starts (no-op for data sets that need none)."""


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise ConfigError(f"unknown split '{split}'; choose one of: {', '.join(SPLITS)}")


class TensorImages(Source):
    """An in-memory data set: uint8 images (N, C, H, W) and int64 labels (N,)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, info: DatasetInfo) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise TypeError(f"images must be uint8 (N, C, H, W), got {images.dtype} {images.shape}")
        self.images, self.labels, self.info = images, labels.long(), info

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])


class Transformed(Dataset):
    """Applies `transform` to the image of each `(image, label)` item of `base`."""

    def __init__(self, base: Dataset, transform: Callable) -> None:
        self.base, self.transform = base, transform

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int):
        image, label = self.base[index]
        return self.transform(image), label


DATASETS: Registry[Source] = Registry("data set")
