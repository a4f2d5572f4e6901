"""Two-view augmentation speed: the per-sample CPU path vs batched views on each device.

Images/s counts source images turned into two views. The CPU path loops over the batch on one
thread, as one DataLoader worker does (a loader with N workers gets up to N times that);
the batched path (`BatchViews.two_views`) runs on the uint8 batch already on the device.
Views are the SimCLR defaults with blur (on from 96 px); source images are view-sized.

    python scripts/bench_augment.py                      # CPU, and CUDA when available
    python scripts/bench_augment.py --json augment.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from ssl_app.data.base import DatasetInfo
from ssl_app.data.batch_views import BatchViews
from ssl_app.data.views import TwoViews, ViewConfig, build_view_transform

INFO = {
    "gray": DatasetInfo("gray", 1, None, mean=(0.5,), std=(0.25,), image_size=None),
    "rgb": DatasetInfo("rgb", 3, None, mean=(0.5,) * 3, std=(0.25,) * 3, image_size=None),
}
CASES = [("gray", 32, 512), ("rgb", 32, 512), ("rgb", 96, 256), ("rgb", 224, 256)]
VIEWS = ViewConfig(blur_prob=0.5)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    default = ["cpu"] + ["cuda"] * torch.cuda.is_available()
    p.add_argument("--devices", nargs="+", default=default, help="devices for the batched path")
    p.add_argument("--threads", type=int, help="CPU threads of the batched path (default: all)")
    p.add_argument("--repeats", type=int, default=3, help="best of N timings, after a warm-up")
    p.add_argument("--json", type=Path, help="also write the rows here")
    return p.parse_args()


def best_time(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Best wall time of `repeats` calls after one warm-up, CUDA synchronised."""
    times = []
    for _ in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return min(times[1:])


def per_sample_rate(images: torch.Tensor, size: int, info: DatasetInfo, repeats: int) -> float:
    """Images/s of the CPU transform looped over the batch on one thread."""
    views = TwoViews(build_view_transform(size, info, VIEWS))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        seconds = best_time(lambda: [views(image) for image in images], images.device, repeats)
    finally:
        torch.set_num_threads(threads)
    return len(images) / seconds


def batched_rate(images: torch.Tensor, size: int, info: DatasetInfo, repeats: int) -> float:
    """Images/s of `BatchViews.two_views` on the images' device."""
    views = BatchViews(size, info, VIEWS)
    return len(images) / best_time(lambda: views.two_views(images), images.device, repeats)


def rows(devices: list[str], repeats: int) -> list[dict]:
    """One row per case and path: data, size, batch, path, device, threads, images/s."""
    out = []
    for name, size, batch in CASES:
        info = INFO[name]
        images = torch.randint(0, 256, (batch, info.channels, size, size), dtype=torch.uint8)
        case = dict(data=name, size=size, batch=batch)
        rate = per_sample_rate(images, size, info, repeats)
        out.append(case | dict(path="per-sample", device="cpu", threads=1, images_per_s=rate))
        for device in map(torch.device, devices):
            threads = torch.get_num_threads() if device.type == "cpu" else None
            rate = batched_rate(images.to(device), size, info, repeats)
            out.append(
                case | dict(path="batched", device=str(device), threads=threads, images_per_s=rate)
            )
    return out


def show(results: list[dict]) -> None:
    title = f"two-view augmentation, images/s ({platform.processor() or platform.machine()})"
    table = Table(title=title)
    for column in ("data", "size", "batch", "path", "device", "threads", "images/s", "ms/batch"):
        table.add_column(column, justify="left" if column in ("data", "path") else "right")
    for r in results:
        ms = 1e3 * r["batch"] / r["images_per_s"]
        cells = [r["data"], r["size"], r["batch"], r["path"], r["device"], r["threads"] or "-"]
        table.add_row(*map(str, cells), f"{r['images_per_s']:,.0f}", f"{ms:.1f}")
    Console().print(table)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results = rows(args.devices, args.repeats)
    show(results)
    if args.json:
        gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
        meta = dict(torch=torch.__version__, cpu_threads=torch.get_num_threads(), gpu=gpu)
        args.json.write_text(json.dumps(dict(meta=meta, rows=results), indent=1) + "\n")


if __name__ == "__main__":
    main()
