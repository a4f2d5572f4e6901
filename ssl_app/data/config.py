"""The `data` config group: one data set, its views and its loaders (`conf/data/<name>.yaml`).

These dataclasses are the schema of the YAML files (registered in Hydra's ConfigStore as
`data/_base`, which every data set's YAML starts from) and hold the values the data sets share;
a YAML sets its name, image size and what differs. The training batch size is not here: it is
the optimiser's (`optim.batch_size`, which the learning rate scales with).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from ssl_app.errors import ConfigError, require_positive, require_unit_interval
from ssl_app.typed import typed_config

AUGMENT_MODES = ("cpu", "gpu", "auto")  # gpu: batched on the training device (CPU tensors too)
OWN_TARGET = "ssl_app.data.datamodule.ContrastiveDataModule"  # what older run configs carry
LEGACY_KEYS = ("batch_size",)  # run configs before `optim.batch_size` became the only one


@dataclass
class ViewConfig:
    """Augmentation strengths of the positive pairs (`data.views`); SimCLR's CIFAR views."""

    crop_scale: tuple[float, float] = (0.2, 1.0)
    hflip: float = 0.5
    color_jitter: float = 0.5
    jitter_prob: float = 0.8
    grayscale_prob: float = 0.2
    blur_prob: float = 0.0
    solarize_prob: float = 0.0

    def __post_init__(self) -> None:
        scale = self.crop_scale
        numbers = not isinstance(scale, str) and all(isinstance(s, int | float) for s in scale)
        if not numbers or len(scale) != 2:
            raise ConfigError(f"data.views.crop_scale is [min, max], got {scale}")
        self.crop_scale = (float(scale[0]), float(scale[1]))
        low, high = self.crop_scale
        if not 0 < low <= high <= 1:
            raise ConfigError(
                f"data.views.crop_scale must satisfy 0 < min <= max <= 1, got {self.crop_scale}"
            )
        for name in ("hflip", "jitter_prob", "grayscale_prob", "blur_prob", "solarize_prob"):
            require_unit_interval(f"data.views.{name}", getattr(self, name))
        if self.color_jitter < 0:
            raise ConfigError(f"data.views.color_jitter must be >= 0, got {self.color_jitter}")


@dataclass
class DataConfig:
    """A data set (by its registry name), its image size, validation split, views and loaders."""

    name: str = MISSING
    root: str | None = None
    download: bool = False
    val_fraction: float = 0.1  # stratified share of the training split held out for validation
    # gpu: both views in one batched pass on the training device; cpu: per-sample in workers;
    # auto: gpu on CUDA or at <= 64 px
    augment: str = "auto"
    # torch.compile the batched views: a few fused kernels a batch instead of ~110 launches
    compile_views: bool = False
    image_size: int = MISSING
    eval_batch_size: int = 256
    num_workers: int = 8
    pin_memory: bool = True
    persistent_workers: bool = True
    views: ViewConfig = field(default_factory=ViewConfig)
    dataset_kwargs: dict[str, Any] = field(default_factory=dict)  # the data set's own arguments

    def __post_init__(self) -> None:
        require_positive("data.image_size", self.image_size)
        require_positive("data.eval_batch_size", self.eval_batch_size)
        if self.augment not in AUGMENT_MODES:
            raise ConfigError(
                f"data.augment must be one of {', '.join(AUGMENT_MODES)}, got {self.augment}"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataConfig:
        """The data config of a file (a checkpoint's run config) or a plain dict, checked.

        Files are data, never code: a `_target_` other than the data module's own (which older
        configs carried) is refused and nothing named in a file is called. `batch_size`, which
        older run configs also carried, is dropped (the run's is `optim.batch_size`)."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"data config must be a mapping of keys, got {data!r}")
        fields = {k: v for k, v in data.items() if k not in LEGACY_KEYS}
        target = fields.pop("_target_", OWN_TARGET)
        if target != OWN_TARGET:
            raise ConfigError(
                f"data config names _target_ '{target}'; configs are data, not code, so it is "
                f"not called: remove the key (the data module is always ContrastiveDataModule)"
            )
        return typed_config(cls, fields, "data")
