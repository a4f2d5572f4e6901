"""`cifar10`, `cifar100`, `stl10`: torchvision's readers and downloaders, kept as uint8 tensors.

torchvision's own errors (missing files, failed downloads) become one-line DataErrors.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ssl_app.data.base import DATASETS, DatasetInfo, TensorImages, check_split
from ssl_app.errors import DataError


def call_torchvision(name: str, class_name: str, root: str, download: bool, **kwargs):
    """`torchvision.datasets.<class_name>(root, download=..., **kwargs)` with one-line errors."""
    import torchvision.datasets

    try:
        return getattr(torchvision.datasets, class_name)(root=root, download=download, **kwargs)
    except (RuntimeError, OSError, ValueError) as err:
        if not download:
            raise not_found(name, root) from None
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(
            f"could not download {name} to '{root}' ({reason}); fetch it where there is internet "
            f"and set data.root=<that folder>"
        ) from None


def not_found(name: str, root: str) -> DataError:
    return DataError(
        f"{name} not found or corrupt in '{root}'; set data.download=true (needs internet) "
        f"or data.root=<folder that holds it>"
    )


# torchvision's `classes` of each (which it reads from the data set's own meta files).
# fmt: off
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
STL10_CLASSES = (
    "airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck",
)
CIFAR100_CLASSES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard",
    "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse",
    "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck",
    "pine_tree", "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray",
    "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail",
    "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle",
    "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)
# fmt: on


class TorchvisionImages(TensorImages):
    """A torchvision data set held in memory as uint8 (N, C, H, W); subclasses set the names."""

    INFO: DatasetInfo
    TV_CLASS: str

    def __init__(self, split: str, root: str | None = None, download: bool = False, **kwargs):
        split = self.resolve_split(split, **kwargs)
        ds = call_torchvision(
            self.INFO.name,
            self.TV_CLASS,
            self.root_or_default(root),
            download,
            **self.split_kwargs(split),
        )
        images, labels = self.arrays(ds)
        super().__init__(images, labels, self.INFO)

    @classmethod
    def root_or_default(cls, root: str | None) -> str:
        return root or f"data/{cls.INFO.name}"

    @classmethod
    def static_info(cls, root: str | None = None, **kwargs) -> DatasetInfo:
        return cls.INFO

    @classmethod
    def check_present(cls, root: str | None = None, **kwargs) -> None:
        """torchvision's folder for the data set (e.g. cifar-10-batches-py) is below the root."""
        import torchvision.datasets

        root = cls.root_or_default(root)
        if not (Path(root) / getattr(torchvision.datasets, cls.TV_CLASS).base_folder).is_dir():
            raise not_found(cls.INFO.name, root)

    @classmethod
    def download(cls, root: str | None = None, **kwargs) -> None:
        call_torchvision(
            cls.INFO.name,
            cls.TV_CLASS,
            cls.root_or_default(root),
            True,
            **cls.split_kwargs("train"),
        )

    @staticmethod
    def split_kwargs(split: str) -> dict:
        return {"train": split == "train"}

    @staticmethod
    def arrays(ds) -> tuple[torch.Tensor, torch.Tensor]:
        """CIFAR layout: `.data` (N, H, W, C) uint8 and `.targets` list."""
        return torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets)


@DATASETS.register("cifar10")
class CIFAR10(TorchvisionImages):
    """50,000 train / 10,000 test 32-px colour images, 10 classes."""

    INFO = DatasetInfo(
        "cifar10",
        3,
        10,
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
        32,
        class_names=CIFAR10_CLASSES,
    )
    TV_CLASS = "CIFAR10"


@DATASETS.register("cifar100")
class CIFAR100(TorchvisionImages):
    """50,000 train / 10,000 test 32-px colour images, 100 classes."""

    INFO = DatasetInfo(
        "cifar100",
        3,
        100,
        (0.5071, 0.4865, 0.4409),
        (0.2673, 0.2564, 0.2762),
        32,
        class_names=CIFAR100_CLASSES,
    )
    TV_CLASS = "CIFAR100"


@DATASETS.register("stl10")
class STL10(TorchvisionImages):
    """5,000 train / 8,000 test labelled 96-px images, 10 classes, and 100,000 unlabelled ones.

    With `unlabeled=True` the pretrain split is "train+unlabeled" (labels -1 for the extra).
    """

    INFO = DatasetInfo(
        "stl10",
        3,
        10,
        (0.4467, 0.4398, 0.4066),
        (0.2603, 0.2566, 0.2713),
        96,
        class_names=STL10_CLASSES,
    )
    TV_CLASS = "STL10"

    def __init__(self, split: str, root=None, download: bool = False, unlabeled: bool = True):
        super().__init__(split, root, download, unlabeled=unlabeled)

    @classmethod
    def resolve_split(cls, split: str, unlabeled: bool = True, **_) -> str:
        check_split(split)
        if split == "pretrain":
            return "train+unlabeled" if unlabeled else "train"
        return split

    @staticmethod
    def split_kwargs(split: str) -> dict:
        return {"split": split}

    @staticmethod
    def arrays(ds) -> tuple[torch.Tensor, torch.Tensor]:
        """STL-10 layout: `.data` (N, C, H, W) uint8 and `.labels` array (-1 = unlabelled)."""
        return torch.from_numpy(ds.data), torch.from_numpy(ds.labels.astype("int64"))
