"""Study: the batch-size / negatives / temperature trade-off of InfoNCE in short pretrains.

Each (batch size B, queue size K, temperature τ) is one `run_pretraining` run. Two budgets:
`--epochs E` (every point the same epochs, so larger batches take fewer steps) or `--seconds S`
(every point the same training seconds: `trainer.max_time`, whose cosine schedule ends with
the time at the pace each run measures). Reported per point:
steps, images/s, the final loss and MI bound log K − loss, the variance of the gradient
estimate at the final weights (trace of its covariance over repeated batches of size B from a
fixed probe set, `ssl_app.train.grad_variance`), and kNN and online-linear top-1 on the
validation split (never test). CPU-sized by default (digits, `model=tiny`):

    python scripts/study_negatives.py [--seconds 60 | --epochs 2] [--batch-sizes 32 128]
        [--queue-sizes 0] [--temperatures 0.2] [--out outputs/study_negatives] [model=... ]

Queue sizes K > 0 pass `loss.queue_size=K` to Hydra; K = 0 passes nothing (no queue).
Writes `study_negatives.jsonl` (one row per point), `study_negatives.png` and a table.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_module

import ssl_app.pretrain as pretrain
from ssl_app.data import dataset_info
from ssl_app.data.batch_views import BatchViews
from ssl_app.data.resident import in_memory
from ssl_app.train.callbacks import OnlineKNN
from ssl_app.train.grad_variance import gradient_noise
from ssl_app.train.online_probe import OnlineLinearProbe

# Validation numbers come from `FinalMeasures` (no final test table); the run's own online
# probe is replaced by the study's; no workers (a shared small CPU), no progress bars.
BASE_OVERRIDES = [
    "model=tiny",
    "eval.final_table=false",
    "eval.online_linear=false",
    "data.num_workers=0",
    "data.persistent_workers=false",
    "trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
]


class StepClock(pl.Callback):
    """Records the seconds from the start of training to the end of its last step, and the
    number of steps."""

    def __init__(self) -> None:
        self.step_ends, self.start = [], 0.0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.step_ends.append(time.perf_counter())

    @property
    def seconds(self) -> float:
        return (self.step_ends[-1] if self.step_ends else self.start) - self.start


class FinalMeasures(pl.Callback):
    """At the end of training: kNN and online-linear top-1 on validation, gradient noise."""

    def __init__(self, probe: OnlineLinearProbe, batch_size: int, draws: int) -> None:
        self.probe, self.batch_size, self.draws = probe, batch_size, draws
        self.results: dict[str, float] = {}

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        noise = batch_gradient_noise(pl_module, trainer.datamodule, self.batch_size, self.draws)
        self.results = {
            "knn_top1": OnlineKNN().knn_top1(trainer, pl_module),
            "online_linear_top1": self.probe.val_top1(trainer, pl_module),
            "grad_var": noise.trace,
            "grad_var_x_batch": noise.trace * self.batch_size,
            "grad_mean_sq_norm": noise.mean_sq_norm,
        }


def batch_gradient_noise(module, datamodule, batch_size: int, draws: int, seed: int = 0):
    """`gradient_noise` of the contrastive loss over `draws` batches of `batch_size` images,
    drawn without replacement from the training split minus validation, fresh views each."""
    images, _ = in_memory(datamodule.monitor_dataloaders()[0].dataset.base, 0)
    images = images.to(module.device)
    views = BatchViews(datamodule.image_size, datamodule.info, datamodule.views)
    gen = torch.Generator(module.device).manual_seed(seed)

    def draw():
        index = torch.randperm(len(images), generator=gen, device=module.device)[:batch_size]
        return views.two_views(images[index], gen)

    def loss_of(pair):  # reads the queue (its negatives count) without pushing into it
        return module.contrastive_step(*pair).loss

    module.train()
    return gradient_noise(module, loss_of, (draw() for _ in range(draws)))


def compose_config(overrides: list[str]):
    with initialize_config_module("ssl_app.conf", version_base=None):
        return compose("pretrain", overrides=overrides)


def budget_overrides(args) -> list[str]:
    """The run's schedule: fixed epochs, or `args.seconds` of training (whole seconds)."""
    if args.seconds is None:
        return [f"epochs={args.epochs}", f"eval.every_n_epochs={args.epochs}"]
    seconds = max(1, round(args.seconds))
    hours, rest = divmod(seconds, 3600)
    limit = f"00:{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return ["epochs=100000", f"trainer.max_time={limit}", "eval.every_n_epochs=100000"]


def last_logged(metrics_csv: Path, keys: tuple[str, ...]) -> dict[str, float]:
    """The last non-empty value of each column `keys` in Lightning's metrics.csv (NaN where
    none was logged)."""
    found = dict.fromkeys(keys, math.nan)
    with metrics_csv.open() as f:
        for row in csv.DictReader(f):
            found.update({k: float(row[k]) for k in keys if row.get(k)})
    return found


