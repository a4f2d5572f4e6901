"""Hydra's own composition errors at the entry points: one line on stderr, exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("module", "override", "message"),
    [
        ("pretrain", "optim.batchsize=64", "Could not override 'optim.batchsize'"),
        ("pretrain", "optim.batch_size=abc", "'abc' of type 'str' could not be converted to Int"),
        ("pretrain", "loss=soft_target loss.alpha=x", "'x' of type 'str' could not be converted"),
        ("evaluate", "data=digits data.image_size=big", "'big' of type 'str' could not be"),
        ("pretrain", "data=digitz", "Could not find 'data/digitz' Available options in 'data':"),
        ("evaluate", "protocl=knn", "Could not override 'protocl'"),
        ("pretrain", "model=_base", "no value for model.backbone; set model.backbone=..."),
        ("evaluate", "seed=abc", "'abc' of type 'str' could not be converted to Int"),
        ("embed", "k=many", "'many' of type 'str' could not be converted to Int"),
        # values: the schemas' own checks, before any checkpoint or data is read
        ("evaluate", "checkpoint=raw device=tpu", "device must be auto, cpu, cuda or cuda:N"),
        ("evaluate", "checkpoint=raw lowshot.fractions=[2.0]", "lowshot.fractions must lie in"),
        ("evaluate", "checkpoint=raw tsne_max_points=-1", "tsne_max_points must be an integer"),
        ("evaluate", "checkpoint=raw num_workers=-1", "num_workers must be an integer >= 0"),
        ("embed", "checkpoint=x.ckpt k=0", "k must be > 0"),
        ("pretrain", "optim.base_lr=-1", "optim.base_lr must be > 0"),
        ("pretrain", "trainer.max_time=5min", "trainer.max_time='5min' is not a duration"),
        # data that is not there: said before the run starts
        ("pretrain", "data=fashion_mnist data.root=/nowhere", "fashion_mnist train-images-idx3"),
        ("pretrain", "data=cifar10 data.root=/nowhere", "cifar10 not found or corrupt in"),
    ],
)
def test_composition_errors_are_one_line_and_exit_2(tmp_path, module, override, message):
    cmd = [sys.executable, "-m", f"ssl_app.{module}", *override.split()]
    cmd.append(f"hydra.run.dir={tmp_path / 'run'}")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and message in lines[0]
    assert "run directory" not in done.stdout  # nothing announced that did not start
    assert not (tmp_path / "run" / ".hydra").exists()  # ... nor left behind


@pytest.mark.parametrize(
    ("module", "opening"),
    [("pretrain", "ssl-pretrain: contrastive (InfoNCE) pretraining"), ("evaluate", "ssl-eval: ")],
)
def test_help_describes_the_command_with_examples(module, opening):
    cmd = [sys.executable, "-m", f"ssl_app.{module}", "--help"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith(opening)
    assert done.stdout.count("  ssl-") >= 3  # three examples
    if module == "evaluate":
        assert "model: " not in done.stdout  # no groups that ssl-eval would refuse
