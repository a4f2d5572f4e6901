"""`ssl-pretrain`: contrastive pretraining from a Hydra config, then a final evaluation.

Hydra composes `conf/pretrain.yaml` with the groups data/ model/ loss/ optim/ trainer/
logger/; the run directory gets the resolved config, checkpoints, metrics.csv,
results.json and plots.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities import rank_zero_only

from ssl_app.cli import hydra_entry
from ssl_app.config import PretrainConfig
from ssl_app.data import DatasetInfo, dataset_info
from ssl_app.data.datamodule import ContrastiveDataModule
from ssl_app.errors import ConfigError, SslAppError, exit_on_user_error
from ssl_app.eval.feature_set import FeatureSet
from ssl_app.eval.final_table import final_table, top1_rows, verdict
from ssl_app.eval.options import EvalConfig
from ssl_app.eval.report import results_table
from ssl_app.eval.results_file import write_results
from ssl_app.models.checkpoint import BackboneSpec
from ssl_app.progress import phase, say, show, show_bars
from ssl_app.run_log import start as start_run_log
from ssl_app.train.callbacks import (
    OnlineKNN,
    SaveOnInterrupt,
    StopOnNonFinite,
    checkpoint_callbacks,
)
from ssl_app.train.checkpoint_io import AtomicCheckpointIO
from ssl_app.train.continuation import ContinueRandomStreams, FlushMetrics
from ssl_app.train.display import display_callbacks
from ssl_app.train.loggers import build_loggers
from ssl_app.train.module import ContrastiveModule
from ssl_app.train.online_probe import OnlineLinearProbe
from ssl_app.train.resume import check_resume_checkpoint, find_resume_checkpoint
from ssl_app.train.stop_signal import StopTogetherOnSignals
from ssl_app.train.time_budget import TimeBudget


def wants_small_stem(backbone: str, image_size: int, info: DatasetInfo) -> bool:
    """`small_images=auto`: a stride-1 ResNet stem for inputs ≤ 64 px when the stock stem's 4×
    down-sampling would keep less than half the native detail (CIFAR at 32 px: yes; 8-px digits
    at 16 or 32 px: no, the stock stem keeps what there is at a fraction of the cost, and on the
    digits validation split it also scored higher)."""
    native = info.detail_size or info.image_size or image_size
    return "resnet" in backbone and image_size <= 64 and native > image_size / 2


def complete_config(cfg: DictConfig) -> PretrainConfig:
    """Fill what depends on the data (input channels, small-image stem) and check the run;
    returns the run's typed config (ranges checked by each group's dataclass)."""
    info = dataset_info(cfg.data.name, cfg.data.root, **cfg.data.dataset_kwargs)
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
    return OmegaConf.to_object(cfg)


def build_components(cfg: DictConfig) -> tuple[ContrastiveModule, ContrastiveDataModule, dict]:
    """Seeded model and data module of a run, and its resolved config as a plain dict."""
    run = complete_config(cfg)
    pl.seed_everything(run.seed, workers=True, verbose=False)
    datamodule = ContrastiveDataModule(run.data, run.optim.batch_size)
    config = OmegaConf.to_container(cfg, resolve=True)
    return ContrastiveModule(run.model, run.loss, run.optim, run_config=config), datamodule, config


def run_callbacks(
    eval_cfg: EvalConfig, run_dir: Path, datamodule, last_every_s: float
) -> list[pl.Callback]:
    """The divergence stop, the random streams and metrics kept for resume, the checkpoints
    (`last.ckpt` at most every `last_every_s` seconds, and at the end) and (with labels) the
    online kNN monitor and linear probe."""
    callbacks = [
        StopOnNonFinite(),
        ContinueRandomStreams(),
        FlushMetrics(),
        *checkpoint_callbacks(run_dir, datamodule.has_labels, last_every_s),
    ]
    if datamodule.has_labels:
        knn = OnlineKNN(
            eval_cfg.every_n_epochs,
            eval_cfg.knn_k,
            eval_cfg.knn_temperature,
            eval_cfg.knn_bank_max,
            eval_cfg.knn_query_max,
        )
        callbacks.append(knn)
    if datamodule.has_labels and eval_cfg.online_linear:
        callbacks.append(OnlineLinearProbe(datamodule.info.num_classes, eval_cfg.every_n_epochs))
    return callbacks


def continued_run_dir(resume: Any, ckpt_path: Path, run_dir: Path) -> Path:
    """`resume=true` continues the newest run in its own directory (the fresh one Hydra made
    for this call is removed while it holds only its config); other resumes stay in `run_dir`."""
    if resume not in (True, "true") or ckpt_path.parent.name != "checkpoints":
        return run_dir
    previous = ckpt_path.parent.parent
    if previous.resolve() != run_dir.resolve():
        discard_unused_run_dir(run_dir, also=("pretrain.log",))
    return previous


def discard_unused_run_dir(run_dir: Path, also: tuple[str, ...] = ()) -> None:
    """Removes a run directory that holds only what Hydra wrote at the start (`.hydra`) and
    `also`: a run that stopped on a bad value leaves no empty directory behind."""
    names = {p.name for p in run_dir.iterdir()} if run_dir.is_dir() else set()
    if ".hydra" in names and names <= {".hydra", *also} and run_dir.resolve() != Path.cwd():
        shutil.rmtree(run_dir)


def run_pretraining(
    cfg: DictConfig, run_dir: Path, extra_callbacks: Sequence[pl.Callback] = ()
) -> dict[str, Any]:
    """Train, evaluate on rank 0, write results.json; returns the results. The run directory
    is said first and the run's lines also go to its `pretrain.log` (rank 0).

    `extra_callbacks` join the run's own (e.g. a timer in a study script)."""
    found = find_resume_checkpoint(cfg.resume, run_dir, run_dir.parent)
    if found is not None:
        run_dir = continued_run_dir(cfg.resume, found.path, run_dir)
    module, datamodule, config = build_components(cfg)  # a bad value stops here, in one line
    run: PretrainConfig = OmegaConf.to_object(cfg)  # the config completed by build_components
    trainer_kwargs, budget = time_budget(run.trainer)
    start_log(run_dir, cfg.trainer.enable_progress_bar)
    ckpt_path, resume_step = None, None
    if found is not None:
        state = module.state_dict()
        resume_step = check_resume_checkpoint(found, state, run.optim.name, run.epochs)
        ckpt_path = found.path
        del found  # the checkpoint's contents: Lightning reads them again to restore the run
        say(f"resuming from {ckpt_path} (step {resume_step}) in {run_dir}")
    interrupt = SaveOnInterrupt(run_dir / "checkpoints")
    own = run_callbacks(run.eval, run_dir, datamodule, run.checkpoint_every_s)
    callbacks = [interrupt, StopTogetherOnSignals(), *budget, *own, *extra_callbacks]
    trainer = pl.Trainer(
        **{**trainer_kwargs, "enable_model_summary": False},
        default_root_dir=run_dir,
        logger=build_loggers(run.logger, run_dir, resume_step),
        callbacks=[*display_callbacks(run.trainer), *callbacks],
        plugins=[AtomicCheckpointIO()],
    )
    seconds = fit(trainer, module, datamodule, ckpt_path, interrupt)
    if not trainer.is_global_zero or not run.eval.final_table:
        return {}
    return final_results(learned_features(trainer, module, run_dir), run, run_dir, seconds)


