"""Exported backbones in timm's own format: `model.safetensors` + `config.json` with a complete
`pretrained_cfg`, so `timm.create_model("local-dir:DIR", pretrained=True)` loads the weights and
`timm.data.resolve_data_config` the preprocessing.

A stock architecture loads with plain timm; one with a patched small-image stem needs
`load_backbone`, which re-applies the patch from the `creation` spec stored beside timm's keys.
Both read a folder, `local-dir:DIR` or `hf-hub:user/name`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch.nn as nn
from huggingface_hub import HfApi, hf_hub_download
from safetensors import SafetensorError
from safetensors.torch import load_file
from timm.models import save_for_hf

from ssl_app.errors import CheckpointError, SslAppError
from ssl_app.models.checkpoint import BackboneSpec, load_state_strict

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT = "ssl_app.backbone/2"  # 2: timm's save_for_hf layout (complete pretrained_cfg, model_args)


def export_backbone(
    backbone: nn.Module,
    out_dir: str | Path,
    spec: BackboneSpec,
    preprocessing: dict[str, Any],
    meta: dict[str, Any],
) -> Path:
    """Write `model.safetensors` and `config.json` to `out_dir` with timm's `save_for_hf`;
    returns the weights path.

    `preprocessing` (input_size, interpolation, crop_pct, mean, std) becomes the pretrained_cfg;
    `spec` (as `creation`) and `meta` (data set, config hash, source) are kept beside it.
    """
    model_config = {
        "pretrained_cfg": {"tag": f"ssl_app_{meta.get('data', 'export')}"},
        "creation": spec.to_dict(),
        "timm_loadable": not spec.small_images,
        "format": FORMAT,
        **meta,
    }
    save_for_hf(
        backbone,
        str(out_dir),
        model_config=model_config,
        data_config=dict(preprocessing),
        safe_serialization=True,
    )
    return Path(out_dir) / WEIGHTS_FILE


def publish_export(folder: str | Path, repo_id: str) -> str:
    """Upload an export folder to the Hugging Face Hub model repository `repo_id` (created if
    new); returns the repository's URL."""
    api = HfApi()
    try:
        repo = api.create_repo(repo_id, exist_ok=True)
        api.upload_folder(repo_id=repo.repo_id, folder_path=folder, commit_message="ssl-export")
    except (OSError, ValueError) as err:  # huggingface_hub's network, login and name errors
        why = " ".join(str(err).split())[:120]
        raise SslAppError(
            f"cannot publish to hf-hub:{repo_id} ({type(err).__name__}: {why}); "
            "log in with `hf auth login` and check the name and the network"
        ) from None
    return str(repo)


def local_export(path: str | Path) -> Path:
    """The local path of an export named as a path, `local-dir:DIR` or `hf-hub:user/name[@rev]`
    (downloaded into huggingface_hub's cache)."""
    name = str(path)
    if name.startswith("local-dir:"):
        return Path(name.removeprefix("local-dir:"))
    if name.startswith("hf-hub:"):
        return download_export(name.removeprefix("hf-hub:"))
    return Path(path)


def download_export(repo: str) -> Path:
    """The folder holding `config.json` and `model.safetensors` of a Hub model repository."""
    repo_id, _, revision = repo.partition("@")
    try:
        config = hf_hub_download(repo_id, CONFIG_FILE, revision=revision or None)
        hf_hub_download(repo_id, WEIGHTS_FILE, revision=revision or None)
    except (OSError, ValueError) as err:  # huggingface_hub's network and not-found errors
        raise CheckpointError(
            f"cannot download hf-hub:{repo} ({type(err).__name__}); check the repository name "
            "and the network (or HF_HUB_OFFLINE with a cached copy)"
        ) from None
    return Path(config).parent


def exported_files(path: str | Path) -> tuple[Path, Path]:
    """(weights, config) of an export directory or of its `model.safetensors` file (or of
    `local-dir:` / `hf-hub:` names)."""
    path = local_export(path)
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
    """Rebuild an exported backbone (small-image stem included) in eval mode, from a folder, its
    weights file, `local-dir:DIR` or `hf-hub:user/name[@revision]`."""
    weights, config_path = exported_files(path)
    config = read_export_config(config_path)
    model = BackboneSpec.from_dict(config["creation"], f"'{config_path}' creation").build(False)
    try:
        state = load_file(weights)
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"'{weights}' is not a readable safetensors file ({err})") from None
    load_state_strict(model, state, f"'{weights}'")
    saved = {k: tuple(v) if isinstance(v, list) else v for k, v in config["pretrained_cfg"].items()}
    model.pretrained_cfg = {**getattr(model, "pretrained_cfg", {}), **saved}  # JSON lists as timm's
    return model.eval()
