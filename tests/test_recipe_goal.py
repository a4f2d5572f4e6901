"""The digits recipe end to end, as `make run` runs it (slow: about 4 minutes on the 2-core
CPU): learned kNN on test above raw pixels. The issue's goal of 0.96 is met by one test image
(0.961, README); one image either way can come from another CPU's arithmetic, so the floor here
is 0.95."""

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
    assert rows["learned"]["knn_top1"] >= 0.95
    assert rows["learned"]["knn_top1"] > rows["raw pixels"]["knn_top1"]
