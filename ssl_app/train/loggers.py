"""Loggers from the `logger` config group: CSV always, TensorBoard and wandb on request.

metrics.csv survives a resume into the same run directory: the rows logged before the
checkpoint's step stay, the ones after it (to be trained again) go; a wandb run continues
under the id kept in the run directory.
"""

from __future__ import annotations

import csv
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytorch_lightning.loggers import CSVLogger, Logger, TensorBoardLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter


class ResumableWriter(ExperimentWriter):
    """Lightning's CSV writer, but an existing metrics.csv is cut at `resume_step` and appended
    to (Lightning deletes it whenever the folder is not empty, and `.hydra/` always is there)."""

    def __init__(self, log_dir: str, resume_step: int | None) -> None:
        self.resume_step = resume_step
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:
        path = Path(self.metrics_file_path)
        if not path.is_file():
            return
        with path.open(newline="") as file:
            reader = csv.DictReader(file)
            keys = list(reader.fieldnames or [])
            keep_below = self.resume_step or 0
            rows = [row for row in reader if int(row["step"] or 0) < keep_below]
        if not rows:
            path.unlink()
            return
        with path.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
        self.metrics_keys = keys


class ResumableCSVLogger(CSVLogger):
    """`metrics.csv` in the run directory, continued across resumes (see ResumableWriter)."""

    def __init__(self, run_dir: Path, resume_step: int | None = None) -> None:
        super().__init__(save_dir=run_dir, name="", version="")
        self.resume_step = resume_step

    @property
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._experiment = ResumableWriter(self.log_dir, self.resume_step)
        return self._experiment


@dataclass
class LoggerConfig:
    """The `logger` config group (`conf/logger/<name>.yaml`): metrics.csv always, TensorBoard
    and Weights & Biases on request."""

    csv: bool = True
    tensorboard: bool = False
    # WandbLogger's keywords (project, entity, name, tags, ...), open like the trainer group;
    # null: no wandb
    wandb: dict[str, Any] | None = None


def build_loggers(
    logger: LoggerConfig, run_dir: Path, resume_step: int | None = None
) -> list[Logger]:
    """metrics.csv in `run_dir` (kept up to `resume_step` when resuming there); wandb runs
    offline unless `wandb.project` is set."""
    loggers: list[Logger] = []
    if logger.csv:
        loggers.append(ResumableCSVLogger(run_dir, resume_step))
    if logger.tensorboard:
        loggers.append(TensorBoardLogger(save_dir=run_dir, name="", version="tensorboard"))
    if logger.wandb is not None:
        loggers.append(build_wandb_logger(dict(logger.wandb), run_dir))
    return loggers


def build_wandb_logger(wandb_cfg: dict[str, Any], run_dir: Path) -> Logger:
    """wandb, offline unless `project` is set; the run id is kept in the run directory, so a
    resume there (resume=true|auto, a requeued job) continues the same wandb run."""
    from pytorch_lightning.loggers import WandbLogger

    project = wandb_cfg.pop("project", None)
    options = {k: v for k, v in wandb_cfg.items() if v}
    options.setdefault("id", wandb_run_id(run_dir))
    return WandbLogger(
        project=project or "ssl_app",
        offline=project is None,
        save_dir=str(run_dir),
        resume="allow",
        **options,
    )


def wandb_run_id(run_dir: Path) -> str:
    """This run directory's wandb id: made on the first start, read back on every resume."""
    path = run_dir / "wandb_id.txt"
    if path.is_file():
        return path.read_text().strip()
    run_id = secrets.token_hex(4)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(run_id)
    return run_id
