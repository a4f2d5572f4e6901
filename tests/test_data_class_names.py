"""Every labelled data set names its classes for the plots: its own names, else the indices."""

from __future__ import annotations

import pytest
from torchvision.datasets import FashionMNIST

from ssl_app.data import DatasetInfo, dataset_info
from ssl_app.data.torchvision_sets import CIFAR100_CLASSES


@pytest.mark.parametrize("name", ["digits", "fashion_mnist", "cifar10", "cifar100", "stl10"])
def test_named_data_sets_have_one_distinct_name_per_class(name):
    info = dataset_info(name)
    names = info.label_names()
    assert len(names) == info.num_classes == len(set(names))


def test_names_are_the_data_sets_own():
    assert dataset_info("digits").label_names() == [str(d) for d in range(10)]
    assert dataset_info("fashion_mnist").label_names() == FashionMNIST.classes
    assert dataset_info("cifar10").label_names()[:2] == ["airplane", "automobile"]
    assert dataset_info("stl10").label_names()[-3:] == ["monkey", "ship", "truck"]
    assert list(CIFAR100_CLASSES) == sorted(CIFAR100_CLASSES)  # the fine labels are alphabetical


def test_image_folder_names_are_its_train_folders_in_label_order(tmp_path):
    for name in ("zebra", "ant", "moth"):
        (tmp_path / "train" / name).mkdir(parents=True)
    assert dataset_info("imagefolder", str(tmp_path)).label_names() == ["ant", "moth", "zebra"]


def test_without_names_the_indices_stand_in():
    assert dataset_info("synthetic", num_classes=3).label_names() == ["0", "1", "2"]
    info = DatasetInfo("unlabelled", 3, None, (0.5,) * 3, (0.2,) * 3, None)
    assert info.label_names() == []