def run_one(batch_size: int, queue: int, temperature: float, args, run_dir: Path) -> dict:
    """One short pretrain under the chosen budget; its row of the study table."""
    point = [
        *BASE_OVERRIDES,
        f"optim.batch_size={batch_size}",
        f"optim.warmup_epochs={args.warmup_epochs}",
        f"loss.temperature={temperature}",
        *([f"loss.queue_size={queue}"] if queue else []),
        *args.overrides,
    ]
    cfg = compose_config([*point, *budget_overrides(args)])
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    clock = StepClock()
    info = dataset_info(cfg.data.name, cfg.data.root, **cfg.data.dataset_kwargs)
    probe = OnlineLinearProbe(info.num_classes)
    measures = FinalMeasures(probe, batch_size, args.grad_draws)
    pretrain.run_pretraining(cfg, run_dir, extra_callbacks=[clock, probe, measures])
    logged = last_logged(
        run_dir / "metrics.csv", ("train/loss", "train/mi_bound", "train/num_negatives")
    )
    steps = len(clock.step_ends)
    return {
        "batch_size": batch_size,
        "queue_size": queue,
        "temperature": temperature,
        "negatives": logged["train/num_negatives"],
        "steps": steps,
        "train_seconds": round(clock.seconds, 1),
        "images_per_s": steps * batch_size / clock.seconds,
        "loss": logged["train/loss"],
        "mi_bound": logged["train/mi_bound"],
        **measures.results,
        "load_avg_1min": os.getloadavg()[0],  # other jobs on a shared CPU slow the steps
    }


COLUMNS = (  # header, key, format
    ("batch", "batch_size", "{}"),
    ("queue", "queue_size", "{}"),
    ("τ", "temperature", "{:g}"),
    ("negatives", "negatives", "{:.0f}"),
    ("steps", "steps", "{}"),
    ("train s", "train_seconds", "{:.0f}"),
    ("img/s", "images_per_s", "{:.0f}"),
    ("loss", "loss", "{:.3f}"),
    ("MI bound", "mi_bound", "{:.3f}"),
    ("grad var", "grad_var", "{:.3g}"),
    ("B·grad var", "grad_var_x_batch", "{:.3g}"),
    ("val kNN %", "knn_top1", "{:.1%}"),
    ("val linear %", "online_linear_top1", "{:.1%}"),
)


def print_table(rows: list[dict], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for header, _, _ in COLUMNS:
        table.add_column(header, justify="right")
    for r in rows:
        table.add_row(*(fmt.format(r[key]).rstrip("%") for _, key, fmt in COLUMNS))
    Console(width=200).print(table)


PANELS = (  # y label, (key, line style, label) per line, log scale
    ("val top-1 (%)", (("knn_top1", "o-", "kNN"), ("online_linear_top1", "s--", "linear")), False),
    ("MI bound log K − loss (nats)", (("mi_bound", "o-", ""),), False),
    ("gradient variance tr Cov(ĝ_B)", (("grad_var", "o-", ""),), True),
)


def plot(rows: list[dict], path: Path, title: str) -> None:
    """Validation accuracy, MI bound and gradient variance vs batch size, one colour per
    (queue size, τ)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, axes = plt.subplots(1, len(PANELS), figsize=(13, 3.8))
    series = sorted({(r["queue_size"], r["temperature"]) for r in rows})
    for colour, (queue, temperature) in enumerate(series):
        line = sorted(
            (r for r in rows if (r["queue_size"], r["temperature"]) == (queue, temperature)),
            key=lambda r: r["batch_size"],
        )
        sizes = [r["batch_size"] for r in line]
        for ax, (_, keys, _) in zip(axes, PANELS, strict=True):
            for key, style, name in keys:
                scale = 100 if key.endswith("top1") else 1
                label = f"{name} K={queue} τ={temperature:g}".strip()
                ax.plot(
                    sizes, [scale * r[key] for r in line], style, color=f"C{colour}", label=label
                )
    for ax, (label, _, log) in zip(axes, PANELS, strict=True):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log" if log else "linear")
        ax.set_xticks(sorted({r["batch_size"] for r in rows}))
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("batch size B")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--queue-sizes", type=int, nargs="+", default=[0])
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.2])
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=int, default=2, help="equal epochs per point")
    budget.add_argument("--seconds", type=float, help="equal training seconds per point")
    parser.add_argument("--warmup-epochs", type=int, default=0, help="lr warm-up (short: none)")
    parser.add_argument("--grad-draws", type=int, default=16, help="batches for grad variance")
    parser.add_argument("--out", type=Path, default=Path("outputs/study_negatives"))
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=resnet18")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    budget = f"{args.seconds:g} s" if args.seconds is not None else f"{args.epochs} epochs"
    title = f"InfoNCE, {budget} per point, {' '.join(BASE_OVERRIDES[:1] + args.overrides)}"
    rows = []
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "study_negatives.jsonl").open("w") as out:
        for t in args.temperatures:
            for q in args.queue_sizes:
                for b in args.batch_sizes:
                    rows.append(run_one(b, q, t, args, args.out / "runs" / f"b{b}_q{q}_t{t:g}"))
                    out.write(json.dumps({"budget": budget, **rows[-1]}) + "\n")
                    out.flush()
    print_table(rows, title)
    plot(rows, args.out / "study_negatives.png", title)


if __name__ == "__main__":
    main()
