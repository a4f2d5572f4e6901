"""Backbones from what a user points at: a run directory, a Lightning checkpoint, exported
weights, or random init of the same architecture. Loading is strict (see `load_state_strict`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from ssl_app.errors import CheckpointError
from ssl_app.models.backbone import create_backbone
from ssl_app.models.exported import load_state_strict

PREFIX = "backbone."


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


def creation_args(model_cfg: dict[str, Any]) -> dict[str, Any]:
    """create_backbone kwargs from the run config's `model` group (what the JSON export stores)."""
    return {
        "name": model_cfg["backbone"],
        "in_chans": int(model_cfg["in_chans"]),
        "small_images": bool(model_cfg["small_images"]),
        "timm_kwargs": dict(model_cfg.get("timm_kwargs") or {}),
    }


def build_backbone(creation: dict[str, Any]) -> nn.Module:
    """A freshly initialised backbone from `creation_args`."""
    extra = creation.get("timm_kwargs", {})
    return create_backbone(
        creation["name"],
        in_chans=creation["in_chans"],
        small_images=creation["small_images"],
        **extra,
    )


def backbone_from_checkpoint(path: str | Path) -> tuple[nn.Module, dict[str, Any], int]:
    """(backbone with the checkpoint's weights, loaded strictly; the run config; its step)."""
    ckpt = read_checkpoint(path)
    cfg = ckpt["hyper_parameters"]["cfg"]
    backbone = build_backbone(creation_args(cfg["model"]))
    state = {k[len(PREFIX) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(PREFIX)}
    broken = [k for k, v in state.items() if v.is_floating_point() and not v.isfinite().all()]
    if broken:
        raise CheckpointError(
            f"checkpoint '{path}' holds inf/nan weights ({len(broken)} tensors, e.g. {broken[0]}): "
            "a diverged run; use an earlier checkpoint"
        )
    load_state_strict(backbone, state, f"checkpoint '{path}'")
    return backbone.eval(), cfg, int(ckpt.get("global_step", -1))


def random_backbone(creation: dict[str, Any], seed: int = 0) -> nn.Module:
    """The same architecture at random init (seeded): the no-training baseline."""
    torch.manual_seed(seed)
    return build_backbone(creation).eval()


def config_hash(cfg: dict[str, Any]) -> str:
    """Short stable hash of a run config (sorted JSON), to tell exports of runs apart."""
    text = json.dumps(cfg, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
