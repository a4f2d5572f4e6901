"""Backbones: any timm model by name, as a feature extractor (`num_classes=0`).

`small_images=True` adapts a ResNet-family stem to inputs ≤ 64 px (CIFAR-style): the
first conv becomes 3×3 stride 1 and the max-pool goes, so a 32-px image keeps a 4×4
map at the last stage instead of 1×1.
"""

from __future__ import annotations

import timm
import torch.nn as nn

from ssl_app.errors import ConfigError


def create_backbone(
    name: str,
    in_chans: int = 3,
    small_images: bool = False,
    pretrained: bool = False,
    **timm_kwargs,
) -> nn.Module:
    """A timm model without classifier; `.num_features` is the width of its output."""
    if not timm.is_model(name):
        raise ConfigError(
            f"unknown backbone '{name}'; any timm model name works "
            f"(e.g. resnet18, resnet50, vit_small_patch16_224; see timm.list_models())"
        )
    model = timm.create_model(
        name, pretrained=pretrained, num_classes=0, in_chans=in_chans, **timm_kwargs
    )
    if small_images:
        patch_small_image_stem(model)
    return model


def patch_small_image_stem(model: nn.Module) -> None:
    """Make a ResNet-family stem stride 1 without max-pool (in place)."""
    conv1, maxpool = getattr(model, "conv1", None), getattr(model, "maxpool", None)
    if conv1 is None or maxpool is None:
        name = type(model).__name__
        raise ConfigError(
            f"model.small_images=true needs a ResNet-family backbone (conv1 + maxpool), "
            f"{name} has none; set model.small_images=false"
        )
    if isinstance(conv1, nn.Sequential):  # deep stem (resnet-t, -d, test_resnet): stride 1 first
        conv1[0].stride = (1, 1)
    else:
        model.conv1 = nn.Conv2d(conv1.in_channels, conv1.out_channels, 3, 1, 1, bias=False)
    model.maxpool = nn.Identity()
