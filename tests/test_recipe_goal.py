"""The digits recipe end to end, as `make run` runs it (slow: about 4 minutes on the 2-core
CPU): learned kNN on test at the issue's goal of 0.96 and above raw pixels. The goal is met by
few of the 360 test images (0.975 at this commit's random stream, 0.961 at the one before; a
seed moves it about a point), so another CPU's arithmetic could tip it."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_module

from ssl_app.pretrain import run_pretraining


@pytest.mark.slow
def test_default_digits_run_beats_raw_pixels_on_knn(tmp_path):
    with initialize_config_module("ssl_app.conf", version_base=None):
        cfg = compose(
            "pretrain", overrides=["trainer.enable_progress_bar=false", "eval.linear=false"]
        )
    rows = run_pretraining(cfg, tmp_path)["rows"]
    assert rows["learned"]["knn_top1"] >= 0.96
    assert rows["learned"]["knn_top1"] > rows["raw pixels"]["knn_top1"]
