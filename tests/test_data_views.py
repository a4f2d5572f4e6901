"""Two-view and eval transforms: shapes, dtypes, normalisation, randomness, determinism."""

import pytest
import torch

from ssl_app.data import (
    DatasetInfo,
    TwoViews,
    ViewConfig,
    build_eval_transform,
    build_view_transform,
)
from ssl_app.data.config import DataConfig
from ssl_app.errors import ConfigError

GRAY = DatasetInfo("gray", 1, 10, mean=(0.3,), std=(0.35,), image_size=32)
RGB = DatasetInfo("rgb", 3, 10, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3), image_size=32)


def _image(info: DatasetInfo, size: int = 32) -> torch.Tensor:
    return torch.randint(
        0,
        256,
        (info.channels, size, size),
        generator=torch.Generator().manual_seed(0),
        dtype=torch.uint8,
    )


@pytest.mark.parametrize("info", [GRAY, RGB], ids=["gray", "rgb"])
def test_two_views_differ_and_have_the_model_input_format(info):
    torch.manual_seed(0)
    views = TwoViews(build_view_transform(24, info, ViewConfig()))
    v1, v2 = views(_image(info))
    assert v1.shape == v2.shape == (info.channels, 24, 24)
    assert v1.dtype == v2.dtype == torch.float32
    assert not torch.allclose(v1, v2)


@pytest.mark.parametrize("info", [GRAY, RGB], ids=["gray", "rgb"])
def test_identity_views_only_normalise(info):
    """No crop, flip, jitter: a view is exactly (x / 255 - mean) / std."""
    config = ViewConfig((1.0, 1.0), hflip=0.0, color_jitter=0.0, grayscale_prob=0.0)
    transform = build_view_transform(32, info, config)
    x = _image(info)
    mean = torch.tensor(info.mean)[:, None, None]
    std = torch.tensor(info.std)[:, None, None]
    torch.testing.assert_close(transform(x), (x.float() / 255 - mean) / std)


def test_colour_steps_follow_the_source_channels():
    config = ViewConfig(blur_prob=0.5)
    gray = repr(build_view_transform(32, GRAY, config))
    rgb = repr(build_view_transform(32, RGB, config))
    big = repr(build_view_transform(96, RGB, config))
    assert "saturation" not in gray and "hue" not in gray and "Grayscale" not in gray
    assert "saturation=0.4" in rgb and "hue=0.1" in rgb and "RandomGrayscale" in rgb
    assert "GaussianBlur" not in rgb and "GaussianBlur" in big


def test_flip_probability_one_mirrors_the_image():
    config = ViewConfig((1.0, 1.0), hflip=1.0, color_jitter=0.0, grayscale_prob=0.0)
    x = _image(GRAY)
    flipped = build_view_transform(32, GRAY, config)(x)
    torch.testing.assert_close(
        flipped, build_view_transform(32, GRAY, ViewConfig((1.0, 1.0), 0.0, 0.0))(x.flip(-1))
    )


def test_eval_transform_is_deterministic_and_normalised():
    info = DatasetInfo("var", 3, None, mean=(0.5,) * 3, std=(0.25,) * 3, image_size=None)
    transform = build_eval_transform(56, info)
    x = _image(info, 80)
    a, b = transform(x), transform(x)
    assert a.shape == (3, 56, 56) and a.dtype == torch.float32
    torch.testing.assert_close(a, b)
    constant = torch.full((3, 80, 100), 191, dtype=torch.uint8)
    torch.testing.assert_close(
        transform(constant), torch.full((3, 56, 56), (191 / 255 - 0.5) / 0.25)
    )


def test_eval_transform_at_native_size_is_pure_normalisation():
    x = _image(RGB)
    mean = torch.tensor(RGB.mean)[:, None, None]
    std = torch.tensor(RGB.std)[:, None, None]
    torch.testing.assert_close(build_eval_transform(32, RGB)(x), (x.float() / 255 - mean) / std)


@pytest.mark.parametrize(
    "views",
    [{"crop_scale": [0.5, 0.2]}, {"hflip": 1.5}, {"color_jitter": -1}, {"blurr_prob": 0.5}],
)
def test_bad_view_settings_are_config_errors(views):
    with pytest.raises(ConfigError, match="data.views"):
        DataConfig.from_dict({"name": "digits", "image_size": 32, "views": views})
