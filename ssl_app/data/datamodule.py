"""`ContrastiveDataModule`: two-view training batches and plain eval batches for one data set.

Seeding: `lightning.seed_everything(seed, workers=True)` makes Lightning give every rank and
every worker its own derived seed; the augmentations draw from torch's global RNG, so runs are
reproducible and no two workers (or ranks) repeat the same crops.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ssl_app.data.base import DATASETS, Transformed
from ssl_app.data.batch_views import BatchViews
from ssl_app.data.config import DataConfig
from ssl_app.data.datasets import build_dataset, dataset_info
from ssl_app.data.resident import Indices, ResidentImages, fixed_size, in_memory
from ssl_app.data.splits import carve_validation, hide_labels
from ssl_app.data.views import EVAL_CROP_RATIO, TwoViews, build_eval_transform, build_view_transform
from ssl_app.errors import DataError, require_known_keys, require_positive

BATCHED_ON_CPU_MAX_SIZE = 64
RESIDENT_BYTES = 4 * 2**30  # device views: training sets up to this size (uint8) live on the device


class ContrastiveDataModule(pl.LightningDataModule):
    """Training yields `((view1, view2), labels)`; `eval_dataloaders()` yields `(images, labels)`.

    `data` is the run's `data` config; `batch_size` the images per training batch and device
    (the run's `optim.batch_size`; None: a data module for evaluation only)."""

    def __init__(self, data: DataConfig, batch_size: int | None = None) -> None:
        super().__init__()
        if batch_size is not None:
            require_positive("optim.batch_size", batch_size)
        source = DATASETS.get(data.name)
        skip = ("split", "root", "download")
        require_known_keys(data.dataset_kwargs, source, "data.dataset_kwargs", skip=skip)
        self.name, self.root, self.download_data = data.name, data.root, data.download
        self.image_size, self.batch_size = data.image_size, batch_size
        self.eval_batch_size = data.eval_batch_size
        self.num_workers = max(data.num_workers, 0)
        self.pin_memory = data.pin_memory and torch.cuda.is_available()  # pinning needs CUDA
        self.persistent_workers = data.persistent_workers and self.num_workers > 0
        self.views = data.views
        self.dataset_kwargs = dict(data.dataset_kwargs)
        self.val_fraction = data.val_fraction
        self.augment, self.compile_views = data.augment, data.compile_views
        self.device_views: BatchViews | None = None  # set when training batches are augmented there
        self._resident: ResidentImages | None = None
        self.info = dataset_info(data.name, data.root, **self.dataset_kwargs)
        if not self.download_data:
            source.check_present(data.root, **self.dataset_kwargs)
        self._sets: dict[str, Dataset] = {}
        self._loaders: dict[tuple[str, str], tuple[DataLoader, DataLoader]] = {}

    @property
    def has_labels(self) -> bool:
        """Whether kNN / linear evaluation is possible (labelled train and test splits)."""
        return self.info.num_classes is not None

    def prepare_data(self) -> None:
        """Download on one process per node (Lightning calls this on local rank 0 only)."""
        if self.download_data:
            DATASETS.get(self.name).download(self.root, **self.dataset_kwargs)

    def setup(self, stage: str | None = None) -> None:
        """Load the splits (once; the pretrain split is shared with train when they coincide)."""
        for split in ("pretrain", "train", "test") if self.has_labels else ("pretrain",):
            self._split(split)

    def _split(self, split: str) -> Dataset:
        """A loaded split; "fit" and "val" are the training split minus / only the validation."""
        if split in ("fit", "val"):
            if split not in self._sets:
                self._sets["fit"], self._sets["val"] = carve_validation(
                    self._split("train"), self.val_fraction
                )
            return self._sets[split]
        concrete = DATASETS.get(self.name).resolve_split(split, **self.dataset_kwargs)
        if concrete not in self._sets:
            self._sets[concrete] = build_dataset(
                self.name, split, self.root, self.download_data, **self.dataset_kwargs
            )
        return self._sets[concrete]

    def _loader(self, dataset: Dataset, batch_size: int, train: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=train,
            drop_last=train,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled training batches of the pretrain split; drops the last.

        Per-sample CPU views: `((view1, view2), labels)`. Device views: indices or fixed-size
        uint8 images, turned into the two views by `on_after_batch_transfer`."""
        if self.batch_size is None:
            raise ValueError(f"the data module of '{self.name}' has no training batch size")
        dataset = self._pretrain_set()
        if len(dataset) < self.batch_size:
            raise DataError(
                f"data set '{self.name}' has {len(dataset)} training images, fewer than "
                f"batch_size={self.batch_size}; lower optim.batch_size"
            )
        if not self.views_on_device():
            views = TwoViews(build_view_transform(self.image_size, self.info, self.views))
            return self._loader(Transformed(dataset, views), self.batch_size, train=True)
        self.device_views = BatchViews(self.image_size, self.info, self.views, self.compile_views)
        size = self.info.image_size or round(self.image_size / EVAL_CROP_RATIO)
        if self.info.image_size is None:  # images of many sizes: decoded to one
            dataset = Transformed(dataset, fixed_size(size))
        if self._resident is None and len(dataset) * self.info.channels * size**2 <= RESIDENT_BYTES:
            self._resident = ResidentImages(*in_memory(dataset, self.num_workers))
        if self._resident is None:  # too large to hold: workers decode every batch
            return self._loader(dataset, self.batch_size, train=True)
        indices = Indices(len(dataset))  # pinned: the copy to the GPU then never waits for it
        return DataLoader(
            indices, self.batch_size, shuffle=True, drop_last=True, pin_memory=self.pin_memory
        )

    def _pretrain_set(self) -> Dataset:
        """The pretrain split with the validation images' labels hidden (-1). The validation
        indices are positions in the training split, which every pretrain split begins with
        (the same split, or STL-10's train followed by its unlabelled images)."""
        dataset = self._split("pretrain")
        return hide_labels(dataset, self._split("val").indices) if self.has_labels else dataset

    def view_pair_batches(self) -> Iterator[tuple[tuple[Tensor, Tensor], Tensor]]:
        """`((view1, view2), labels)` training batches on the CPU, whichever augment path."""
        loader = self.train_dataloader()  # raises here, not at the first batch
        return (self.on_after_batch_transfer(batch, 0) for batch in loader)

    def views_on_device(self) -> bool:
        """`augment=gpu`, or `auto` with a trainer on CUDA or small images (the batched path
        outruns per-sample workers on a CPU up to about 64 px; scripts/bench_augment.py)."""
        if self.augment != "auto":
            return self.augment == "gpu"
        on_cuda = self.trainer is not None and self.trainer.strategy.root_device.type == "cuda"
        return on_cuda or self.image_size <= BATCHED_ON_CPU_MAX_SIZE

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Device views: `((view1, view2), labels)` from the batch now on the device."""
        if self.device_views is None:
            return batch
        images, labels = self._resident.take(batch) if self._resident is not None else batch
        return self.device_views.two_views(images), labels

    def eval_dataloaders(self) -> tuple[DataLoader, DataLoader]:
        """(train, test) loaders of `(images, labels)` with the eval transform, in a fixed order:
        the final table and `ssl-eval`."""
        return self._labelled_loaders("train", "test")

    def monitor_dataloaders(self) -> tuple[DataLoader, DataLoader]:
        """(train minus validation, validation) loaders: what the online monitor, checkpoint
        selection and sweeps score on, so nothing is chosen on test."""
        return self._labelled_loaders("fit", "val")

    def _labelled_loaders(self, bank: str, queries: str) -> tuple[DataLoader, DataLoader]:
        if not self.has_labels:
            raise DataError(f"data set '{self.name}' has no labels; kNN and linear probe need them")
        if (bank, queries) not in self._loaders:
            self._loaders[bank, queries] = tuple(self.eval_dataloader(s) for s in (bank, queries))
        return self._loaders[bank, queries]

    def eval_dataloader(self, split: str) -> DataLoader:
        """`(images, labels)` of one split, labelled or not (-1), with the eval transform and in
        data-set order: one loader of the pair above, or all that `ssl-embed` embeds."""
        transform = build_eval_transform(self.image_size, self.info)
        return self._loader(Transformed(self._split(split), transform), self.eval_batch_size, False)
