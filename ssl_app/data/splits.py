"""The validation split: fixed, stratified and seeded, carved from a labelled training split.

Everything a run chooses (the online kNN monitor, `best-knn.ckpt`, sweeps, defaults) is scored
on it, so the test split stays unread until the final table.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split
from torch.utils.data import Dataset, Subset

from ssl_app.data.base import TensorImages
from ssl_app.errors import ConfigError

SPLIT_SEED = 0


def labels_of(dataset: Dataset) -> np.ndarray:
    """Every item's label without decoding images (in-memory sets and image folders)."""
    if hasattr(dataset, "labels"):
        return np.asarray(dataset.labels)
    return np.asarray([label for _, label in dataset.files])


def validation_indices(labels: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(kept, validation) indices: a stratified `fraction` of `labels`, equal on every machine."""
    if not 0 < fraction < 1:
        raise ConfigError(f"data.val_fraction must be in (0, 1), got {fraction}")
    index = np.arange(len(labels))
    kept, val = train_test_split(
        index, test_size=fraction, random_state=SPLIT_SEED, stratify=_strata(labels, fraction)
    )
    return np.sort(kept), np.sort(val)


def _strata(labels: np.ndarray, fraction: float) -> np.ndarray | None:
    """The labels to stratify by, or None where a class is too small to be split (tiny sets)."""
    classes, counts = np.unique(labels, return_counts=True)
    too_small = counts.min() < 2 or fraction * len(labels) < len(classes)
    too_small = too_small or (1 - fraction) * len(labels) < len(classes)
    return None if too_small else labels


def carve_validation(train: Dataset, fraction: float) -> tuple[Subset, Subset]:
    """(train minus validation, validation) views of a labelled training split."""
    kept, val = validation_indices(labels_of(train), fraction)
    return Subset(train, kept.tolist()), Subset(train, val.tolist())


class HiddenLabels(Dataset):
    """`base` with the label of every index in `hidden` replaced by -1 (unlabelled)."""

    def __init__(self, base: Dataset, hidden: list[int]) -> None:
        self.base, self.hidden = base, frozenset(hidden)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int):
        image, label = self.base[index]
        return image, -1 if index in self.hidden else label


def hide_labels(dataset: Dataset, hidden: list[int]) -> Dataset:
    """`dataset` with label -1 at `hidden`: training batches carry no validation labels, so the
    online linear probe that learns from them is scored on images it never saw labelled."""
    if isinstance(dataset, TensorImages):  # stays in memory as one tensor (device views)
        labels = dataset.labels.clone()
        labels[hidden] = -1
        return TensorImages(dataset.images, labels, dataset.info)
    return HiddenLabels(dataset, hidden)
