"""Shared fixtures and helpers: tiny pretraining configs, config groups, data configs,
checkpoints, ports."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_module

from ssl_app.data.config import DataConfig
from ssl_app.models import create_backbone

CONF = Path(__file__).resolve().parents[1] / "conf"  # shipped as the package ssl_app.conf


def config_files(group: str) -> list[Path]:
    """The options of `conf/<group>/`: its YAML files less the shared `_*.yaml` bases."""
    files = sorted(p for p in (CONF / group).glob("*.yaml") if not p.name.startswith("_"))
    assert files, f"no YAML files in {CONF / group}"  # a moved folder fails, never skips
    return files


# A run that takes seconds on a 2-core CPU: tiny timm ResNet, one epoch of digits, no workers.
TINY_RUN = [
    "model=tiny",
    "epochs=1",
    "optim.batch_size=64",
    "data.num_workers=0",
    "data.persistent_workers=false",
    "trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
]

# The final table without the slow rows: learned kNN only.
QUICK_EVAL = ["eval.linear=false", "eval.raw_pixels=false", "eval.baselines=false"]


@pytest.fixture
def pretrain_config():
    """`pretrain_config(*overrides)` → the composed `pretrain.yaml` with TINY_RUN applied."""

    def make(*overrides: str):
        with initialize_config_module("ssl_app.conf", version_base=None):
            return compose("pretrain", overrides=[*TINY_RUN, *overrides])

    return make


def data_config(name: str, image_size: int, **fields) -> DataConfig:
    """A data config for unit tests: loaders in this process (no workers) unless asked."""
    loaders = {"num_workers": 0, "persistent_workers": False, "pin_memory": False}
    return DataConfig(name=name, image_size=image_size, **(loaders | fields))


def quiet_trainer(**kwargs) -> pl.Trainer:
    """A CPU Trainer for unit tests: no logger, checkpoints, progress bar or summary."""
    quiet = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    return pl.Trainer(accelerator="cpu", enable_model_summary=False, **quiet, **kwargs)


class TinyRegression(pl.LightningModule):
    """The smallest trainable LightningModule (one linear layer, SGD) for tests of the loop's
    machinery: callbacks, signals, checkpoints."""

    def __init__(self, features: int = 4) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(features, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def free_port() -> int:
    """A free TCP port on localhost for a gloo process group's rendezvous."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_checkpoint(
    path: Path,
    backbone: str = "test_resnet",
    small_images: bool = False,
    seed: int = 0,
    data: dict | None = None,
) -> torch.nn.Module:
    """A file shaped like an ssl-pretrain Lightning checkpoint (digits, 1 channel, 32 px)."""
    torch.manual_seed(seed)
    model = create_backbone(backbone, in_chans=1, small_images=small_images)
    model_cfg = {"backbone": backbone, "in_chans": 1, "small_images": small_images}
    data = data or {"name": "digits", "image_size": 32}
    cfg = {"model": {**model_cfg, "timm_kwargs": {}}, "data": data}
    state = {f"backbone.{k}": v for k, v in model.state_dict().items()}
    state["head.0.weight"] = torch.zeros(2, 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "hyper_parameters": {"cfg": cfg}, "global_step": 3}, path)
    return model.eval()
