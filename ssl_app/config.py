"""Typed configs: each group's dataclass registered in Hydra's ConfigStore as the schema that
its YAML files start from (`defaults: [_base, _self_]`), and `ssl-pretrain`'s root.

Hydra checks every composed key against these types, so a typo (`optim.lrr=1`) or a value of
the wrong type (`optim.batch_size=abc`) fails at composition, before anything is built, with
Hydra's own message (one line through `ssl_app.cli`). The dataclasses live with the code that
takes them (`ssl_app/<room>/config.py`); `register_configs` runs when `ssl_app.conf` is imported,
which Hydra does before it reads the YAML files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from ssl_app.data.config import DataConfig
from ssl_app.errors import require_positive
from ssl_app.eval.options import EvalConfig
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
    eval: EvalConfig = MISSING

    def __post_init__(self) -> None:
        require_positive("epochs", self.epochs)


def register_configs() -> None:
    """Store the schemas: `_pretrain_schema` for the root, `<group>/_base` for the groups, and
    `loss/_<name>` for the losses with keys of their own."""
    store = ConfigStore.instance()
    store.store(name="_pretrain_schema", node=PretrainConfig)
    store.store(group="data", name="_base", node=DataConfig)
    store.store(group="model", name="_base", node=ModelConfig)
    store.store(group="loss", name="_base", node=LossConfig)
    for name, schema in LOSS_CONFIGS.items():
        store.store(group="loss", name=f"_{name}", node=schema)
    store.store(group="optim", name="_base", node=OptimConfig)
    store.store(group="logger", name="_base", node=LoggerConfig)
