"""What `ssl-eval` evaluates: the backbone (learned, exported, random init or none for raw
pixels), the data module to evaluate it on, and where `eval.json` and the feature cache go."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import torch.nn as nn
from hydra import compose
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from ssl_app.data.config import DataConfig
from ssl_app.data.datamodule import ContrastiveDataModule
from ssl_app.errors import ConfigError
from ssl_app.eval.cache import FeatureCache
from ssl_app.eval.feature_set import FeatureSet
from ssl_app.models.checkpoint import BackboneSpec, backbone_from_checkpoint, run_checkpoint
from ssl_app.models.exported import exported_files, load_backbone, read_export_config

NEEDS_SOURCE = (
    "pass run_dir=<ssl-pretrain output>, checkpoint=<.ckpt> or weights=<ssl-export output> "
    "(checkpoint=raw needs only data=<name>)"
)
BASELINES = ("random", "raw")  # checkpoint=random: same architecture at random init; raw: pixels
NO_RUN_DIR = Path("outputs/eval")  # raw pixels evaluated without a run


@dataclass
class Subject:
    """A backbone to evaluate (None: raw pixels) with its provenance."""

    label: str
    backbone: nn.Module | None
    spec: BackboneSpec | None  # architecture
    data: dict[str, Any] | None  # data config of the training run as stored, if known
    data_name: str | None  # data set name of an export, if known
    out_dir: Path
    provenance: dict[str, Any] = field(default_factory=dict)  # file and step behind each row
    batch_size: int | None = None  # the training run's optim.batch_size, if known


def _checkpoint_dir(path: Path) -> Path:
    """The run directory for `<run>/checkpoints/x.ckpt`, else the checkpoint's folder."""
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


def learned_source(cfg: DictConfig) -> Subject | None:
    """The learned backbone named by run_dir / checkpoint / weights (None if none given)."""
    if cfg.weights:
        _, config_path = exported_files(cfg.weights)
        config = read_export_config(config_path)
        out = config_path.parent
        backbone = load_backbone(cfg.weights)
        data_name = config.get("data")
        provenance = {"weights": str(config_path.parent)}
        spec = BackboneSpec.from_dict(config["creation"])
        return Subject("learned", backbone, spec, None, data_name, out, provenance)
    ckpt = None
    if cfg.checkpoint and cfg.checkpoint not in BASELINES:
        ckpt = Path(cfg.checkpoint)
    elif cfg.run_dir:
        ckpt = run_checkpoint(cfg.run_dir)
    if ckpt is None:
        return None
    backbone, run_cfg, step = backbone_from_checkpoint(ckpt)
    out = Path(cfg.run_dir) if cfg.run_dir else _checkpoint_dir(ckpt)
    spec = BackboneSpec.from_run_config(run_cfg["model"])
    provenance = {"checkpoint": str(ckpt), "step": step}
    optim = run_cfg.get("optim")  # as stored (checked when used): files are data
    batch_size = optim.get("batch_size") if isinstance(optim, dict) else None
    return Subject("learned", backbone, spec, run_cfg["data"], None, out, provenance, batch_size)


def resolve_source(cfg: DictConfig) -> Subject:
    """The backbone of the request: learned, `checkpoint=random`, or `checkpoint=raw` (none)."""
    given = [k for k in ("run_dir", "checkpoint", "weights") if cfg[k] and cfg[k] not in BASELINES]
    if len(given) > 1:
        raise ConfigError(f"give only one of run_dir, checkpoint and weights; {NEEDS_SOURCE}")
    source = learned_source(cfg)
    if cfg.checkpoint == "raw":
        base = source or Subject("", None, None, None, None, NO_RUN_DIR)
        return Subject(
            "raw pixels", None, None, base.data, base.data_name, base.out_dir, {}, base.batch_size
        )
    if cfg.checkpoint == "random":
        if source is None:
            raise ConfigError(f"checkpoint=random needs the architecture; {NEEDS_SOURCE}")
        source.label, source.backbone = "random init", source.spec.random(cfg.seed)
        source.provenance = {"checkpoint": "random", "seed": cfg.seed}
    if source is None:
        raise ConfigError(f"nothing to evaluate; {NEEDS_SOURCE}")
    return source