def time_budget(trainer_cfg: dict[str, Any]) -> tuple[dict[str, Any], list[TimeBudget]]:
    """The Trainer's arguments without `max_time`, and the `TimeBudget` that takes its place
    (the lr schedule then ends with the time), if one is set."""
    kwargs = dict(trainer_cfg)
    max_time = kwargs.pop("max_time", None)
    return kwargs, [TimeBudget(max_time)] if max_time else []


def start_log(run_dir: Path, bars: bool) -> None:
    """Rank 0 says the run directory and logs to its `pretrain.log`; bars as the trainer's."""
    show_bars(bars)
    if rank_zero_only.rank != 0:
        start_run_log(None, info=False)
        return
    start_run_log(run_dir / "pretrain.log")
    say(f"run directory: {run_dir}")


def learned_features(trainer: pl.Trainer, module: ContrastiveModule, run_dir: Path) -> FeatureSet:
    """The trained backbone as the final table's first row: on the training device (Lightning
    hands the model back on the CPU), named by its checkpoint and step."""
    return FeatureSet(
        "learned",
        module.backbone,
        trainer.datamodule,
        device=trainer.strategy.root_device,
        progress=trainer.progress_bar_callback is not None,
        provenance={
            "checkpoint": str(run_dir / "checkpoints" / "last.ckpt"),
            "step": module.global_step,
        },
    )


def fit(trainer: pl.Trainer, module, datamodule, ckpt_path, interrupt: SaveOnInterrupt) -> float:
    """`trainer.fit`; returns the training seconds. After SIGTERM or Ctrl-C (Lightning leaves
    with code 0 or 1) exits with 128 + the signal's number, `last.ckpt` written at that step."""
    start = time.perf_counter()
    try:
        with phase("training") as details:
            trainer.fit(module, datamodule, ckpt_path=ckpt_path)
            epochs = trainer.current_epoch
            details += [f"{epochs} epoch{'s' * (epochs != 1)}", f"{trainer.global_step} steps"]
    except SystemExit:
        if interrupt.signal is None:
            raise
        kept = "resumable checkpoint" if interrupt.saved else "this step unsaved; the last save is"
        say(f"interrupted: {kept} {interrupt.path}")
        raise SystemExit(128 + interrupt.signal) from None
    return time.perf_counter() - start


def final_results(
    learned: FeatureSet, run: PretrainConfig, run_dir: Path, train_seconds: float
) -> dict:
    """The final table (`eval.final_table`): printed, with its verdict, and written to
    results.json in `ssl-eval`'s schema; returns its section (+ the data set's name)."""
    datamodule = learned.datamodule
    if not datamodule.has_labels:
        say("data set has no labels: kNN and linear evaluation skipped")
        return {}
    spec = BackboneSpec.from_run_config(run.model)
    results = final_table(learned, spec, run.eval, run.seed)
    training = {"backbone": spec.name, "train_seconds": round(train_seconds, 1)}
    results.details["training"] = {"learned": training}
    section = write_results(run_dir / "results.json", datamodule.name, results, fresh=True)
    show(results_table(top1_rows(section["rows"]), title=f"{spec.name} on {datamodule.name}"))
    if line := verdict(section["rows"]):
        say(line)
    steps = learned.provenance["step"]
    say(f"trained {steps} steps in {train_seconds:.0f} s; run directory: {run_dir}")
    return {"data": datamodule.name, **section}


@hydra.main(version_base=None, config_path="pkg://ssl_app.conf", config_name="pretrain")
@exit_on_user_error
def hydra_main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        run_pretraining(cfg, run_dir)
    except SslAppError:
        discard_unused_run_dir(run_dir)
        raise


main = hydra_entry("pretrain", hydra_main)

if __name__ == "__main__":
    main()
