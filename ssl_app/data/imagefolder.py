"""`imagefolder`: your own images, labelled (`train/<class>/*`, `val/<class>/*`) or not (`root/*`).

Files are checked once when the split is built (header and tail bytes, in threads); unusable
ones are skipped and named in one warning. A file that still fails to decode later is
replaced by the next image, with a warning, so a long run never dies on one bad file.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from ssl_app.data.base import DATASETS, DatasetInfo, Source
from ssl_app.data.images import (
    MAX_PIXELS,
    BadImageError,
    check_image,
    is_image_name,
    load_image,
)
from ssl_app.errors import ConfigError, DataError

log = logging.getLogger(__name__)
TEST_DIRS = ("val", "test")
IMAGENET_STATS = {3: ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), 1: ((0.449,), (0.226,))}
NAMES_IN_WARNING = 20
CHECK_THREADS = 16


def _root(root: str | None) -> Path:
    if not root:
        raise DataError("data set 'imagefolder' needs data.root=<folder of images>")
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataError(f"data.root '{root}' does not exist or is not a folder; fix data.root")
    return path


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image_name(p))


def _labelled_files(root: Path, split: str) -> list[tuple[Path, int]]:
    """(path, class index) of `split`; class indices come from the sorted `train/` sub-folders."""
    classes = {d.name: i for i, d in enumerate(_class_dirs(root / "train"))}
    candidates = ["train"] if split == "train" else TEST_DIRS
    folder = next((root / d for d in candidates if (root / d).is_dir()), None)
    if folder is None:
        raise DataError(f"'{root}' has train/ but no val/ folder; add val/<class>/ images")
    unknown = sorted(d.name for d in _class_dirs(folder) if d.name not in classes)
    if unknown:
        raise DataError(f"classes {unknown} of '{folder}' are not in train/; rename or remove them")
    return [(p, classes[d.name]) for d in _class_dirs(folder) for p in _images_under(d)]


def _drop_bad(
    files: list[tuple[Path, int]], folder: Path, max_pixels: int
) -> list[tuple[Path, int]]:
    """Keep the files whose bytes look like a usable image; warn once naming the others."""
    with ThreadPoolExecutor(CHECK_THREADS) as pool:
        problems = list(pool.map(lambda p: check_image(p, max_pixels), (p for p, _ in files)))
    bad = [
        f"{p.relative_to(folder)} ({why})"
        for (p, _), why in zip(files, problems, strict=True)
        if why
    ]
    if bad:
        shown = ", ".join(bad[:NAMES_IN_WARNING])
        if len(bad) > NAMES_IN_WARNING:
            shown += f" and {len(bad) - NAMES_IN_WARNING} more"
        log.warning(f"skipped {len(bad)} of {len(files)} image files in '{folder}': {shown}")
    return [f for f, why in zip(files, problems, strict=True) if not why]


@DATASETS.register("imagefolder")
class ImageFolderImages(Source):
    """Images under `root`, decoded per item to uint8 (channels, H, W); label -1 if unlabelled."""

    def __init__(
        self,
        split: str,
        root: str | None = None,
        download: bool = False,
        channels: int = 3,
        max_pixels: int = MAX_PIXELS,
    ):
        self.info = self.static_info(root, channels)
        folder, split = _root(root), self.resolve_split(split)
        if self.info.num_classes is not None:
            files = _labelled_files(folder, split)
        elif split == "train":
            files = [(p, -1) for p in _images_under(folder)]
        else:
            raise DataError(f"'{root}' has no train/ and val/ class folders, so no test split")
        if not files:
            raise DataError(
                f"no image files (.jpg, .png, ...) under '{root}'; add some or fix data.root"
            )
        self.files = _drop_bad(files, folder, max_pixels)
        if not self.files:
            raise DataError(f"none of the {len(files)} image files under '{root}' can be read")
        self.channels, self.max_pixels = channels, max_pixels
        self._reported: set[Path] = set()  # decode failures already logged by this process

    @classmethod
    def static_info(cls, root: str | None = None, channels: int = 3, **_) -> DatasetInfo:
        """Labelled when `root/train` exists: classes = its sub-folders; otherwise unlabelled."""
        folder = _root(root)
        train = folder / "train"
        names = tuple(d.name for d in _class_dirs(train)) if train.is_dir() else None
        num_classes = len(names) if names is not None else None
        if num_classes == 0:
            raise DataError(f"'{train}' has no class sub-folders; put images in {train}/<class>/")
        if channels not in IMAGENET_STATS:
            raise ConfigError(f"data.dataset_kwargs.channels must be 1 or 3, got {channels}")
        mean, std = IMAGENET_STATS[channels]
        return DatasetInfo("imagefolder", channels, num_classes, mean, std, None, class_names=names)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """The image at `index`; one that fails to decode is reported and replaced by the next."""
        for offset in range(len(self.files)):
            path, label = self.files[(index + offset) % len(self.files)]
            try:
                return load_image(path, self.channels, self.max_pixels), label
            except BadImageError as err:
                if path not in self._reported:
                    self._reported.add(path)
                    log.warning("skipping unreadable image %s", err)
        raise DataError(f"no image of data set 'imagefolder' can be decoded (last: {path})")
