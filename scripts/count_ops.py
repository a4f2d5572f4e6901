"""Dispatch counts of one training step by part: how many ops the host issues, the number that
sets the pace where the CPU, not the GPU, is the limit (small images on a fast GPU).

Counted on the CPU with a dispatch mode, so the numbers need no GPU: kernels are the ops that
compute (each a launch on CUDA), views the ones that only alias (no launch). The optimiser is
left out: on CUDA AdamW runs fused and SGD/LARS as a few multi-tensor kernels, on CPU not.

    python scripts/count_ops.py                     # ResNet-18, batch 64, 32 px
    python scripts/count_ops.py --backbone resnet50 --size 96
"""

from __future__ import annotations

import argparse
from collections import Counter

import torch
from hydra import compose, initialize_config_module
from rich.console import Console
from rich.table import Table
from torch.utils._python_dispatch import TorchDispatchMode

from ssl_app.data.base import DatasetInfo
from ssl_app.data.batch_views import BatchViews
from ssl_app.data.config import ViewConfig
from ssl_app.pretrain import build_components

INFO = {
    "RGB": DatasetInfo("rgb", 3, 10, mean=(0.5,) * 3, std=(0.25,) * 3, image_size=None),
    "gray": DatasetInfo("gray", 1, 10, mean=(0.5,), std=(0.25,), image_size=None),
}


class CountOps(TorchDispatchMode):
    """Kernels and views dispatched inside the `with` block."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.counts["views" if func.is_view else "kernels"] += 1
        return func(*args, **(kwargs or {}))


def counted(fn, *args) -> tuple[Counter[str], object]:
    """The ops of `fn(*args)`, after one uncounted call (first-call set-up aside)."""
    fn(*args)
    with CountOps() as counter:
        out = fn(*args)
    return counter.counts, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=32)
    args = parser.parse_args()
    rows, pairs = {}, {}
    for name, info in INFO.items():
        views = BatchViews(args.size, info, ViewConfig())
        images = torch.randint(0, 256, (args.batch, info.channels, args.size, args.size))
        rows[f"two views ({name})"], pairs[name] = counted(views.two_views, images.byte())
    overrides = [
        f"model.backbone={args.backbone}",
        "data=synthetic",
        f"data.image_size={args.size}",
    ]
    with initialize_config_module("ssl_app.conf", version_base=None):
        module, _, _ = build_components(compose("pretrain", overrides=overrides))
    module.configure_model()  # channels_last, as in a run
    rows["backbone + head + InfoNCE"], step = counted(module.contrastive_step, *pairs["RGB"])
    rows["backward"], _ = counted(lambda: step.loss.backward(retain_graph=True))
    table = Table(title=f"ops per step: {args.backbone}, batch {args.batch}, {args.size} px")
    for column in ("part", "kernels", "views", "ops"):
        table.add_column(column, justify="left" if column == "part" else "right")
    for part, counts in rows.items():
        kernels, aliases = counts["kernels"], counts["views"]
        table.add_row(part, str(kernels), str(aliases), str(kernels + aliases))
    Console().print(table)


if __name__ == "__main__":
    main()
