"""Exported backbones: `model.safetensors` + `config.json`, loadable by timm or `load_backbone`.

A stock architecture loads with plain timm (`pretrained_cfg_overlay=dict(file=...)`); one
with a patched small-image stem needs `load_backbone`, which re-applies the patch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ssl_app.errors import CheckpointError
from ssl_app.models.checkpoint import BackboneSpec, load_state_strict

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT = "ssl_app.backbone/1"


def export_backbone(
    backbone: nn.Module, out_dir: str | Path, creation: dict[str, Any], meta: dict[str, Any]
) -> Path:
    """Write `model.safetensors` and `config.json` to `out_dir`; returns the weights path.

    `creation` = create_backbone kwargs (name, in_chans, small_images, timm_kwargs); `meta` adds
    mean, std, input_size, config_hash, ... for the `pretrained_cfg` and provenance.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in backbone.state_dict().items()}
    save_file(state, out / WEIGHTS_FILE, metadata={"format": "pt"})
    pretrained_cfg = {k: meta[k] for k in ("mean", "std", "input_size") if k in meta}
    config = {
        "architecture": creation["name"],
        "num_classes": 0,
        "num_features": int(backbone.num_features),
        "pretrained_cfg": pretrained_cfg,
        "timm_loadable": not creation["small_images"],
        "creation": creation,
        "format": FORMAT,
        **{k: v for k, v in meta.items() if k not in pretrained_cfg},
    }
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return out / WEIGHTS_FILE


def exported_files(path: str | Path) -> tuple[Path, Path]:
    """(weights, config) of an export directory or of its `model.safetensors` file."""
    path = Path(path)
    weights = path / WEIGHTS_FILE if path.is_dir() else path
    if not weights.is_file():
        raise CheckpointError(
            f"weights file '{weights}' does not exist; pass the directory or .safetensors "
            f"file written by ssl-export"
        )
    for config in (weights.with_suffix(".json"), weights.parent / CONFIG_FILE):
        if config.is_file():
            return weights, config
    raise CheckpointError(
        f"'{weights}' has no {CONFIG_FILE} beside it; keep the JSON that ssl-export wrote "
        f"next to the weights"
    )


def read_export_config(config_path: Path) -> dict[str, Any]:
    """The JSON written by `export_backbone`, checked for the fields `load_backbone` needs."""
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError):
        config = None
    creation = config.get("creation") if isinstance(config, dict) else None
    if not isinstance(creation, dict) or "name" not in creation:
        raise CheckpointError(
            f"'{config_path}' is not an ssl-export config; re-export the backbone with ssl-export"
        )
    return config


def load_backbone(path: str | Path) -> nn.Module:
    """Rebuild an exported backbone (small-image stem included) in eval mode."""
    weights, config_path = exported_files(path)
    config = read_export_config(config_path)
    model = BackboneSpec.from_dict(config["creation"], f"'{config_path}' creation").build(False)
    try:
        state = load_file(weights)
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"'{weights}' is not a readable safetensors file ({err})") from None
    load_state_strict(model, state, f"'{weights}'")
    model.pretrained_cfg = {**getattr(model, "pretrained_cfg", {}), **config["pretrained_cfg"]}
    return model.eval()
