"""synthetic: deterministic per index, balanced classes, configurable size and channels."""

import pytest
import torch

from ssl_app.data import DATASETS, build_dataset, dataset_info
from ssl_app.errors import ConfigError


def test_images_are_a_pure_function_of_seed_split_and_index():
    a = build_dataset("synthetic", "train", size=20, image_size=16)
    b = build_dataset("synthetic", "train", size=20, image_size=16)
    other_seed = build_dataset("synthetic", "train", size=20, image_size=16, seed=1)
    test = build_dataset("synthetic", "test", size=20, image_size=16)
    assert torch.equal(a[7][0], b[7][0]) and a[7][1] == b[7][1]
    assert not torch.equal(a[7][0], other_seed[7][0])
    assert not torch.equal(a[7][0], test[7][0])


@pytest.mark.parametrize("channels", [1, 3])
def test_shape_dtype_and_balanced_labels(channels):
    dataset = build_dataset(
        "synthetic", "train", size=40, num_classes=4, channels=channels, image_size=24
    )
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    labels = torch.tensor([dataset[i][1] for i in range(len(dataset))])
    assert images.shape == (40, channels, 24, 24) and images.dtype == torch.uint8
    assert torch.equal(torch.bincount(labels), torch.full((4,), 10))
    assert dataset_info("synthetic", channels=channels).channels == channels


def test_classes_differ_more_than_images_of_one_class():
    """Class means are far apart relative to the spread inside a class (something to learn)."""
    dataset = build_dataset("synthetic", "train", size=200, num_classes=4, image_size=16)
    x = torch.stack([dataset[i][0] for i in range(200)]).float().flatten(1)
    y = torch.tensor([dataset[i][1] for i in range(200)])
    means = torch.stack([x[y == c].mean(0) for c in range(4)])
    between = torch.cdist(means, means).sum() / 12
    within = torch.stack([(x[y == c] - means[c]).norm(dim=1).mean() for c in range(4)]).mean()
    assert between > 0.3 * within


def test_static_info_is_close_to_the_pixel_statistics():
    dataset = build_dataset("synthetic", "train", size=100, image_size=32)
    x = torch.stack([dataset[i][0] for i in range(100)]).float() / 255
    info = dataset_info("synthetic")
    assert x.mean().item() == pytest.approx(info.mean[0], abs=0.05)
    assert x.std().item() == pytest.approx(info.std[0], abs=0.05)


def test_out_of_range_index_and_bad_settings():
    dataset = build_dataset("synthetic", "test", test_size=3)
    with pytest.raises(IndexError):
        dataset[3]
    with pytest.raises(ConfigError):
        build_dataset("synthetic", "train", channels=2)
    assert DATASETS.get("synthetic").resolve_split("pretrain") == "train"
