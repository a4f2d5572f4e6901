"""`BackboneSpec` reads run configs and exports alike; checkpoints written by Lightning in
today's format load through `models/checkpoint.py` with the same features."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from ssl_app.errors import ConfigError
from ssl_app.models.checkpoint import BackboneSpec, backbone_from_checkpoint
from ssl_app.pretrain import build_components

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
