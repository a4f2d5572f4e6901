"""The `model` config group: backbone, projection head and momentum encoder
(`conf/model/<name>.yaml`).

These dataclasses are the schema of the YAML files (registered in Hydra's ConfigStore as
`model/_base`, which every model's YAML starts from) and hold the values the models share; a
YAML sets its backbone and what differs. Any timm model name works as `backbone`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from ssl_app.errors import ConfigError, require_unit_interval

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass
class HeadConfig:
    """The SimCLR projection MLP (`ProjectionHead`): the loss sees its output."""

    hidden_dim: int = 2048
    out_dim: int = 128
    num_layers: int = 2
    batch_norm: bool = True


@dataclass
class EmaConfig:
    """A momentum (EMA) copy of backbone + head, owned by the training module: the key encoder
    of the negative queue (`loss.queue_size`, MoCo v2) and the target of `loss=soft_target
    loss.source=target`."""

    enabled: bool = False  # off: queued keys are the online projections with stop-gradient
    momentum: float = 0.996  # target <- momentum * target + (1 - momentum) * online, every step

    def __post_init__(self) -> None:
        require_unit_interval("model.ema.momentum", self.momentum)


@dataclass
class ModelConfig:
    """A timm backbone with the head on top, and how the backbone is built."""

    backbone: str = MISSING
    # true | false | auto (a 3x3 stride-1 stem without max-pool when data.image_size <= 64 and
    # the stock stem would lose detail; ResNets). Any, checked below: OmegaConf 2.3 fails to
    # merge a Union[bool, str] field of a group into the root schema.
    small_images: Any = "auto"
    in_chans: int | None = None  # null: from the data set (1 for grayscale, 3 for RGB)
    pretrained: bool = False
    sync_bn: bool = False  # BatchNorm statistics over all GPUs (trainer=ddp|multinode); see README
    compile: bool = False  # torch.compile backbone + head (CUDA; see README's benchmark)
    compile_mode: str = "default"  # torch.compile's mode; reduce-overhead: CUDA graphs
    timm_kwargs: dict[str, Any] = field(default_factory=dict)
    head: HeadConfig = field(default_factory=HeadConfig)
    ema: EmaConfig = field(default_factory=EmaConfig)

    def __post_init__(self) -> None:
        if not (isinstance(self.small_images, bool) or self.small_images == "auto"):
            raise ConfigError(
                f"model.small_images must be true, false or auto, got {self.small_images!r}"
            )
        if self.compile_mode not in COMPILE_MODES:
            raise ConfigError(
                f"model.compile_mode must be one of {', '.join(COMPILE_MODES)}, "
                f"got {self.compile_mode!r}"
            )
