"""`ContrastiveDataModule`: two-view training batches and plain eval batches for one data set.

Seeding: `lightning.seed_everything(seed, workers=True)` makes Lightning give every rank and
every worker its own derived seed; the augmentations draw from torch's global RNG, so runs are
reproducible and no two workers (or ranks) repeat the same crops.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ssl_app.data.base import DATASETS, Transformed
from ssl_app.data.batch_views import BatchViews
from ssl_app.data.datasets import build_dataset, dataset_info
from ssl_app.data.resident import Indices, ResidentImages, fixed_size, in_memory
from ssl_app.data.splits import carve_validation, hide_labels
from ssl_app.data.views import (
    EVAL_CROP_RATIO,
    TwoViews,
    ViewConfig,
    build_eval_transform,
    build_view_transform,
)
from ssl_app.errors import ConfigError, DataError, require_known_keys, require_positive

AUGMENT_MODES = ("cpu", "gpu", "auto")  # gpu: batched on the training device (CPU tensors too)
BATCHED_ON_CPU_MAX_SIZE = 64
RESIDENT_BYTES = 4 * 2**30  # device views: training sets up to this size (uint8) live on the device
OWN_TARGET = "ssl_app.data.datamodule.ContrastiveDataModule"  # what older run configs carry


class ContrastiveDataModule(pl.LightningDataModule):
    """Training yields `((view1, view2), labels)`; `eval_dataloaders()` yields `(images, labels)`.

    Arguments mirror `conf/data/<name>.yaml`; `dataset_kwargs` go to the data set constructor.
    """

    def __init__(
        self,
        *,
        name: str,
        image_size: int,
        batch_size: int,
        root: str | None = None,
        download: bool = False,
        eval_batch_size: int = 256,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        views: Mapping | None = None,
        dataset_kwargs: Mapping | None = None,
        val_fraction: float = 0.1,
        augment: str = "auto",
    ) -> None:
        super().__init__()
        require_positive("data.batch_size", batch_size)
        require_positive("data.eval_batch_size", eval_batch_size)
        require_positive("data.image_size", image_size)
        self.name, self.root, self.download_data = name, root, bool(download)
        self.image_size, self.batch_size, self.eval_batch_size = (
            image_size,
            batch_size,
            eval_batch_size,
        )
        self.num_workers = max(int(num_workers), 0)
        self.pin_memory = bool(pin_memory) and torch.cuda.is_available()  # pinning needs CUDA
        self.persistent_workers = bool(persistent_workers) and self.num_workers > 0
        self.views = ViewConfig.from_mapping(views)
        self.dataset_kwargs = dict(dataset_kwargs or {})
        self.val_fraction = float(val_fraction)
        if augment not in AUGMENT_MODES:
            raise ConfigError(
                f"data.augment must be one of {', '.join(AUGMENT_MODES)}, got {augment}"
            )
        self.augment = augment
        self.device_views: BatchViews | None = None  # set when training batches are augmented there
        self._resident: ResidentImages | None = None
        self.info = dataset_info(name, root, **self.dataset_kwargs)
        self._sets: dict[str, Dataset] = {}
        self._loaders: dict[tuple[str, str], tuple[DataLoader, DataLoader]] = {}

    @classmethod
    def from_config(cls, data: Mapping[str, Any]) -> ContrastiveDataModule:
        """The data module a `data` config describes, built from its fields by name.

        Configs and checkpoints are data, never code: a `_target_` other than this class
        (which older configs carried) is refused, and nothing named in a file is called.
        """
        fields = dict(data)
        target = fields.pop("_target_", OWN_TARGET)
        if target != OWN_TARGET:
            raise ConfigError(
                f"data config names _target_ '{target}'; configs are data, not code, so it is "
                f"not called: remove the key (the data module is always {cls.__name__})"
            )
        require_known_keys(fields, cls, "data")
        source = DATASETS.get(fields.get("name"))
        require_known_keys(
            fields.get("dataset_kwargs") or {},
            source,
            "data.dataset_kwargs",
            skip=("split", "root", "download"),
        )
        return cls(**fields)

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
        dataset = self._pretrain_set()
        if len(dataset) < self.batch_size:
            raise DataError(
                f"data set '{self.name}' has {len(dataset)} training images, fewer than "
                f"batch_size={self.batch_size}; lower optim.batch_size"
            )
        if not self.views_on_device():
            views = TwoViews(build_view_transform(self.image_size, self.info, self.views))
            return self._loader(Transformed(dataset, views), self.batch_size, train=True)
        self.device_views = BatchViews(self.image_size, self.info, self.views)
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
