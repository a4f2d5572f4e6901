"""`fashion_mnist`: the standard idx files, found on disk or fetched by torchvision's downloader.

Without `root` it looks in `data/fashion_mnist` and in Debian's `dataset-fashion-mnist` package.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ssl_app.data.base import DATASETS, DatasetInfo, TensorImages
from ssl_app.data.idx import read_idx
from ssl_app.errors import DataError

DEFAULT_ROOT = "data/fashion_mnist"
DEBIAN_ROOT = "/usr/share/datasets/fashion-mnist"
TORCHVISION_SUBDIR = "FashionMNIST/raw"  # where torchvision's downloader puts the files
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# torchvision.datasets.FashionMNIST.classes (a test compares them).
# fmt: off
CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
    "Ankle boot",
)
# fmt: on
INFO = DatasetInfo(
    "fashion_mnist", 1, 10, mean=(0.2860,), std=(0.3530,), image_size=28, class_names=CLASSES
)


def candidate_dirs(root: str | None) -> list[Path]:
    """Folders searched, in order: `root` (or the defaults) and torchvision's layout below it."""
    bases = [Path(root)] if root else [Path(DEFAULT_ROOT), Path(DEBIAN_ROOT)]
    return [d for base in bases for d in (base, base / TORCHVISION_SUBDIR)]


def _find(folder: Path, stem: str) -> Path | None:
    return next((p for p in (folder / f"{stem}.gz", folder / stem) if p.is_file()), None)


def locate(split: str, root: str | None) -> tuple[Path, Path]:
    """Paths of the (images, labels) idx files of `split`, or a one-line DataError."""
    for folder in candidate_dirs(root):
        found = [_find(folder, stem) for stem in FILES[split]]
        if all(found):
            return found[0], found[1]
    looked = ", ".join(str(d) for d in candidate_dirs(root))
    raise DataError(
        f"fashion_mnist {FILES[split][0]}(.gz) not found in {looked}; "
        "run `apt-get install dataset-fashion-mnist`, set data.download=true (needs internet) "
        "or data.root=<folder with the idx files>"
    )


@DATASETS.register("fashion_mnist")
class FashionMNIST(TensorImages):
    """60,000 train / 10,000 test 28-px grayscale clothing images, 10 classes."""

    def __init__(self, split: str, root: str | None = None, download: bool = False) -> None:
        split = self.resolve_split(split)
        if download:
            self.download(root)
        images, labels = (read_idx(path) for path in locate(split, root))
        super().__init__(torch.from_numpy(images)[:, None], torch.from_numpy(labels), INFO)

    @classmethod
    def static_info(cls, root: str | None = None) -> DatasetInfo:
        return INFO

    @classmethod
    def check_present(cls, root: str | None = None) -> None:
        for split in FILES:
            locate(split, root)

    @classmethod
    def download(cls, root: str | None = None) -> None:
        """Fetch the idx files with torchvision unless they are already found."""
        from ssl_app.data.torchvision_sets import call_torchvision

        try:
            for split in FILES:
                locate(split, root)
        except DataError:
            call_torchvision(
                "fashion_mnist", "FashionMNIST", root or DEFAULT_ROOT, True, train=True
            )
