"""Loggers from the `logger` config group: CSV always, TensorBoard and wandb on request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import CSVLogger, Logger, TensorBoardLogger


def build_loggers(logger_cfg: dict[str, Any], run_dir: Path) -> list[Logger]:
    """metrics.csv in `run_dir`; wandb runs offline unless `wandb.project` is set."""
    loggers: list[Logger] = []
    if logger_cfg.get("csv", True):
        loggers.append(CSVLogger(save_dir=run_dir, name="", version=""))
    if logger_cfg.get("tensorboard"):
        loggers.append(TensorBoardLogger(save_dir=run_dir, name="", version="tensorboard"))
    wandb_cfg = logger_cfg.get("wandb")
    if wandb_cfg is not None:
        from pytorch_lightning.loggers import WandbLogger

        project = wandb_cfg.get("project")
        loggers.append(
            WandbLogger(
                project=project or "ssl_app",
                offline=project is None,
                save_dir=str(run_dir),
                **{k: v for k, v in wandb_cfg.items() if k != "project" and v},
            )
        )
    return loggers
