"""Every loss has a YAML in conf/loss that builds it as the training module does."""

import pytest
import torch
import yaml
from conftest import config_files

from ssl_app.errors import ConfigError
from ssl_app.losses import LOSSES, build_loss


def test_one_yaml_per_registered_loss():
    assert sorted(p.stem for p in config_files("loss")) == LOSSES.names()


@pytest.mark.parametrize("path", config_files("loss"), ids=lambda p: p.stem)
def test_yaml_builds_a_loss_called_on_two_views(path):
    cfg = yaml.safe_load(path.read_text())
    loss_fn = build_loss(cfg.pop("name"), gather=True, **cfg)
    out = loss_fn.with_stats(torch.randn(6, 4), torch.randn(6, 4))
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert {"pos_sim", "neg_sim", "pos_acc", "temperature"} <= set(out.stats)


def test_unknown_loss_lists_the_known_ones():
    with pytest.raises(ConfigError, match="debiased"):
        build_loss("infonse")
