"""The data set registry: every documented name, unknown names answered with the list."""

import pytest

from ssl_app.data import DATASETS, build_dataset
from ssl_app.errors import ConfigError


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown data set 'mnist'.*digits.*synthetic"):
        build_dataset("mnist", "train")


def test_registry_holds_every_documented_data_set():
    expected = {
        "digits",
        "fashion_mnist",
        "cifar10",
        "cifar100",
        "stl10",
        "imagefolder",
        "synthetic",
    }
    assert expected <= set(DATASETS.names())
