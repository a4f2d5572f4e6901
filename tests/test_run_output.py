"""What a tiny `ssl-pretrain` and `ssl-eval` print and log: the run directory first, one line per
phase, none of the third-party noise, and the same lines (tables as text, no escape codes or
bar redraws) in `pretrain.log` / `evaluate.log`."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import QUICK_EVAL

TINY = ["model=tiny", "epochs=1", "optim.batch_size=64", "data.num_workers=0"]
NOISE = [
    "litlogger",  # Lightning's advert
    "LeafSpec",  # torch's deprecation of what Lightning's pytree helper uses
    "FLOPs",  # the model summary's column of zeros
    "Seed set to",
    "pin_memory",  # torch's warning when pinning without CUDA
    "lr: 0.000",  # the learning rate in fixed point
    "Epoch 0/0",  # Lightning's 0-based epochs
    "registry.py",  # a warning attributed to the registry instead of the data
    "Skipping setting a default `ModelSummary`",
]
ESCAPE = "\x1b["


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 1-epoch tiny run with the bar and the model summary on, pinning asked for, on CPU."""
    run_dir = tmp_path_factory.mktemp("run")
    cmd = [sys.executable, "-m", "ssl_app.pretrain", *TINY, *QUICK_EVAL, "data.pin_memory=true"]
    done = subprocess.run(
        [*cmd, "data.persistent_workers=false", f"hydra.run.dir={run_dir}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return run_dir, done


@pytest.mark.slow
def test_the_run_directory_comes_first(tiny_run):
    run_dir, done = tiny_run
    assert done.stdout.splitlines()[0] == f"run directory: {run_dir}"


@pytest.mark.slow
def test_no_third_party_noise_and_our_replacements(tiny_run):
    _, done = tiny_run
    for noise in NOISE:
        assert noise not in done.stdout + done.stderr, noise
    lines = done.stdout.splitlines()
    assert any(line.startswith("model: ") and "parameters" in line for line in lines)
    assert "epoch 1/1" in done.stdout and "lr: " in done.stdout  # the bar's final state
    assert any(line.startswith("✓ training: 1 epoch, 22 steps, ") for line in lines)


@pytest.mark.slow
def test_pretrain_log_holds_the_run_as_plain_text(tiny_run):
    run_dir, done = tiny_run
    log = (run_dir / "pretrain.log").read_text()
    assert f"run directory: {run_dir}" in log.splitlines()[0]
    assert "✓ features: learned / test, 360 images, " in log
    assert "GPU available" in log  # Lightning's info lines too
    assert "kNN top-1 (%)" in log and "│ learned" in log  # the final table, as text
    assert "trained 22 steps in" in log
    assert ESCAPE not in log and "epoch 1/1" not in log  # no colours, no bar


@pytest.mark.slow
def test_eval_says_where_it_writes_and_logs_there_with_progress_off(tiny_run):
    run_dir, _ = tiny_run
    cmd = [sys.executable, "-m", "ssl_app.evaluate", f"run_dir={run_dir}", "protocol=knn"]
    cmd += ["plots=false", "progress=false", "knn.sweep_k=[]", "num_workers=0"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0] == f"output directory: {run_dir} (eval.json, evaluate.log)"
    assert any(line.startswith("✓ knn: learned, ") for line in lines)
    log = (run_dir / "evaluate.log").read_text()
    assert "✓ features: learned / train, 1,437 images" in log and "ssl-eval on digits" in log
    assert ESCAPE not in log and done.stderr == ""
