"""noise: seeded i.i.d. pixel noise; exact static statistics; usable as `ood_data=noise`."""

import math

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from ssl_app.data import build_dataset, dataset_info
from ssl_app.data.datamodule import ContrastiveDataModule
from ssl_app.errors import ConfigError


def pixels(dataset) -> torch.Tensor:
    return torch.stack([dataset[i][0] for i in range(len(dataset))]).double() / 255


def test_images_are_a_pure_function_of_seed_split_and_index():
    a = build_dataset("noise", "test", test_size=5, image_size=8)
    b = build_dataset("noise", "test", test_size=5, image_size=8)
    assert torch.equal(a[3][0], b[3][0])
    assert not torch.equal(a[3][0], a[4][0])
    assert not torch.equal(a[3][0], build_dataset("noise", "test", image_size=8, seed=1)[3][0])
    assert not torch.equal(a[3][0], build_dataset("noise", "train", image_size=8)[3][0])


@pytest.mark.parametrize("channels", [1, 3])
def test_shape_dtype_and_single_label(channels):
    dataset = build_dataset("noise", "train", size=6, channels=channels, image_size=12)
    image, label = dataset[5]
    assert image.shape == (channels, 12, 12) and image.dtype == torch.uint8 and label == 0
    assert len(dataset) == 6 and dataset_info("noise", channels=channels).channels == channels
    with pytest.raises(IndexError):
        dataset[6]


def test_uniform_statistics_match_the_closed_form_and_the_pixels():
    """Integers uniform on low..high: mean (low+high)/2, variance ((high-low+1)^2 - 1)/12."""
    info = dataset_info("noise", low=10, high=50)
    assert info.mean[0] == pytest.approx(30 / 255)
    assert info.std[0] == pytest.approx(math.sqrt((41**2 - 1) / 12) / 255)
    x = pixels(build_dataset("noise", "test", test_size=50, low=10, high=50))
    assert x.min() == pytest.approx(10 / 255) and x.max() == pytest.approx(50 / 255)
    assert x.mean().item() == pytest.approx(info.mean[0], abs=2e-3)
    assert x.std().item() == pytest.approx(info.std[0], abs=2e-3)


@pytest.mark.parametrize("mean, std", [(127.5, 20.0), (40.0, 90.0)])
def test_gaussian_statistics_include_the_clipping(mean, std):
    """With heavy clipping (second case) the static mean/std differ from (mean, std) but
    still match the pixels, since they are the law of the rounded, clipped values."""
    kwargs = {"distribution": "gaussian", "mean": mean, "std": std}
    info = dataset_info("noise", **kwargs)
    x = pixels(build_dataset("noise", "test", test_size=50, **kwargs))
    assert x.mean().item() == pytest.approx(info.mean[0], abs=3e-3)
    assert x.std().item() == pytest.approx(info.std[0], abs=3e-3)
    if std < 30:
        assert info.mean[0] == pytest.approx(mean / 255, abs=1e-3)
        assert info.std[0] == pytest.approx(std / 255, abs=1e-3)
    else:
        assert info.mean[0] > mean / 255 + 0.05 and info.std[0] < std / 255 - 0.05


@pytest.mark.parametrize(
    "kwargs",
    [{"distribution": "salt"}, {"channels": 2}, {"low": 9, "high": 3}, {"std": 0.0}],
)
def test_bad_settings_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        build_dataset("noise", "test", **kwargs)


def test_config_builds_labelled_eval_loaders_at_the_requested_size():
    """What `ood_data=noise` needs: the test loader of the eval transform, at data.image_size."""
    with initialize_config_module("ssl_app.conf", version_base=None):
        cfg = compose("evaluate", overrides=["data=noise", "data.image_size=20"])
    datamodule = ContrastiveDataModule(OmegaConf.to_object(cfg.data))
    datamodule.setup("validate")
    images, labels = next(iter(datamodule.eval_dataloaders()[1]))
    assert images.shape == (256, 1, 20, 20) and images.dtype == torch.float32
    assert torch.equal(labels, torch.zeros(256, dtype=torch.long))
    assert images.mean().abs() < 0.05 and (images.std() - 1).abs() < 0.05
