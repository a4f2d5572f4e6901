"""Front door of the data room: build a data set or read its static facts by name.

Importing this module registers every data set in `DATASETS` (timm-style registry).
"""

from __future__ import annotations

from ssl_app.data import (  # noqa: F401  (importing registers)
    digits,
    fashion_mnist,
    imagefolder,
    noise,
    synthetic,
    torchvision_sets,
)
from ssl_app.data.base import DATASETS, DatasetInfo, Source, check_split


def build_dataset(
    name: str, split: str, root: str | None = None, download: bool = False, **kwargs
) -> Source:
    """Split "pretrain", "train" or "test" of data set `name`; items are (uint8 CHW, label)."""
    check_split(split)
    return DATASETS.build(name, split=split, root=root, download=download, **kwargs)


def dataset_info(name: str, root: str | None = None, **kwargs) -> DatasetInfo:
    """Channels, classes, mean/std and native size of `name` without loading it."""
    return DATASETS.get(name).static_info(root=root, **kwargs)
