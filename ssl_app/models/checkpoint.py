"""Backbones from what a run leaves behind: one `BackboneSpec` read from a run config, a
Lightning checkpoint or an export, and strict, safe loading of checkpoint weights.

Checkpoints are read with `weights_only=True` (files are data, never code); their weights load
strictly (`load_state_strict`) and inf/nan weights of a diverged run are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ssl_app.errors import CheckpointError, ConfigError
from ssl_app.models.backbone import create_backbone
from ssl_app.models.config import ModelConfig

PREFIX = "backbone."


@dataclass(frozen=True)
class BackboneSpec:
    """The timm name and the arguments that shape a backbone's weights.

    Run configs name the architecture `model.backbone`, exports `creation.name`; both are
    validated into these typed fields before anything is built."""

    name: str
    in_chans: int = 3
    small_images: bool = False
    pretrained: bool = False
    timm_kwargs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_run_config(cls, model_cfg: ModelConfig | Mapping[str, Any]) -> BackboneSpec:
        """The spec of a run config's `model` group, typed or as a checkpoint stores it (other
        keys, e.g. the head, are ignored); `in_chans` and `small_images` must be decided."""
        if isinstance(model_cfg, ModelConfig):
            model_cfg = asdict(model_cfg)
        return cls.from_dict({**model_cfg, "name": model_cfg.get("backbone")}, "model", "backbone")

    @classmethod
    def from_dict(
        cls, fields: Mapping[str, Any], where: str = "creation", name_key: str = "name"
    ) -> BackboneSpec:
        """The spec of `fields` (an export's `creation`), each checked for its type; a wrong one
        is a ConfigError naming `<where>.<key>`."""
        spec = cls(
            name=fields.get("name"),
            in_chans=fields.get("in_chans", 3),
            small_images=fields.get("small_images", False),
            pretrained=fields.get("pretrained", False),
            timm_kwargs=fields.get("timm_kwargs") or {},
        )
        checks = (
            (name_key, spec.name, str, "a timm model name"),
            ("in_chans", spec.in_chans, int, "a number of channels"),
            ("small_images", spec.small_images, bool, "true or false"),
            ("pretrained", spec.pretrained, bool, "true or false"),
            ("timm_kwargs", spec.timm_kwargs, Mapping, "a mapping of timm arguments"),
        )
        for key, value, kind, what in checks:
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ConfigError(f"{where}.{key} must be {what}, got {value!r}")
        return spec

    def to_dict(self) -> dict[str, Any]:
        """The fields as an export stores them (`creation`; its weights replace `pretrained`)."""
        fields = asdict(self)
        del fields["pretrained"]
        return fields

    def build(self, pretrained: bool | None = None) -> nn.Module:
        """A new backbone; `pretrained=False` skips timm's weights (saved ones are loaded next)."""
        return create_backbone(
            self.name,
            in_chans=self.in_chans,
            small_images=self.small_images,
            pretrained=self.pretrained if pretrained is None else pretrained,
            **self.timm_kwargs,
        )

    def random(self, seed: int = 0) -> nn.Module:
        """The same architecture at random init (seeded): the no-training baseline."""
        torch.manual_seed(seed)
        return self.build(pretrained=False).eval()


def _first(keys: list[str], limit: int = 3) -> str:
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def load_state_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """`model.load_state_dict(state, strict=True)`, with a one-line CheckpointError naming the
    keys that are missing, unexpected or of another shape."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    resized = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    problems = [
        f"{what}: {_first(keys)}"
        for what, keys in (("missing", missing), ("unexpected", unexpected), ("shape", resized))
        if keys
    ]
    if problems:
        raise CheckpointError(
            f"{source} does not fit the {type(model).__name__} backbone "
            f"({'; '.join(problems)}); use weights of the same architecture and settings"
        )
    model.load_state_dict(state, strict=True)


def run_checkpoint(run_dir: str | Path) -> Path:
    """`<run_dir>/checkpoints/last.ckpt`, or a one-line error when the run has none."""
    path = Path(run_dir) / "checkpoints" / "last.ckpt"
    if not path.is_file():
        raise CheckpointError(
            f"run directory '{run_dir}' has no checkpoints/last.ckpt; pass run_dir=<an "
            f"ssl-pretrain output directory> or checkpoint=<path to a .ckpt>"
        )
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A Lightning checkpoint from ssl-pretrain, read with `weights_only=True`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint '{path}' does not exist; pass checkpoint=<path to a .ckpt> or run_dir=..."
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle, zip and torch errors all mean "not a checkpoint"
        raise CheckpointError(
            f"'{path}' is not a readable checkpoint ({type(err).__name__}); pass a .ckpt written "
            f"by ssl-pretrain"
        ) from None
    cfg = ckpt.get("hyper_parameters", {}).get("cfg") if isinstance(ckpt, dict) else None
    if not isinstance(cfg, dict) or "state_dict" not in ckpt or "model" not in cfg:
        raise CheckpointError(
            f"'{path}' is not an ssl-pretrain checkpoint (no state_dict or hyper_parameters.cfg)"
            f"; pass a .ckpt from <run_dir>/checkpoints/"
        )
    return ckpt


def backbone_from_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any], int]:
    """(backbone with the checkpoint's weights, loaded strictly; the run config; its step)."""
    ckpt = read_checkpoint(path)
    cfg = ckpt["hyper_parameters"]["cfg"]
    backbone = BackboneSpec.from_run_config(cfg["model"]).build(pretrained=False)
    state = {k[len(PREFIX) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(PREFIX)}
    broken = [k for k, v in state.items() if v.is_floating_point() and not v.isfinite().all()]
    if broken:
        raise CheckpointError(
            f"checkpoint '{path}' holds inf/nan weights ({len(broken)} tensors, e.g. {broken[0]}): "
            "a diverged run; use an earlier checkpoint"
        )
    load_state_strict(backbone, state, f"checkpoint '{path}'")
    return backbone.eval(), cfg, int(ckpt.get("global_step", -1))
