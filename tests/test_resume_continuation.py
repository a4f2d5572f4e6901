"""Resume is a continuation: killed after epoch k and resumed, a run ends where the
uninterrupted run ends (weights and metrics.csv), and its random streams survive a checkpoint."""

from __future__ import annotations

import csv
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import QUICK_EVAL, TINY_RUN

from ssl_app.errors import ConfigError
from ssl_app.pretrain import run_pretraining
from ssl_app.train.continuation import rng_states, set_rng_states
from ssl_app.train.resume import check_epochs_left

QUICK = [*QUICK_EVAL, "eval.every_n_epochs=1", "epochs=3"]

# Trains like ssl-pretrain and SIGKILLs itself when epoch `kill_at` starts (epochs before it
# are checkpointed): what an OOM killer or a lost node does.
KILLED_RUN = """
import os, signal, sys
from pathlib import Path
import pytorch_lightning as pl
from hydra import compose, initialize_config_module
from ssl_app.errors import ConfigError
from ssl_app.pretrain import run_pretraining
from ssl_app.train.resume import check_epochs_left

class Kill(pl.Callback):
    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)

with initialize_config_module("ssl_app.conf", version_base=None):
    cfg = compose("pretrain", overrides=sys.argv[3:])
run_pretraining(cfg, Path(sys.argv[1]), extra_callbacks=[Kill()])
"""


def test_rng_states_round_trip_and_load_weights_only(tmp_path):
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    path = tmp_path / "rng.pt"
    torch.save(rng_states(), path)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_states(torch.load(path, weights_only=True))
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0])
    assert np.array_equal(expected[1], again[1]) and expected[2] == again[2]


@pytest.mark.slow
def test_killed_and_resumed_run_ends_like_the_uninterrupted_one(pretrain_config, tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    run_pretraining(pretrain_config(*QUICK), whole)
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(parts), "2", *TINY_RUN, *QUICK],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    run_pretraining(pretrain_config(*QUICK, "resume=auto"), parts)
    for name, value in final_weights(whole).items():
        torch.testing.assert_close(final_weights(parts)[name], value, rtol=1e-5, atol=1e-6)
    assert metric_rows(parts) == metric_rows(whole)


def final_weights(run_dir) -> dict[str, torch.Tensor]:
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    return ckpt["state_dict"]


def metric_rows(run_dir) -> list[dict[str, str]]:
    """metrics.csv rows with values rounded to 4 digits (float noise of the last bits aside)."""
    with (run_dir / "metrics.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    return [{k: v if not v else f"{float(v):.4g}" for k, v in row.items()} for row in rows]


def test_resuming_with_fewer_epochs_than_done_is_one_line(tmp_path):
    ckpt = {"epoch": 44}  # saved in the 45th epoch
    with pytest.raises(ConfigError, match="saved in epoch 45, past epochs=3; pass epochs >= 45"):
        check_epochs_left(tmp_path / "last.ckpt", ckpt, 3)
    check_epochs_left(tmp_path / "last.ckpt", ckpt, 45)  # finishes the epoch it was saved in
