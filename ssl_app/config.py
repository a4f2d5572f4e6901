"""Typed configs: each group's dataclass registered in Hydra's ConfigStore as the schema that
its YAML files start from (`defaults: [_base, _self_]`), and the roots of `ssl-pretrain`,
`ssl-eval` and `ssl-embed`.

Hydra checks every composed key against these types, so a typo (`optim.lrr=1`) or a value of
the wrong type (`optim.batch_size=abc`) fails at composition, before anything is built, with
Hydra's own message (one line through `ssl_app.cli`). The dataclasses live with the code that
takes them (`ssl_app/<room>/config.py`); `register_configs` runs when `ssl_app.conf` is imported,
which Hydra does before it reads the YAML files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from ssl_app.data.config import DataConfig
from ssl_app.errors import ConfigError, require_positive
from ssl_app.eval.options import (
    EvalConfig,
    KnnSettings,
    LinearSettings,
    LinearSGDOptions,
    LowshotSettings,
    require_count,
)
from ssl_app.losses.config import LOSS_CONFIGS, LossConfig
from ssl_app.models.config import ModelConfig
from ssl_app.train.config import OptimConfig
from ssl_app.train.loggers import LoggerConfig


@dataclass
class PretrainConfig:
    """`conf/pretrain.yaml`: one option of each group, and the run's own keys."""

    data: DataConfig = MISSING
    model: ModelConfig = MISSING
    loss: LossConfig = MISSING
    optim: OptimConfig = MISSING
    # pl.Trainer's keywords, passed on as they are: left open (not typed) so that any of them
    # can be added with +trainer.key=value; Lightning checks them.
    trainer: dict[str, Any] = MISSING
    logger: LoggerConfig = MISSING
    seed: int = MISSING
    epochs: int = MISSING  # trainer.max_epochs follows this
    resume: Any = None  # null | true | auto | a .ckpt or run directory (bool or str)
    checkpoint_every_s: float = MISSING  # last.ckpt: epoch ends this far apart, and the last
    eval: EvalConfig = MISSING

    def __post_init__(self) -> None:
        require_positive("epochs", self.epochs)
        if not self.checkpoint_every_s >= 0:
            raise ConfigError(
                f"checkpoint_every_s must be >= 0 (0: every epoch), got {self.checkpoint_every_s}"
            )


@dataclass
class BackboneSourceConfig:
    """The keys `ssl-eval` and `ssl-embed` share: where the backbone comes from (one of
    `run_dir`, `checkpoint`, `weights`), the data set (None: the run's own), the device."""

    data: DataConfig | None = None
    run_dir: str | None = MISSING
    checkpoint: str | None = MISSING
    weights: str | None = MISSING
    device: str = MISSING  # auto | cpu | cuda | cuda:N
    progress: bool = MISSING
    num_workers: int | None = MISSING  # None: as the data config says

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda") and not re.fullmatch(
            r"cuda:\d+", self.device
        ):
            raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got '{self.device}'")
        if self.num_workers is not None:
            require_count("num_workers", self.num_workers)


@dataclass
class EvaluateConfig(BackboneSourceConfig):
    """`conf/evaluate.yaml`: `ssl-eval`'s root."""

    protocol: str = MISSING  # checked against the protocols by `protocols.expand`
    ood_data: str | None = MISSING
    seed: int = MISSING
    cache_dir: str | None = MISSING
    plots: bool = MISSING
    tsne_max_points: int = MISSING
    pair_batch_size: int = MISSING
    max_raw_pixel_images: int = MISSING
    max_lbfgs_samples: int = MISSING
    max_plot_classes: int = MISSING
    knn: KnnSettings = MISSING
    linear: LinearSettings = MISSING
    linear_sgd: LinearSGDOptions = MISSING
    lowshot: LowshotSettings = MISSING

    def __post_init__(self) -> None:
        super().__post_init__()
        require_count("tsne_max_points", self.tsne_max_points)
        require_positive("pair_batch_size", self.pair_batch_size)


@dataclass
class EmbedConfig(BackboneSourceConfig):
    """`conf/embed.yaml`: `ssl-embed`'s root."""

    split: str = MISSING  # checked against the data set's splits when it is loaded
    out: str | None = MISSING
    index: bool = MISSING
    query: str | None = MISSING
    k: int = MISSING

    def __post_init__(self) -> None:
        super().__post_init__()
        require_positive("k", self.k)


def check_values(cfg: DictConfig) -> None:
    """The schema's value checks (each dataclass's `__post_init__`), which Hydra's composition,
    checking keys and types only, leaves out; a bad value raises ConfigError (one line, exit 2)."""
    OmegaConf.to_object(cfg)


def register_configs() -> None:
    """Store the schemas: `_pretrain_schema` for the root, `<group>/_base` for the groups, and
    `loss/_<name>` for the losses with keys of their own."""
    store = ConfigStore.instance()
    store.store(name="_pretrain_schema", node=PretrainConfig)
    store.store(name="_evaluate_schema", node=EvaluateConfig)
    store.store(name="_embed_schema", node=EmbedConfig)
    store.store(group="data", name="_base", node=DataConfig)
    store.store(group="model", name="_base", node=ModelConfig)
    store.store(group="loss", name="_base", node=LossConfig)
    for name, schema in LOSS_CONFIGS.items():
        store.store(group="loss", name=f"_{name}", node=schema)
    store.store(group="optim", name="_base", node=OptimConfig)
    store.store(group="logger", name="_base", node=LoggerConfig)
