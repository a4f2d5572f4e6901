"""Data room: data set registry, two-view augmentation, LightningDataModule."""

from ssl_app.data.base import DATASETS, DatasetInfo
from ssl_app.data.datasets import build_dataset, dataset_info
from ssl_app.data.views import TwoViews, ViewConfig, build_eval_transform, build_view_transform

__all__ = [
    "DATASETS",
    "ContrastiveDataModule",
    "DatasetInfo",
    "TwoViews",
    "ViewConfig",
    "build_dataset",
    "build_eval_transform",
    "build_view_transform",
    "dataset_info",
]


def __getattr__(name: str):
    """Import the Lightning data module lazily, so data sets load without Lightning."""
    if name == "ContrastiveDataModule":
        from ssl_app.data.datamodule import ContrastiveDataModule

        return ContrastiveDataModule
    raise AttributeError(f"module 'ssl_app.data' has no attribute '{name}'")
