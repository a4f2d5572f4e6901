"""`BackboneSpec` reads run configs and exports alike; checkpoints written by Lightning in
today's format, and in the format before the typed configs, load through `models/checkpoint.py`
with the same features."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from conftest import QUICK_EVAL
from hydra import compose, initialize_config_module
from torch.utils.data import DataLoader

from ssl_app.errors import ConfigError
from ssl_app.evaluate import evaluate
from ssl_app.export import export_checkpoint
from ssl_app.models import load_backbone
from ssl_app.models.checkpoint import BackboneSpec, backbone_from_checkpoint
from ssl_app.pretrain import build_components, run_pretraining

# The run config of `ssl-pretrain model=tiny epochs=1 optim.batch_size=64 ...` as checkpoints
# stored it (hyper_parameters["cfg"]) before the typed configs: with data.batch_size beside
# optim.batch_size, and the integer warmup_epochs.
BEFORE_TYPED = Path(__file__).parent / "data" / "run_config_before_typed.json"

RUN_MODEL = {
    "backbone": "test_resnet",
    "in_chans": 1,
    "small_images": True,
    "pretrained": False,
    "timm_kwargs": {"drop_rate": 0.1},
    "head": {"hidden_dim": 8},
}


def test_run_config_and_export_give_one_spec():
    spec = BackboneSpec.from_run_config(RUN_MODEL)
    assert spec == BackboneSpec("test_resnet", 1, True, False, {"drop_rate": 0.1})
    assert spec.to_dict() == {
        "name": "test_resnet",
        "in_chans": 1,
        "small_images": True,
        "timm_kwargs": {"drop_rate": 0.1},
    }
    assert BackboneSpec.from_dict(spec.to_dict()) == spec
    model = spec.build()
    assert model.conv1[0].in_channels == 1 and model.conv1[0].stride == (1, 1)


@pytest.mark.parametrize(
    "change,message",
    [
        ({"backbone": None}, "model.backbone must be a timm model name"),
        ({"in_chans": "1"}, "model.in_chans must be a number of channels"),
        ({"in_chans": True}, "model.in_chans must be a number of channels"),
        ({"small_images": "auto"}, "model.small_images must be true or false"),
        ({"timm_kwargs": ["x"]}, "model.timm_kwargs must be a mapping"),
    ],
)
def test_wrong_types_are_refused_in_one_line(change, message):
    with pytest.raises(ConfigError, match=message):
        BackboneSpec.from_run_config({**RUN_MODEL, **change})


def test_random_is_seeded_and_never_pretrained():
    spec = BackboneSpec("test_resnet", 1, pretrained=True)
    first, second = spec.random(seed=3), spec.random(seed=3)
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_checkpoint_saved_by_lightning_loads(pretrain_config, tmp_path):
    """One training step, saved by Lightning itself as ssl-pretrain saves it, loads strictly."""
    module, _, config = build_components(pretrain_config())
    images = torch.rand(8, 1, 32, 32)
    two_views = DataLoader([((x, x.flip(-1)), -1) for x in images], batch_size=4)
    trainer = pl.Trainer(
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, train_dataloaders=two_views)
    path = tmp_path / "last.ckpt"
    trainer.save_checkpoint(path)
    backbone, cfg, step = backbone_from_checkpoint(path)
    assert cfg == config and step == 1
    with torch.no_grad():
        expected = module.backbone.eval()(images)
        assert (backbone(images) - expected).abs().max() < 1e-6


@pytest.mark.slow
def test_checkpoint_written_before_the_typed_configs_loads_everywhere(pretrain_config, tmp_path):
    """ssl-eval scores it as the run's own final table did, ssl-export exports it, and
    ssl-pretrain resumes from it."""
    run_dir = tmp_path / "run"
    results = run_pretraining(pretrain_config(*QUICK_EVAL), run_dir)
    path = run_dir / "checkpoints" / "last.ckpt"
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    old_cfg = json.loads(BEFORE_TYPED.read_text())
    ckpt["hyper_parameters"]["cfg"] = old_cfg
    torch.save(ckpt, path)
    backbone, cfg, step = backbone_from_checkpoint(path)
    assert cfg == old_cfg and step == 1437 // 64

    fast = ["protocol=knn", "plots=false", "progress=false", "knn.sweep_k=[]", "cache_dir=null"]
    with initialize_config_module("ssl_app.conf", version_base=None):
        scored = evaluate(compose("evaluate", overrides=[f"run_dir={run_dir}", *fast]))
    assert scored["rows"]["learned"]["knn_top1"] == results["rows"]["learned"]["knn_top1"]

    weights = export_checkpoint(path, tmp_path / "export")
    images = torch.rand(2, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(load_backbone(weights.parent)(images), backbone(images))

    resumed = run_pretraining(pretrain_config(*QUICK_EVAL, "epochs=2", f"resume={path}"), run_dir)
    assert resumed["rows"]["learned"]["step"] == 2 * (1437 // 64)
