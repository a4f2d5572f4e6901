"""Every loss has a YAML in conf/loss that builds it as the training module does, typed by a
schema that names the loss's own arguments."""

import inspect

import pytest
import torch
from conftest import config_files
from omegaconf import OmegaConf

from ssl_app.errors import ConfigError
from ssl_app.losses import LOSSES, build_loss
from ssl_app.losses.config import LOSS_CONFIGS, LossConfig


def test_one_yaml_per_registered_loss():
    assert sorted(p.stem for p in config_files("loss")) == LOSSES.names()


@pytest.mark.parametrize("name", LOSSES.names())
def test_schema_keys_are_the_loss_arguments(name):
    schema = LOSS_CONFIGS.get(name, LossConfig)
    arguments = set(inspect.signature(LOSSES.get(name)).parameters) - {"gather"}
    assert set(schema().loss_kwargs()) == arguments


@pytest.mark.parametrize("path", config_files("loss"), ids=lambda p: p.stem)
def test_yaml_builds_a_loss_called_on_two_views(path, pretrain_config):
    cfg = OmegaConf.to_object(pretrain_config(f"loss={path.stem}").loss)
    assert type(cfg) is LOSS_CONFIGS.get(path.stem, LossConfig)
    loss_fn = build_loss(cfg.name, **cfg.loss_kwargs())
    out = loss_fn.with_stats(torch.randn(6, 4), torch.randn(6, 4))
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert {"pos_sim", "neg_sim", "pos_acc", "temperature"} <= set(out.stats)


def test_unknown_loss_lists_the_known_ones():
    with pytest.raises(ConfigError, match="debiased"):
        build_loss("infonse")
