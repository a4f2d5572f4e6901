"""`ssl-pretrain`: contrastive pretraining from a Hydra config, then a final evaluation.

Hydra composes `conf/pretrain.yaml` with the groups data/ model/ loss/ optim/ trainer/
logger/; the run directory gets the resolved config, checkpoints, metrics.csv,
results.json and plots.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from ssl_app.cli import hydra_entry
from ssl_app.data import DatasetInfo, dataset_info
from ssl_app.data.datamodule import ContrastiveDataModule
from ssl_app.errors import ConfigError, exit_on_user_error, require_positive
from ssl_app.eval.report import print_results_table
from ssl_app.models.checkpoint import BackboneSpec
from ssl_app.train.callbacks import (
    OnlineKNN,
    SaveOnInterrupt,
    StopOnNonFinite,
    checkpoint_callbacks,
)
from ssl_app.train.checkpoint_io import AtomicCheckpointIO
from ssl_app.train.continuation import ContinueRandomStreams, FlushMetrics
from ssl_app.train.final_eval import evaluate_backbones, verdict
from ssl_app.train.loggers import build_loggers
from ssl_app.train.module import ContrastiveModule
from ssl_app.train.online_probe import OnlineLinearProbe
from ssl_app.train.resume import check_resume_checkpoint, find_resume_checkpoint


def wants_small_stem(backbone: str, image_size: int, info: DatasetInfo) -> bool:
    """`small_images=auto`: a stride-1 ResNet stem for inputs ≤ 64 px whose native detail
    is finer than the stock stem's 4× down-sampling (CIFAR: yes; 8-px digits upscaled
    to 32: no, the stock stem just undoes the upscaling at a 16th of the cost)."""
    native = info.detail_size or info.image_size or image_size
    return "resnet" in backbone and image_size <= 64 and native > image_size / 4


def complete_config(cfg: DictConfig) -> None:
    """Fill what depends on the data (input channels, small-image stem) and check ranges."""
    info = dataset_info(cfg.data.name, cfg.data.get("root"), **cfg.data.get("dataset_kwargs", {}))
    with open_dict(cfg):
        if cfg.model.in_chans is None:
            cfg.model.in_chans = info.channels
        if cfg.model.small_images == "auto":
            cfg.model.small_images = wants_small_stem(cfg.model.backbone, cfg.data.image_size, info)
    if cfg.trainer.get("sync_batchnorm") and cfg.trainer.accelerator == "cpu":
        raise ConfigError(
            "model.sync_bn=true needs GPUs (torch's SyncBatchNorm has no CPU kernel); "
            "use trainer=ddp or trainer=multinode, or set model.sync_bn=false"
        )
    if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
        raise ConfigError(
            "trainer=gpu but no CUDA GPU is visible; use trainer=cpu or check drivers"
        )
    require_positive("eval.every_n_epochs", cfg.eval.every_n_epochs)
    require_positive("optim.batch_size", cfg.optim.batch_size)
    require_positive("optim.base_lr", cfg.optim.base_lr)
    require_positive("epochs", cfg.epochs)


def build_components(cfg: DictConfig) -> tuple[ContrastiveModule, ContrastiveDataModule, dict]:
    """Seeded model and data module of a run, and its resolved config as a plain dict."""
    complete_config(cfg)
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = ContrastiveDataModule.from_config(OmegaConf.to_container(cfg.data, resolve=True))
    config = OmegaConf.to_container(cfg, resolve=True)
    return ContrastiveModule(config), datamodule, config


def run_callbacks(cfg: DictConfig, run_dir: Path, datamodule) -> list[pl.Callback]:
    """The divergence stop, the random streams and metrics kept for resume, the checkpoints
    and (with labels) the online kNN monitor and linear probe."""
    callbacks = [
        StopOnNonFinite(),
        ContinueRandomStreams(),
        FlushMetrics(),
        *checkpoint_callbacks(run_dir, datamodule.has_labels),
    ]
    if datamodule.has_labels:
        knn = OnlineKNN(cfg.eval.every_n_epochs, cfg.eval.knn_k, cfg.eval.knn_temperature)
        callbacks.append(knn)
    if datamodule.has_labels and cfg.eval.online_linear:
        callbacks.append(OnlineLinearProbe(datamodule.info.num_classes))
    return callbacks


def continued_run_dir(resume: Any, ckpt_path: Path, run_dir: Path) -> Path:
    """`resume=true` continues the newest run in its own directory (the fresh one Hydra made
    for this call is removed while it holds only its config); other resumes stay in `run_dir`."""
    if resume not in (True, "true") or ckpt_path.parent.name != "checkpoints":
        return run_dir
    previous = ckpt_path.parent.parent
    made_by_hydra = (run_dir / ".hydra").is_dir() and previous.resolve() != run_dir.resolve()
    if made_by_hydra and {p.name for p in run_dir.iterdir()} <= {".hydra", "pretrain.log"}:
        shutil.rmtree(run_dir)
    return previous


def run_pretraining(
    cfg: DictConfig, run_dir: Path, extra_callbacks: Sequence[pl.Callback] = ()
) -> dict[str, Any]:
    """Train, evaluate on rank 0, write results.json; returns the results.

    `extra_callbacks` join the run's own (e.g. a timer in a study script)."""
    module, datamodule, config = build_components(cfg)
    ckpt_path = find_resume_checkpoint(cfg.resume, run_dir, run_dir.parent)
    resume_step = None
    if ckpt_path is not None:
        state = module.state_dict()
        resume_step = check_resume_checkpoint(ckpt_path, state, cfg.optim.name, cfg.epochs)
        run_dir = continued_run_dir(cfg.resume, ckpt_path, run_dir)
        print(f"resuming from {ckpt_path} (step {resume_step}) in {run_dir}")
    interrupt = SaveOnInterrupt(run_dir / "checkpoints")
    trainer = pl.Trainer(
        **cfg.trainer,
        default_root_dir=run_dir,
        logger=build_loggers(config["logger"], run_dir, resume_step),
        callbacks=[interrupt, *run_callbacks(cfg, run_dir, datamodule), *extra_callbacks],
        plugins=[AtomicCheckpointIO()],
    )
    seconds = fit(trainer, module, datamodule, ckpt_path, interrupt)
    if not trainer.is_global_zero or not cfg.eval.final_table:
        return {}
    device = trainer.strategy.root_device
    return final_results(module, datamodule, config, run_dir, device, seconds)