def compose_data(name: str, image_size: int | None = None) -> DataConfig:
    """The `conf/data/<name>.yaml` group (optionally at another image size)."""
    overrides = [f"data={name}"] + ([f"data.image_size={image_size}"] if image_size else [])
    try:
        data = compose(config_name="evaluate", overrides=overrides).data
    except HydraException as err:
        raise ConfigError(f"cannot load data config '{name}': {str(err).splitlines()[0]}") from None
    return OmegaConf.to_object(data)


def data_config(cfg: DictConfig, source: Subject) -> DataConfig:
    """`data=<name>` if given, else the training run's data config, else the export's data set."""
    if cfg.get("data") is not None:
        return OmegaConf.to_object(cfg.data)
    if source.data is not None:
        return DataConfig.from_dict(source.data)
    if source.data_name:
        return compose_data(source.data_name)
    raise ConfigError("no data set known for this evaluation; pass data=<name> (e.g. data=digits)")


def pair_batch_size(cfg: DictConfig, source: Subject) -> int:
    """Images per two-view batch of the similarity histogram: the run's batch size on the run's
    own data, else `pair_batch_size`."""
    on_run_data = cfg.get("data") is None and source.data is not None
    return source.batch_size if on_run_data and source.batch_size else cfg.pair_batch_size


def build_datamodule(
    data: DataConfig, spec: BackboneSpec | None, batch_size: int | None = None
) -> ContrastiveDataModule:
    """The data module (two-view batches of `batch_size`, if given), checked to feed as many
    channels as the backbone takes."""
    datamodule = ContrastiveDataModule(data, batch_size)
    if spec is not None and datamodule.info.channels != spec.in_chans:
        raise ConfigError(
            f"data set '{datamodule.name}' has {datamodule.info.channels} channel(s) but the "
            f"backbone takes {spec.in_chans}; evaluate on a data set like the training one"
        )
    datamodule.prepare_data()
    datamodule.setup("validate")
    return datamodule


def with_workers(data: DataConfig, num_workers: int | None) -> DataConfig:
    """`data` with `num_workers` replaced (None: unchanged)."""
    return data if num_workers is None else replace(data, num_workers=num_workers)


def cache_dir(setting: str | None, out_dir: Path) -> Path | None:
    """`cache_dir=auto`: `<out_dir>/feature_cache` beside eval.json; null: no cache."""
    if setting == "auto":
        return out_dir / "feature_cache"
    return Path(setting) if setting else None


def feature_set(
    source: Subject, data: DataConfig, cfg: DictConfig, batch_size: int | None = None
) -> FeatureSet:
    """The features `source` gives on `data` (extracted when a protocol asks; its data module
    makes two-view batches of `batch_size`), and on `ood_data` at the same image size when one
    is named."""
    cache = FeatureCache(cache_dir(cfg.cache_dir, source.out_dir))
    ood = None
    if cfg.ood_data is not None:
        ood_data = with_workers(compose_data(cfg.ood_data, data.image_size), cfg.num_workers)
        ood = partial(_features_on, source, ood_data, cfg, cache, None)
    return _features_on(source, data, cfg, cache, ood, batch_size)


def _features_on(
    source: Subject, data: DataConfig, cfg: DictConfig, cache, ood, batch_size=None
) -> FeatureSet:
    return FeatureSet(
        label=source.label,
        backbone=source.backbone,
        datamodule=build_datamodule(data, source.spec, batch_size),
        data=asdict(data),
        cache=cache,
        device=cfg.device,
        progress=cfg.progress,
        provenance=source.provenance,
        ood=ood,
    )
