"""Training input for views made on the device (`data.augment=gpu`): the loader yields only
uint8 images or indices, and every random step happens in one batched pass on the device.

Training sets up to a few GiB (digits, Fashion-MNIST, CIFAR, STL-10, a small image folder after
one decode to a fixed size) are held on the device as one uint8 tensor and batched by index,
with no loader workers; larger ones keep workers that decode each batch to that size.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from ssl_app.data.base import TensorImages


class Indices(Dataset):
    """Yields its own index, so a loader over it yields index batches (sampler and DDP as usual)."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> int:
        return index


class ResidentImages:
    """uint8 images and labels copied to a device on first use, then gathered by index there."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def take(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(images, labels) of `index`, on `index`'s device."""
        if self.images.device != index.device:
            self.images = self.images.to(index.device)
            self.labels = self.labels.to(index.device)
        return self.images.index_select(0, index), self.labels.index_select(0, index)


def in_memory(dataset: Dataset, workers: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 images, labels) of a data set of one image size: the stored tensors of an
    in-memory one, else every item decoded once (by loader workers)."""
    if isinstance(dataset, TensorImages):
        return dataset.images, dataset.labels
    loader = DataLoader(dataset, batch_size=256, num_workers=workers)
    images, labels = zip(*loader, strict=True)
    return torch.cat(images), torch.cat(labels)


def fixed_size(size: int) -> v2.Compose:
    """uint8 image of any size → (C, size, size): shorter side resized to `size`, centre crop."""
    return v2.Compose([v2.Resize(size, antialias=True), v2.CenterCrop(size)])
