"""Backbones (timm factory, small-image stem) and the projection head."""

import pytest
import torch

from ssl_app.errors import ConfigError
from ssl_app.models import ProjectionHead, create_backbone
from ssl_app.pretrain import build_components


@pytest.mark.parametrize("name", ["resnet18", "test_resnet"])
def test_small_image_stem_keeps_resolution(name):
    x = torch.randn(2, 1, 32, 32)
    stock = create_backbone(name, in_chans=1).forward_features(x)
    small = create_backbone(name, in_chans=1, small_images=True).forward_features(x)
    assert small.shape[-1] == 4 * stock.shape[-1]  # stride 2 conv + max-pool removed
    assert create_backbone(name, in_chans=1, small_images=True)(x).ndim == 2


def test_feature_width_and_channels():
    model = create_backbone("resnet18", in_chans=3)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, model.num_features) == (2, 512)


def test_unknown_backbone_and_unpatchable_stem():
    with pytest.raises(ConfigError, match="unknown backbone 'resnet19'"):
        create_backbone("resnet19")
    with pytest.raises(ConfigError, match="small_images=false"):
        create_backbone("test_vit", small_images=True)


def test_projection_head_layout():
    head = ProjectionHead(16, hidden_dim=8, out_dim=4, num_layers=3, batch_norm=False)
    assert [type(m).__name__ for m in head] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert head(torch.randn(5, 16)).shape == (5, 4)
    with_bn = ProjectionHead(16, 8, 4, num_layers=2)
    assert [type(m).__name__ for m in with_bn] == ["Linear", "BatchNorm1d", "ReLU", "Linear"]


def test_compile_mode_reaches_torch_compile_and_a_bad_one_is_refused(pretrain_config, monkeypatch):
    modes = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: modes.append(kw["mode"]))
    module, _, _ = build_components(
        pretrain_config("model.compile=true", "model.compile_mode=reduce-overhead")
    )
    module.on_fit_start()
    assert modes == ["reduce-overhead"] * 2  # backbone and head
    module, _, _ = build_components(pretrain_config("model.compile_mode=reduce-overhead"))
    module.on_fit_start()
    assert len(modes) == 2  # model.compile=false: the mode alone compiles nothing
    with pytest.raises(ConfigError, match="model.compile_mode must be one of"):
        build_components(pretrain_config("model.compile_mode=fast"))
