"""Where to resume from: `resume=true` finds the newest `last.ckpt`, `resume=auto` this run's
own newest checkpoint if any (requeued cluster jobs), a path is used as is. The checkpoint is
read once, here, to be checked (Lightning reads it again to restore the run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from ssl_app.errors import CheckpointError, ConfigError
from ssl_app.models.checkpoint import read_checkpoint
from ssl_app.progress import LOG, say


class ResumePoint(NamedTuple):
    """A checkpoint to continue from and its contents (read with `read_checkpoint`)."""

    path: Path
    checkpoint: dict[str, Any]


def find_resume_checkpoint(
    resume: bool | str | None, run_dir: Path, outputs_root: Path
) -> ResumePoint | None:
    """The checkpoint to continue from, or None to start fresh.

    `true`: this run directory's `checkpoints/last.ckpt` if present (a fixed
    `hydra.run.dir`, e.g. a requeued SLURM job), else the newest one under `outputs_root`.
    A directory means its `checkpoints/last.ckpt`. `auto`: see `own_latest_checkpoint`.
    """
    if resume in (None, False, "false", "null"):
        return None
    if resume == "auto":
        return own_latest_checkpoint(run_dir)
    if resume is True or resume == "true":
        own = run_dir / "checkpoints" / "last.ckpt"
        found = [own] if own.is_file() else list(outputs_root.glob("**/checkpoints/last.ckpt"))
        newest = newest_readable(found)
        if newest is None:
            raise CheckpointError(
                f"resume=true but no readable checkpoints/last.ckpt under '{outputs_root}'; "
                "pass resume=<path to .ckpt or run dir> or drop resume"
            )
        return newest
    path = Path(resume)
    if path.is_dir():
        path = path / "checkpoints" / "last.ckpt"
    if not path.is_file():
        raise CheckpointError(
            f"resume checkpoint '{path}' does not exist; pass an existing .ckpt or run dir"
        )
    return ResumePoint(path, read_checkpoint(path))


def own_latest_checkpoint(run_dir: Path) -> ResumePoint | None:
    """The newer readable one of `run_dir`'s `checkpoints/last.ckpt` (each epoch) and Lightning's
    `hpc_ckpt_*.ckpt` (saved on SLURM's pre-timeout signal), or None on a first start.

    Never looks outside `run_dir`, so a fresh job does not pick up a neighbour's run.
    """
    found = [*run_dir.glob("hpc_ckpt_*.ckpt"), run_dir / "checkpoints" / "last.ckpt"]
    return newest_readable([path for path in found if path.is_file()])


def newest_readable(candidates: list[Path]) -> ResumePoint | None:
    """The newest of `candidates` that reads as a checkpoint; broken newer ones (a write cut
    short) are named in a warning and passed over."""
    for path in sorted(candidates, key=_mtime, reverse=True):
        try:
            return ResumePoint(path, read_checkpoint(path))
        except CheckpointError as err:
            LOG.warning(f"warning: skipping a broken checkpoint: {err}")
    return None


def _mtime(path: Path) -> float:
    return path.stat().st_mtime


def check_resume_checkpoint(
    found: ResumePoint, expected_state: dict, optimizer: str, epochs: int | None = None
) -> int:
    """The checkpoint's global step; refuses one that holds another architecture or was trained
    with another optimiser (its state would not load), in one line. A different `epochs` is
    applied and said: the cosine schedule is re-planned over it."""
    path, ckpt = found
    state, cfg = ckpt["state_dict"], ckpt["hyper_parameters"]["cfg"]
    mismatched = [
        k for k, v in expected_state.items() if k not in state or state[k].shape != v.shape
    ]
    unexpected = [k for k in state if k not in expected_state]
    if mismatched or unexpected:
        arch = cfg["model"].get("backbone", "?")
        example = (mismatched or unexpected)[0]
        raise CheckpointError(
            f"'{path}' holds another architecture (backbone '{arch}'): {len(mismatched)} missing "
            f"or reshaped keys (e.g. {example}), {len(unexpected)} unexpected; "
            "set the model to match or start without resume"
        )
    saved = cfg.get("optim", {}).get("name")
    if saved not in (None, optimizer):
        raise CheckpointError(
            f"'{path}' was trained with optim={saved}, this run uses optim={optimizer}; "
            f"pass optim={saved} to resume it or start without resume"
        )
    check_epochs_left(path, ckpt, epochs)
    saved_epochs = cfg.get("epochs")
    if epochs is not None and saved_epochs not in (None, epochs):
        say(
            f"note: {path} was planned for epochs={saved_epochs}; continuing with epochs={epochs}, "
            f"the lr schedule re-planned over that (pass epochs={saved_epochs} to keep it)"
        )
    return int(ckpt.get("global_step", 0))


def check_epochs_left(path: Path, ckpt: dict, epochs: int | None) -> None:
    """One line instead of Lightning's traceback when `epochs` is below the epoch the checkpoint
    was saved in (Lightning counts epochs from 0 in `ckpt["epoch"]`)."""
    saved_in = int(ckpt.get("epoch", 0)) + 1
    if epochs is not None and epochs < saved_in:
        raise ConfigError(
            f"'{path}' was saved in epoch {saved_in}, past epochs={epochs}; "
            f"pass epochs >= {saved_in} to continue it, or start without resume"
        )
