"""imagefolder: labelled and unlabelled layouts, odd image modes converted, broken files skipped."""

import re

import numpy as np
import pytest
import torch
from conftest import data_config
from PIL import Image

from ssl_app.data import ContrastiveDataModule, build_dataset, dataset_info
from ssl_app.data.images import BadImageError, load_image
from ssl_app.errors import DataError

RED = (200, 30, 30)


def _jpeg_bytes(tmp_path) -> bytes:
    noise = np.random.default_rng(0).integers(0, 255, (48, 48, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "noise.jpg", quality=95)
    return (tmp_path / "noise.jpg").read_bytes()


def _write_kinds(folder, scratch) -> None:
    """One good RGB JPEG, each convertible odd mode, and each broken kind of file."""
    folder.mkdir(parents=True)
    Image.new("RGB", (40, 30), RED).save(folder / "good.jpg")
    Image.new("CMYK", (20, 20), (0, 255, 255, 0)).save(folder / "cmyk.jpg")
    Image.fromarray(np.full((20, 20), 65535, dtype=np.uint16)).save(folder / "deep.png")
    Image.new("P", (10, 10), 0).save(folder / "palette.png")
    Image.new("LA", (10, 10), (0, 0)).save(folder / "alpha.png")
    Image.new("RGBA", (10, 10), (0, 0, 0, 255)).save(folder / "rgba.png")
    (folder / "truncated.jpg").write_bytes(_jpeg_bytes(scratch)[:600])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.jpg").write_text("not an image\n")
    (folder / "readme.txt").write_text("ignored: not an image name\n")


CONVERTIBLE = {"good.jpg", "cmyk.jpg", "deep.png", "palette.png", "alpha.png", "rgba.png"}
BROKEN = {"truncated.jpg": "truncated", "empty.jpg": "empty file", "notes.jpg": "not an image"}


def test_unlabelled_folder_converts_what_it_can_and_names_the_rest(tmp_path, capsys):
    _write_kinds(tmp_path / "imgs", tmp_path)
    dataset = build_dataset("imagefolder", "train", root=str(tmp_path / "imgs"))
    lines = capsys.readouterr().err.splitlines()  # one line naming the folder, no source line
    assert len(lines) == 1 and lines[0].startswith(f"skipped 3 of 9 image files in '{tmp_path}")
    message = lines[0]
    for name, why in BROKEN.items():
        assert f"{name} ({why}" in message
    assert {p.name for p, _ in dataset.files} == CONVERTIBLE
    for index in range(len(dataset)):
        image, label = dataset[index]
        assert image.dtype == torch.uint8 and image.shape[0] == 3 and label == -1


def test_odd_modes_convert_to_the_expected_pixels(tmp_path):
    _write_kinds(tmp_path / "imgs", tmp_path)
    pixel = {
        name: load_image(tmp_path / "imgs" / name, 3)[:, 0, 0].tolist() for name in CONVERTIBLE
    }
    assert pixel["cmyk.jpg"] == [255, 0, 0]
    assert pixel["deep.png"] == [255, 255, 255]
    assert pixel["alpha.png"] == [255, 255, 255]  # fully transparent → white background
    assert pixel["rgba.png"] == [0, 0, 0]
    assert load_image(tmp_path / "imgs" / "good.jpg", 1).shape == (1, 30, 40)
    with pytest.raises(BadImageError):
        load_image(tmp_path / "imgs" / "truncated.jpg", 3)


def test_a_file_broken_after_indexing_is_replaced_not_fatal(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (8, 8), RED).save(folder / name)
    dataset = build_dataset("imagefolder", "train", root=str(folder))
    (folder / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    image, _ = dataset[0]
    assert image[:, 0, 0].tolist() == list(RED)


def _labelled(root) -> None:
    for split, count in (("train", 3), ("val", 2)):
        for cls, colour in (("cat", RED), ("dog", (20, 20, 220))):
            (root / split / cls).mkdir(parents=True)
            for i in range(count):
                Image.new("RGB", (12, 16), colour).save(root / split / cls / f"{i}.png")


def test_labelled_layout_uses_train_class_folders(tmp_path):
    _labelled(tmp_path)
    info = dataset_info("imagefolder", str(tmp_path))
    assert (info.num_classes, info.channels, info.image_size) == (2, 3, None)
    train = build_dataset("imagefolder", "train", root=str(tmp_path))
    test = build_dataset("imagefolder", "test", root=str(tmp_path))
    assert sorted(label for _, label in train.files) == [0, 0, 0, 1, 1, 1]
    assert [label for _, label in test.files] == [0, 0, 1, 1]
    assert test[3][0][:, 0, 0].tolist() == [20, 20, 220]


def test_labelled_datamodule_resizes_variable_images(tmp_path):
    _labelled(tmp_path)
    data = data_config("imagefolder", 8, root=str(tmp_path), augment="cpu")
    dm = ContrastiveDataModule(data, batch_size=4)
    dm.setup("fit")
    (v1, v2), labels = next(iter(dm.train_dataloader()))
    assert v1.shape == v2.shape == (4, 3, 8, 8)
    images, labels = next(iter(dm.eval_dataloaders()[1]))
    assert images.shape == (4, 3, 8, 8) and labels.tolist() == [0, 0, 1, 1]


def test_device_views_of_a_folder_decode_once_to_one_size_then_augment(tmp_path, monkeypatch):
    """`augment=gpu` on files: every image decoded once to one uint8 size (8 / 0.875 -> 9 px)
    and held in memory, batched by index; too large to hold, workers decode every batch."""
    _labelled(tmp_path)
    data = data_config("imagefolder", 8, root=str(tmp_path), augment="gpu")
    dm = ContrastiveDataModule(data, batch_size=4)
    dm.setup("fit")
    index = next(iter(dm.train_dataloader()))
    assert index.dtype == torch.int64 and dm._resident.images.shape == (6, 3, 9, 9)
    (v1, v2), labels = dm.on_after_batch_transfer(index, 0)
    assert v1.shape == v2.shape == (4, 3, 8, 8) and v1.dtype == torch.float32
    monkeypatch.setattr("ssl_app.data.datamodule.RESIDENT_BYTES", 0)
    dm = ContrastiveDataModule(data, batch_size=4)
    dm.setup("fit")
    images, labels = next(iter(dm.train_dataloader()))
    assert images.dtype == torch.uint8 and images.shape == (4, 3, 9, 9)


def test_unlabelled_datamodule_has_no_labels(tmp_path, capsys):
    _write_kinds(tmp_path / "imgs", tmp_path)
    dm = ContrastiveDataModule(data_config("imagefolder", 8, root=str(tmp_path / "imgs")), 2)
    assert not dm.has_labels and dm.info.num_classes is None
    dm.setup("fit")
    assert "skipped 3" in capsys.readouterr().err
    _, labels = next(dm.view_pair_batches())
    assert labels.tolist() == [-1, -1]
    with pytest.raises(DataError, match="no labels"):
        dm.eval_dataloaders()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda root: None, "does not exist"),
        (lambda root: root.mkdir(), "no image files"),
        (lambda root: (root / "train").mkdir(parents=True), "no class sub-folders"),
    ],
    ids=["missing", "empty", "no-classes"],
)
def test_bad_roots_are_one_line_data_errors(tmp_path, make, match):
    root = tmp_path / "root"
    make(root)
    with pytest.raises(DataError, match=match) as err:
        build_dataset("imagefolder", "train", root=str(root))
    assert "\n" not in str(err.value)


def test_root_is_required():
    with pytest.raises(DataError, match="needs data.root"):
        dataset_info("imagefolder")


def test_images_over_the_pixel_limit_are_skipped_and_named(tmp_path, capsys):
    """A small file that decodes to a huge image (a decompression bomb) is never decoded."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.new("L", (3000, 3000), 0).save(folder / "bomb.png")  # a few KB, 9 Mpx
    Image.new("RGB", (40, 30), RED).save(folder / "good.png")
    dataset = build_dataset("imagefolder", "train", root=str(folder), max_pixels=1_000_000)
    named = r"skipped 1 of 2 .*bomb.png \(too large \(3000 x 3000"
    assert re.search(named, capsys.readouterr().err)
    assert len(dataset) == 1
    with pytest.raises(BadImageError, match="over 1000000 pixels"):
        load_image(folder / "bomb.png", 1, max_pixels=1_000_000)
