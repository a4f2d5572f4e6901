"""Fast photometric ops and crop: agree with torchvision where defined alike; invariants of hue."""

import math

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from ssl_app.data.augment import (
    ColourJitter,
    RandomResizedCrop,
    colour_affine,
    gaussian_blur,
    hue_matrix,
)


def _mid_range_image(channels: int = 3) -> torch.Tensor:
    """Values in [0.4, 0.6]: mild factors never saturate, so clamping cannot differ."""
    return 0.4 + 0.2 * torch.rand(channels, 9, 11, generator=torch.Generator().manual_seed(0))


def _apply(steps, x):
    matrix, offset = colour_affine(steps, x.mean(dim=(1, 2), dtype=torch.float64).numpy())
    m, b = torch.from_numpy(matrix).float(), torch.from_numpy(offset).float()
    return (m @ x.reshape(x.shape[0], -1) + b[:, None]).view_as(x)


TORCHVISION = {
    "brightness": TF.adjust_brightness,
    "contrast": TF.adjust_contrast,
    "saturation": TF.adjust_saturation,
}


@pytest.mark.parametrize("channels", [1, 3])
def test_affine_composition_equals_torchvision_steps_in_order(channels):
    x = _mid_range_image(channels)
    names = ["contrast", "brightness", "saturation"][: 3 if channels == 3 else 2]
    steps = list(zip(names, [1.3, 0.8, 1.2], strict=False))
    expected = x
    for name, factor in steps:
        expected = TORCHVISION[name](expected, factor)
    torch.testing.assert_close(_apply(steps, x), expected, atol=1e-5, rtol=0)


def test_hue_keeps_grays_and_luma_and_inverts():
    gray = torch.full((3, 4, 4), 0.3)
    torch.testing.assert_close(_apply([("hue", 0.37)], gray), gray)
    luma_row = np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(luma_row @ hue_matrix(0.2), luma_row, atol=1e-3)
    np.testing.assert_allclose(hue_matrix(0.2) @ hue_matrix(-0.2), np.eye(3), atol=1e-9)
    np.testing.assert_allclose(hue_matrix(0.0), np.eye(3), atol=1e-9)
    np.testing.assert_allclose(
        hue_matrix(1 / 3) @ hue_matrix(1 / 3) @ hue_matrix(1 / 3), np.eye(3), atol=1e-9
    )


@pytest.mark.parametrize("turns", [0.05, 0.2])
def test_hue_shift_moves_colours_like_torchvision(turns):
    """YIQ rotation and HSV shift differ in detail but agree in direction and size of change."""
    x = torch.rand(3, 30, 30, generator=torch.Generator().manual_seed(0))
    ours = (_apply([("hue", turns)], x).clamp(0, 1) - x).flatten()
    theirs = (TF.adjust_hue(x, turns) - x).flatten()
    assert torch.nn.functional.cosine_similarity(ours, theirs, dim=0) > 0.6
    assert 0.8 < ours.norm() / theirs.norm() < 1.25


def test_jitter_output_in_range_and_zero_strength_is_identity():
    torch.manual_seed(0)
    x = torch.rand(3, 16, 16)
    y = ColourJitter(0.8, 0.8, 0.8, 0.2)(x)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    torch.testing.assert_close(ColourJitter()(x), x)


@pytest.mark.parametrize(("sigma", "radius"), [(0.5, 2), (1.7, 5)])
def test_separable_blur_equals_torchvision(sigma, radius):
    x = torch.rand(3, 20, 17, generator=torch.Generator().manual_seed(1))
    expected = TF.gaussian_blur(x, [2 * radius + 1] * 2, [sigma, sigma])
    torch.testing.assert_close(gaussian_blur(x, sigma, radius), expected, atol=1e-5, rtol=0)


def test_crop_parameters_respect_scale_and_ratio():
    torch.manual_seed(0)
    crop = RandomResizedCrop(8, scale=(0.2, 0.5))
    for _ in range(200):
        top, left, h, w = crop.params(40, 60)
        assert 0 <= top <= 40 - h and 0 <= left <= 60 - w
        assert 0.2 * 2400 * 0.9 <= h * w <= 0.5 * 2400 * 1.1
        assert 3 / 4 * 0.9 <= w / h <= 4 / 3 * 1.1
    assert crop(torch.zeros(1, 40, 60, dtype=torch.uint8)).shape == (1, 8, 8)


def test_full_scale_square_crop_of_square_image_is_a_resize():
    crop = RandomResizedCrop(16, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    x = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    assert crop.params(32, 32) == (0, 0, 32, 32)
    expected = TF.resize(x, [16, 16], antialias=True)
    assert (crop(x).int() - expected.int()).abs().max() <= 1
    assert math.isclose(crop.params(10, 10)[2] * crop.params(10, 10)[3], 100)
