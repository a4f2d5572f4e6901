"""The `optim` config group: optimiser, batch size and schedule (`conf/optim/<name>.yaml`).

`OptimConfig` is the schema of the YAML files (registered in Hydra's ConfigStore as
`optim/_base`, which sgd, adamw and lars start from; the data sets' recipes start from one of
those); the YAMLs hold the values. `batch_size` is the run's only batch size: the data loader
takes it, and the learning rate scales with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import MISSING

from ssl_app.errors import require_positive


@dataclass
class OptimConfig:
    """A timm optimiser by name with the linear-scaling rule and warmup + cosine schedule."""

    name: str = MISSING  # sgd | adamw | lars | lamb | adam
    batch_size: int = MISSING  # per device; global batch = batch_size x devices x nodes
    base_lr: float = MISSING  # lr = base_lr x global_batch / 256 (linear scaling)
    weight_decay: float = MISSING  # not applied to biases and norm parameters
    momentum: float | None = None  # SGD and LARS (their YAMLs set it); null for the others
    warmup_epochs: float = MISSING  # linear warmup per step, then cosine decay to 0
    epochs: int = MISSING  # the run's length unless `epochs=` is given

    def __post_init__(self) -> None:
        require_positive("optim.batch_size", self.batch_size)
        require_positive("optim.base_lr", self.base_lr)
