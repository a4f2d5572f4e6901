"""Training-pipeline throughput: is the GPU/CPU fed? Prints a table.

(a) bare model: backbone + head forward, backward and the run's optimiser step on random tensors
    already on the device (same memory format, precision and optimiser as the run) — the
    compute limit for this backbone / batch / precision.
(b) full step, views made per sample in CPU loader workers (`data.augment=cpu`), and
(c) full step, both views made in one batched pass on the device (`data.augment=gpu`): the
    real `ssl-pretrain` loop (Lightning, data, augmentation, InfoNCE) for the same config.
The ratios (b)/(a) and (c)/(a) say how much the input pipeline and bookkeeping cost.

    python scripts/bench_train.py                                  # digits, resnet18, CPU
    python scripts/bench_train.py --steps 50 data=synthetic data.image_size=224 \
        model=resnet50 trainer=gpu optim.batch_size=256 data.num_workers=14
"""

from __future__ import annotations

import argparse
import json
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_module
from rich.console import Console
from rich.table import Table

from ssl_app.pretrain import build_components
from ssl_app.train.optim import build_optimizer


class StepTimer(pl.Callback):
    """Wall time from the end of step `warmup` to the end of step `warmup + steps`; the device
    is synchronised at those two steps only, so the CPU runs ahead as in a real run."""

    def __init__(self, warmup: int, steps: int) -> None:
        self.warmup, self.steps, self.start, self.end = warmup, steps, 0.0, 0.0

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step not in (self.warmup, self.warmup + self.steps):
            return
        _sync(trainer.strategy.root_device)
        if trainer.global_step == self.warmup:
            self.start = time.perf_counter()
        else:
            self.end = time.perf_counter()


class SyncFinder(pl.Callback):
    """CUDA only: where the timed steps make the CPU wait for the GPU (`.item()`, a copy to a
    pageable host buffer, a data-dependent shape), counted by the innermost line of our code or
    Lightning's: a step without any lets the CPU queue work ahead, as the bare model does."""

    def __init__(self, warmup: int, steps: int) -> None:
        self.warmup, self.steps = warmup, steps
        self.found: Counter[str] = Counter()
        self.showwarning = warnings.showwarning

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.strategy.root_device.type != "cuda":
            return
        if trainer.global_step == self.warmup:
            warnings.simplefilter("always", UserWarning)
            warnings.showwarning = self.record
            torch.cuda.set_sync_debug_mode("warn")
        elif trainer.global_step == self.warmup + self.steps:
            torch.cuda.set_sync_debug_mode("default")
            warnings.showwarning = self.showwarning

    def record(self, message, *args, **kwargs) -> None:
        if "synchroniz" not in str(message):
            return
        skip = ("/torch/", "warnings.py")  # torch itself; Lightning frames count
        ours = [f for f in traceback.extract_stack() if not any(s in f.filename for s in skip)]
        where = ours[-2] if len(ours) > 1 else ours[-1]  # [-1] is this method
        self.found[f"{Path(where.filename).name}:{where.lineno} {where.name}"] += 1


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_gib(device: torch.device) -> float | None:
    """Peak GPU memory since the last call (None on CPU), then reset the counter."""
    if device.type != "cuda":
        return None
    peak = torch.cuda.max_memory_allocated(device) / 2**30
    torch.cuda.reset_peak_memory_stats(device)
    return round(peak, 2)


def bare_model_rate(module, batch: int, shape: tuple, precision: str, device, steps: int) -> float:
    """Images/s of fwd + bwd + step (the run's optimiser) of backbone + head on random
    views (2 per image)."""
    model = torch.nn.Sequential(module.backbone, module.head).to(device).train()
    fused = device.type == "cuda"
    optimizer = build_optimizer(model, module.optim.name, 1e-3, 1e-4, fused=fused)
    memory_format = module.memory_format
    model = model.to(memory_format=memory_format)
    x = torch.randn(2 * batch, *shape, device=device).contiguous(memory_format=memory_format)
    dtype = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(precision)
    for i in range(steps + 3):
        if i == 3:
            _sync(device)
            start = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = model(x).float().pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    _sync(device)
    return steps * batch / (time.perf_counter() - start)


def full_step_rate(cfg, steps: int, warmup: int) -> tuple[float, dict]:
    """Images/s of the real training loop, and the model it built (for the bare run)."""
    module, datamodule, _ = build_components(cfg)
    timer, syncs = StepTimer(warmup, steps), SyncFinder(warmup, steps)
    trainer_cfg = {**cfg.trainer, "max_epochs": None, "max_steps": warmup + steps}
    trainer_cfg.update(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer = pl.Trainer(**trainer_cfg, callbacks=[timer, syncs], enable_model_summary=False)
    trainer.fit(module, datamodule)
    rate = steps * cfg.optim.batch_size / (timer.end - timer.start)
    built = {"module": module, "device": trainer.strategy.root_device}
    return rate, {**built, "syncs": dict(syncs.found.most_common(8))}


def compose_config(overrides: list[str]):
    with initialize_config_module("ssl_app.conf", version_base=None):
        return compose("pretrain", overrides=["eval.every_n_epochs=100000", *overrides])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed first steps")
    parser.add_argument("--augment", default="cpu,gpu", help="full-step modes, comma-separated")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides as for ssl-pretrain")
    args = parser.parse_intermixed_args()
    cfg = compose_config(args.overrides)
    row = {"data": cfg.data.name, "backbone": cfg.model.backbone}
    row.update(image_size=cfg.data.image_size, batch=cfg.optim.batch_size)
    row.update(
        precision=str(cfg.trainer.precision), compile=cfg.model.compile and cfg.model.compile_mode
    )
    full = {}
    for mode in args.augment.split(","):
        cfg = compose_config([*args.overrides, f"data.augment={mode}"])
        full[mode], built = full_step_rate(cfg, args.steps, args.warmup)
        row[f"full_{mode}_peak_gib"] = peak_memory_gib(built["device"])
        row[f"full_{mode}_syncs"] = built["syncs"]
    shape = (cfg.model.in_chans, cfg.data.image_size, cfg.data.image_size)
    bare = bare_model_rate(
        built["module"], cfg.optim.batch_size, shape, row["precision"], built["device"], args.steps
    )
    row["device"] = torch.cuda.get_device_name() if built["device"].type == "cuda" else "cpu"
    row.update(bare_img_s=round(bare, 1), bare_peak_gib=peak_memory_gib(built["device"]))
    for mode, rate in full.items():
        row[f"full_{mode}_img_s"] = round(rate, 1)
        row[f"ratio_{mode}"] = round(rate / bare, 3)
    table = Table(title="training throughput (images/s; each image = 2 views)")
    table.add_column("")
    table.add_column("value", justify="right")
    for key, value in row.items():
        table.add_row(key, str(value))
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