def fit(trainer: pl.Trainer, module, datamodule, ckpt_path, interrupt: SaveOnInterrupt) -> float:
    """`trainer.fit`; returns the training seconds. After SIGTERM or Ctrl-C (Lightning leaves
    with code 0 or 1) exits with 128 + the signal's number, `last.ckpt` written at that step."""
    start = time.perf_counter()
    try:
        trainer.fit(module, datamodule, ckpt_path=ckpt_path)
    except SystemExit:
        if interrupt.signal is None:
            raise
        print(f"interrupted: resumable checkpoint {interrupt.path}")
        raise SystemExit(128 + interrupt.signal) from None
    return time.perf_counter() - start


def final_results(
    module: ContrastiveModule,
    datamodule: ContrastiveDataModule,
    config: dict,
    run_dir: Path,
    device: torch.device,
    train_seconds: float,
) -> dict:
    """Score learned vs random-init vs raw pixels on `device` (Lightning hands the model
    back on the CPU after fit), print the table, save results.json."""
    if not datamodule.has_labels:
        print("data set has no labels: kNN and linear evaluation skipped")
        return {}
    backbones = {"learned": module.backbone.eval()}
    if config["eval"]["baselines"]:
        pl.seed_everything(config["seed"])
        backbones["random init"] = BackboneSpec.from_run_config(config["model"]).build().eval()
    rows = evaluate_backbones(backbones, datamodule.eval_dataloaders(), config["eval"], device)
    results = {
        "backbone": config["model"]["backbone"],
        "data": config["data"]["name"],
        "checkpoint": "end of training (= checkpoints/last.ckpt)",
        "global_step": module.global_step,
        "train_seconds": round(train_seconds, 1),
        **rows,
    }
    (run_dir / "results.json").write_text(json.dumps(results, indent=2))
    print_results_table(rows, title=f"{results['backbone']} on {results['data']}")
    if line := verdict(rows):
        print(line)
    print(f"trained {module.global_step} steps in {train_seconds:.0f} s; run directory: {run_dir}")
    return results


@hydra.main(version_base=None, config_path="conf", config_name="pretrain")
@exit_on_user_error
def hydra_main(cfg: DictConfig) -> None:
    run_pretraining(cfg, Path(HydraConfig.get().runtime.output_dir))


main = hydra_entry("pretrain", hydra_main)

if __name__ == "__main__":
    main()
