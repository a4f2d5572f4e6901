"""Helpers of the scale-out tests: run the real `ssl-pretrain` CLI in a subprocess."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def pretrain_command() -> list[str]:
    """The installed `ssl-pretrain` console script, else `python -m ssl_app.pretrain`."""
    script = Path(sys.executable).parent / "ssl-pretrain"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "ssl_app.pretrain"]


def quiet_env(**extra: str) -> dict[str, str]:
    """This environment with one thread per process (2 ranks on 2 cores) and `extra`."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **extra}


def run(command: list[str], timeout: float = 180, **env: str) -> subprocess.CompletedProcess:
    """Run `command` from the repository root; fail with its output tail if it fails."""
    done = subprocess.run(
        command, cwd=REPO, env=quiet_env(**env), capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{command[:3]}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done


def logged_rows(run_dir: Path, column: str) -> list[float]:
    """The values of `column` in `run_dir/metrics.csv`, in step order (empty cells skipped)."""
    with open(run_dir / "metrics.csv") as f:
        return [float(row[column]) for row in csv.DictReader(f) if row.get(column)]
