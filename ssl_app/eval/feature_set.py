"""What every protocol runner receives: one backbone (None: raw pixels) on one labelled data
module, with its train/test features extracted on first use (through the cache) and kept."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from ssl_app.data.datamodule import ContrastiveDataModule
from ssl_app.eval.cache import FeatureCache, feature_key, weights_hash
from ssl_app.eval.features import Features, extract_features, raw_pixel_features
from ssl_app.progress import phase

SPLITS = ("train", "test")  # the order of `ContrastiveDataModule.eval_dataloaders()`
LOADER_KEYS = {"batch_size", "eval_batch_size", "num_workers", "pin_memory", "persistent_workers"}


def cache_key_data(data: dict[str, Any]) -> dict[str, Any]:
    """The part of a data config that changes features (loader settings do not)."""
    return {k: v for k, v in data.items() if k not in LOADER_KEYS}


@dataclass
class FeatureSet:
    """A row of the table to be: its label, backbone, data and provenance (checkpoint, step)."""

    label: str
    backbone: nn.Module | None
    datamodule: ContrastiveDataModule
    data: dict[str, Any] = field(default_factory=dict)  # data config: part of the cache key
    cache: FeatureCache = field(default_factory=lambda: FeatureCache(None))
    device: torch.device | str | None = None
    progress: bool = False
    provenance: dict[str, Any] = field(default_factory=dict)
    ood: Callable[[], FeatureSet] | None = None  # the same backbone on out-of-distribution data
    _extracted: dict[str, Features] = field(default_factory=dict, init=False, repr=False)

    def loader(self, split: str):
        """The eval loader of `split` (train or test), in data-set order."""
        return self.datamodule.eval_dataloaders()[SPLITS.index(split)]

    def num_images(self, split: str) -> int:
        """Images in `split`, known without extracting anything."""
        return len(self.loader(split).dataset)

    def features(self, split: str) -> Features:
        """(unit rows, labels) of `split`, from the cache when (weights, data, split, transform)
        match, extracted once per set otherwise; one phase line either way."""
        if split not in self._extracted:
            loader = self.loader(split)
            transform = repr(getattr(loader.dataset, "transform", None))
            weights = "raw-pixels" if self.backbone is None else weights_hash(self.backbone)
            key = feature_key(weights, cache_key_data(self.data), split, transform)
            with phase("features", f"{self.label} / {split}") as details:
                hits = self.cache.hits
                self._extracted[split] = self.cache.features(key, lambda: self._extract(loader))
                cached = " (cached)" if self.cache.hits > hits else ""
                details.append(f"{len(self._extracted[split][1]):,} images{cached}")
        return self._extracted[split]

    def _extract(self, loader) -> Features:
        if self.backbone is None:
            return raw_pixel_features(loader, self.progress)
        return extract_features(self.backbone, loader, self.device, self.progress)

    @property
    def train(self) -> Features:
        return self.features("train")

    @property
    def test(self) -> Features:
        return self.features("test")
