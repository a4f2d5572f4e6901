"""On-disk data sets: idx reader, fashion_mnist lookup, torchvision errors as one line."""

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from ssl_app.data import DATASETS, build_dataset, dataset_info
from ssl_app.data.fashion_mnist import DEBIAN_ROOT
from ssl_app.data.idx import parse_idx, read_idx
from ssl_app.errors import DataError


def _idx(array: np.ndarray) -> bytes:
    code = {np.uint8: 0x08, np.int32: 0x0C}[array.dtype.type]
    dims = np.array(array.shape, dtype=">u4").tobytes()
    return (
        bytes([0, 0, code, array.ndim])
        + dims
        + array.astype(array.dtype.newbyteorder(">")).tobytes()
    )


@pytest.mark.parametrize("dtype", [np.uint8, np.int32])
def test_idx_round_trip_plain_and_gzipped(tmp_path, dtype):
    array = np.arange(2 * 3 * 4).reshape(2, 3, 4).astype(dtype) * 7
    (tmp_path / "a").write_bytes(_idx(array))
    (tmp_path / "a.gz").write_bytes(gzip.compress(_idx(array)))
    for name in ("a", "a.gz"):
        np.testing.assert_array_equal(read_idx(tmp_path / name), array)


@pytest.mark.parametrize(
    "raw", [b"\x00\x00\x08", b"PK\x03\x04", _idx(np.zeros((2, 2), np.uint8))[:-1]]
)
def test_malformed_idx_is_a_data_error(raw):
    with pytest.raises(DataError, match="re-download"):
        parse_idx(raw)


def _fake_fashion(folder: Path, count: int = 6) -> np.ndarray:
    folder.mkdir(parents=True)
    images = np.arange(count * 28 * 28, dtype=np.uint8).reshape(count, 28, 28)
    for prefix in ("train", "t10k"):
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images)))
        labels = np.arange(count, dtype=np.uint8) % 10
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx(labels))
    return images


def test_fashion_mnist_reads_a_root_and_torchvision_layout(tmp_path):
    images = _fake_fashion(tmp_path / "FashionMNIST" / "raw")
    dataset = build_dataset("fashion_mnist", "test", root=str(tmp_path))
    assert dataset.images.shape == (6, 1, 28, 28) and dataset.images.dtype == torch.uint8
    assert torch.equal(dataset.images[:, 0], torch.from_numpy(images))
    assert dataset[4][1] == 4


def test_fashion_mnist_from_debian_package():
    if not Path(DEBIAN_ROOT, "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(
            f"Fashion-MNIST not installed at {DEBIAN_ROOT} (apt-get install dataset-fashion-mnist)"
        )
    test = build_dataset("fashion_mnist", "test", root=DEBIAN_ROOT)
    assert test.images.shape == (10000, 1, 28, 28)
    assert torch.equal(torch.bincount(test.labels), torch.full((10,), 1000))
    info = dataset_info("fashion_mnist")
    assert (test.images.float() / 255).mean().item() == pytest.approx(info.mean[0], abs=0.01)


def test_missing_fashion_mnist_names_the_path_and_the_fixes(tmp_path):
    with pytest.raises(DataError) as err:
        build_dataset("fashion_mnist", "train", root=str(tmp_path / "nowhere"))
    message = str(err.value)
    assert "\n" not in message and str(tmp_path / "nowhere") in message
    assert "apt-get install dataset-fashion-mnist" in message and "data.download=true" in message


@pytest.mark.parametrize("name", ["cifar10", "cifar100", "stl10"])
def test_missing_torchvision_data_set_is_one_line(tmp_path, name):
    with pytest.raises(DataError) as err:
        build_dataset(name, "train", root=str(tmp_path))
    assert "\n" not in str(err.value) and str(tmp_path) in str(err.value)
    assert "data.download=true" in str(err.value)


@pytest.mark.parametrize(
    ("name", "folder"),
    [
        ("cifar10", "cifar-10-batches-py"),
        ("cifar100", "cifar-100-python"),
        ("stl10", "stl10_binary"),
    ],
)
def test_presence_is_checked_without_reading(tmp_path, name, folder):
    source = DATASETS.get(name)
    with pytest.raises(DataError, match=f"{name} not found or corrupt in '{tmp_path}'"):
        source.check_present(str(tmp_path))
    (tmp_path / folder).mkdir()  # torchvision's folder, empty: reading it is the loader's job
    source.check_present(str(tmp_path))


def test_fashion_mnist_presence_needs_both_splits(tmp_path):
    _fake_fashion(tmp_path / "fm")
    DATASETS.get("fashion_mnist").check_present(str(tmp_path / "fm"))
    next((tmp_path / "fm").glob("t10k-images*")).unlink()
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte"):
        DATASETS.get("fashion_mnist").check_present(str(tmp_path / "fm"))


def test_torchvision_static_info_needs_no_files():
    assert dataset_info("cifar100").num_classes == 100
    assert dataset_info("stl10", root="/nonexistent").image_size == 96


def test_stl10_pretrains_on_unlabelled_images_only_when_asked():
    stl10 = DATASETS.get("stl10")
    assert stl10.resolve_split("pretrain") == "train+unlabeled"
    assert stl10.resolve_split("pretrain", unlabeled=False) == "train"
    assert stl10.resolve_split("train") == "train" and stl10.resolve_split("test") == "test"
