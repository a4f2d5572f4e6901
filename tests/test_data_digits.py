"""digits: fixed, stratified, disjoint split; upscaling; static info matches the data."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from ssl_app.data import build_dataset, dataset_info
from ssl_app.data.digits import digits_split_indices, upscale_digits
from ssl_app.errors import ConfigError


def test_unknown_split_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown split 'val'"):
        build_dataset("digits", "val")


def test_split_is_disjoint_complete_stratified_and_fixed():
    target = load_digits().target
    split = digits_split_indices()
    train, test = split["train"], split["test"]
    assert len(np.intersect1d(train, test)) == 0
    assert len(train) + len(test) == len(target) == 1797
    assert len(test) == 360
    overall = np.bincount(target) / len(target)
    for part in (train, test):
        assert np.abs(np.bincount(target[part], minlength=10) / len(part) - overall).max() < 0.01
    again = digits_split_indices()
    assert np.array_equal(again["train"], train) and np.array_equal(again["test"], test)


def test_dataset_items_are_uint8_32px_with_the_split_labels():
    train = build_dataset("digits", "train")
    image, label = train[5]
    assert image.dtype == torch.uint8 and image.shape == (1, 32, 32)
    assert label == load_digits().target[digits_split_indices()["train"][5]]
    assert len(build_dataset("digits", "pretrain")) == len(train) == 1437


def test_upscaling_keeps_range_and_constant_images_constant():
    flat = np.full((2, 8, 8), 16.0)
    up = upscale_digits(flat)
    assert up.shape == (2, 1, 32, 32) and bool((up == 255).all())
    assert int(upscale_digits(np.zeros((1, 8, 8))).max()) == 0


def test_static_info_matches_training_statistics():
    info = dataset_info("digits")
    x = build_dataset("digits", "train").images.float() / 255
    assert (info.channels, info.num_classes, info.image_size) == (1, 10, 32)
    assert x.mean().item() == pytest.approx(info.mean[0], abs=1e-3)
    assert x.std().item() == pytest.approx(info.std[0], abs=1e-3)
