"""What `ssl-eval` evaluates: the backbone (learned, exported, random init or none for raw
pixels), the data module to evaluate it on, and where `eval.json` goes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch.nn as nn
from hydra import compose
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict

from ssl_app.data.datamodule import ContrastiveDataModule
from ssl_app.errors import ConfigError
from ssl_app.models.checkpoint import BackboneSpec, backbone_from_checkpoint, run_checkpoint
from ssl_app.models.exported import exported_files, load_backbone, read_export_config

NEEDS_SOURCE = (
    "pass run_dir=<ssl-pretrain output>, checkpoint=<.ckpt> or weights=<ssl-export output> "
    "(protocol=raw needs only data=<name>)"
)


@dataclass
class Source:
    """A backbone to evaluate (None: raw pixels) with its provenance."""

    label: str
    backbone: nn.Module | None
    spec: BackboneSpec | None  # architecture
    data: dict[str, Any] | None  # data config of the training run, if known
    data_name: str | None  # data set name of an export, if known
    out_dir: Path
    provenance: dict[str, Any] = field(default_factory=dict)  # file and step behind each row


def _checkpoint_dir(path: Path) -> Path:
    """The run directory for `<run>/checkpoints/x.ckpt`, else the checkpoint's folder."""
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


def learned_source(cfg: DictConfig) -> Source | None:
    """The learned backbone named by run_dir / checkpoint / weights (None if none given)."""
    if cfg.weights:
        _, config_path = exported_files(cfg.weights)
        config = read_export_config(config_path)
        out = config_path.parent
        backbone = load_backbone(cfg.weights)
        data_name = config.get("data")
        provenance = {"weights": str(config_path.parent)}
        spec = BackboneSpec.from_dict(config["creation"])
        return Source("learned", backbone, spec, None, data_name, out, provenance)
    ckpt = None
    if cfg.checkpoint and cfg.checkpoint != "random":
        ckpt = Path(cfg.checkpoint)
    elif cfg.run_dir:
        ckpt = run_checkpoint(cfg.run_dir)
    if ckpt is None:
        return None
    backbone, run_cfg, step = backbone_from_checkpoint(ckpt)
    out = Path(cfg.run_dir) if cfg.run_dir else _checkpoint_dir(ckpt)
    spec = BackboneSpec.from_run_config(run_cfg["model"])
    provenance = {"checkpoint": str(ckpt), "step": step}
    return Source("learned", backbone, spec, run_cfg["data"], None, out, provenance)


def resolve_source(cfg: DictConfig) -> Source:
    """The backbone of the request: learned, `checkpoint=random`, or none for protocol=raw."""
    if sum(bool(cfg[k]) and cfg[k] != "random" for k in ("run_dir", "checkpoint", "weights")) > 1:
        raise ConfigError(f"give only one of run_dir, checkpoint and weights; {NEEDS_SOURCE}")
    source = learned_source(cfg)
    if cfg.protocol == "raw":
        base = source or Source("", None, None, None, None, Path("outputs/eval"))
        return Source("raw pixels", None, None, base.data, base.data_name, base.out_dir)
    if cfg.checkpoint == "random":
        if source is None:
            raise ConfigError(f"checkpoint=random needs the architecture; {NEEDS_SOURCE}")
        source.label, source.backbone = "random init", source.spec.random(cfg.seed)
        source.provenance = {"checkpoint": "random", "seed": cfg.seed}
    if source is None:
        raise ConfigError(f"nothing to evaluate; {NEEDS_SOURCE}")
    return source


def compose_data(name: str, image_size: int | None = None) -> DictConfig:
    """The `conf/data/<name>.yaml` group (optionally at another image size)."""
    overrides = [f"data={name}"] + ([f"data.image_size={image_size}"] if image_size else [])
    try:
        return compose(config_name="evaluate", overrides=overrides).data
    except HydraException as err:
        raise ConfigError(f"cannot load data config '{name}': {str(err).splitlines()[0]}") from None


def data_config(cfg: DictConfig, source: Source) -> DictConfig:
    """`data=<name>` if given, else the training run's data config, else the export's data set."""
    if cfg.get("data") is not None:
        return cfg.data
    if source.data is not None:
        return OmegaConf.create(source.data)
    if source.data_name:
        return compose_data(source.data_name)
    raise ConfigError("no data set known for this evaluation; pass data=<name> (e.g. data=digits)")


def build_datamodule(data_cfg: DictConfig, spec: BackboneSpec | None):
    """The data module, checked to feed as many channels as the backbone takes."""
    datamodule = ContrastiveDataModule.from_config(OmegaConf.to_container(data_cfg, resolve=True))
    if spec is not None and datamodule.info.channels != spec.in_chans:
        raise ConfigError(
            f"data set '{datamodule.name}' has {datamodule.info.channels} channel(s) but the "
            f"backbone takes {spec.in_chans}; evaluate on a data set like the training one"
        )
    datamodule.prepare_data()
    datamodule.setup("validate")
    return datamodule


def with_workers(data_cfg: DictConfig, num_workers: int | None) -> DictConfig:
    """A copy of `data_cfg` with `num_workers` replaced (None: unchanged)."""
    data_cfg = OmegaConf.create(OmegaConf.to_container(data_cfg, resolve=True))
    if num_workers is not None:
        with open_dict(data_cfg):
            data_cfg.num_workers = num_workers
    return data_cfg
