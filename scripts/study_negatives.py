"""Study: the batch-size / temperature trade-off of InfoNCE in short pretrains.

Each (batch size B, temperature τ) is one `run_pretraining` run with 2B − 2 negatives per
row; reported are kNN top-1 of the learned backbone, the final training loss, the MI lower
bound log(2B − 1) − loss, and the time per training epoch. CPU-sized by default (digits,
`model=tiny`, 2 epochs); bigger with flags and Hydra overrides passed through, e.g.

    python scripts/study_negatives.py [--batch-sizes 32 128] [--temperatures 0.1 0.5]
        [--epochs 2] [--warmup-epochs 0] [--out outputs/study_negatives] [model=resnet18 ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import time
from pathlib import Path

import pytorch_lightning as pl
from hydra import compose, initialize_config_module

import ssl_app.pretrain as pretrain

# Only the learned kNN number is needed: no linear probe, baselines or raw pixels; no workers
# (a shared small CPU), no progress bars.
BASE_OVERRIDES = [
    "model=tiny",
    "eval.linear=false",
    "eval.baselines=false",
    "eval.raw_pixels=false",
    "data.num_workers=0",
    "data.persistent_workers=false",
    "trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
]


class EpochTimer(pl.Callback):
    """Wall time of each training epoch (the steps only, not the epoch-end evaluation)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.seconds.append(time.perf_counter() - self.start)


def timed_pretraining(cfg, run_dir: Path) -> tuple[dict, list[float]]:
    """`run_pretraining` with an `EpochTimer` beside the run's own callbacks."""
    timer = EpochTimer()
    results = pretrain.run_pretraining(cfg, run_dir, extra_callbacks=[timer])
    return results, timer.seconds


def last_logged(metrics_csv: Path, keys: tuple[str, ...]) -> dict[str, float]:
    """The last non-empty value of each column `keys` in Lightning's metrics.csv."""
    found: dict[str, float] = {}
    with metrics_csv.open() as f:
        for row in csv.DictReader(f):
            found.update({k: float(row[k]) for k in keys if row.get(k)})
    return found


def run_one(batch_size: int, temperature: float, args, run_dir: Path) -> dict[str, float]:
    """One short pretrain; its row of the study table."""
    overrides = [
        *BASE_OVERRIDES,
        f"epochs={args.epochs}",
        f"eval.every_n_epochs={args.epochs}",
        f"optim.batch_size={batch_size}",
        f"optim.warmup_epochs={args.warmup_epochs}",
        f"loss.temperature={temperature}",
        *args.overrides,
    ]
    with initialize_config_module("ssl_app.conf", version_base=None):
        cfg = compose("pretrain", overrides=overrides)
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    results, seconds = timed_pretraining(cfg, run_dir)
    logged = last_logged(
        run_dir / "metrics.csv", ("train/loss", "train/mi_bound", "train/num_negatives")
    )
    return {
        "batch_size": batch_size,
        "temperature": temperature,
        "negatives": int(logged["train/num_negatives"]),
        "knn_top1": results.get("learned", {}).get("knn_top1", float("nan")),
        "loss": logged["train/loss"],
        "mi_bound": logged["train/mi_bound"],
        "s_per_epoch": sum(seconds) / len(seconds),
    }


def print_table(rows: list[dict], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in ("batch", "τ", "negatives", "kNN top-1 %", "loss", "MI bound (nats)", "s/epoch"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            str(r["batch_size"]),
            f"{r['temperature']:g}",
            str(r["negatives"]),
            f"{100 * r['knn_top1']:.1f}",
            f"{r['loss']:.3f}",
            f"{r['mi_bound']:.3f}",
            f"{r['s_per_epoch']:.1f}",
        )
    Console().print(table)


def plot(rows: list[dict], path: Path, title: str) -> None:
    """kNN top-1 and MI bound vs batch size, one line per temperature."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for temperature in sorted({r["temperature"] for r in rows}):
        line = sorted(
            (r for r in rows if r["temperature"] == temperature), key=lambda r: r["batch_size"]
        )
        sizes = [r["batch_size"] for r in line]
        axes[0].plot(sizes, [100 * r["knn_top1"] for r in line], "o-", label=f"τ = {temperature:g}")
        axes[1].plot(sizes, [r["mi_bound"] for r in line], "o-", label=f"τ = {temperature:g}")
    for ax, label in zip(axes, ("kNN top-1 (%)", "MI bound log(2B−1) − loss (nats)"), strict=True):
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({r["batch_size"] for r in rows}))
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("batch size B")
        ax.set_ylabel(label)
        ax.legend()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.1, 0.5])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--warmup-epochs", type=int, default=0, help="lr warm-up (short runs: none)"
    )
    parser.add_argument("--out", type=Path, default=Path("outputs/study_negatives"))
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=resnet18")
    args = parser.parse_args()
    rows = [
        run_one(b, t, args, args.out / "runs" / f"b{b}_t{t:g}")
        for t in args.temperatures
        for b in args.batch_sizes
    ]
    title = f"InfoNCE, {args.epochs} epochs, {' '.join(BASE_OVERRIDES[:1] + args.overrides)}"
    print_table(rows, title)
    (args.out / "study_negatives.json").write_text(json.dumps(rows, indent=2) + "\n")
    plot(rows, args.out / "study_negatives.png", title)


if __name__ == "__main__":
    main()
