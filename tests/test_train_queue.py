"""The negative queue in training: filled by training steps only (not by measurements),
counted in the stats, saved in and restored from a Lightning checkpoint, from the EMA key
encoder when `model.ema` is on; `loss=clip loss.queue_size=8` is one line, exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest
import pytorch_lightning as pl
import torch
from conftest import quiet_trainer
from hydra.errors import ConfigCompositionException

from ssl_app.errors import ConfigError
from ssl_app.pretrain import build_components
from ssl_app.train.grad_variance import gradient_noise

K, BATCH, STEPS = 200, 64, 2  # TINY_RUN's batch: 2 steps push 2·2·64 = 256 > K keys


def _fit(module, datamodule, ckpt_path=None) -> pl.Trainer:
    trainer = quiet_trainer(max_steps=STEPS)
    trainer.fit(module, datamodule, ckpt_path=ckpt_path)
    return trainer


def _queue_state(module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.queue.state_dict().items()}


def test_queue_round_trips_through_a_lightning_checkpoint(pretrain_config, tmp_path):
    cfg = pretrain_config(f"loss.queue_size={K}", "model.ema.enabled=true")
    module, datamodule, _ = build_components(cfg)
    trainer = _fit(module, datamodule)
    saved = _queue_state(module)
    assert int(saved["count"]) == K and int(saved["ptr"]) == STEPS * 2 * BATCH % K
    assert saved["bank"].norm(dim=1).allclose(torch.ones(K))
    trainer.save_checkpoint(tmp_path / "queue.ckpt")

    restored, datamodule, _ = build_components(cfg)
    assert int(restored.queue.count) == 0
    _fit(restored, datamodule, ckpt_path=tmp_path / "queue.ckpt")  # restores, no new step
    for key, value in _queue_state(restored).items():
        torch.testing.assert_close(value, saved[key])
    torch.testing.assert_close(restored.queue.keys(), module.queue.keys())  # oldest first


def test_measurements_read_the_queue_without_pushing(pretrain_config):
    module, datamodule, _ = build_components(pretrain_config(f"loss.queue_size={K}"))
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    (x1, x2), _ = datamodule.on_after_batch_transfer(batch, 0)
    module.queue.push(*module.contrastive_step(x1, x2).keys)
    before = _queue_state(module)
    step = module.contrastive_step(x1, x2)
    assert step.stats["num_negatives"].item() == 2 * len(x1) - 2 + 2 * len(x1)
    gradient_noise(module, lambda pair: module.contrastive_step(*pair).loss, [(x1, x2)] * 2)
    for key, value in _queue_state(module).items():
        torch.testing.assert_close(value, before[key])


def test_queue_for_a_loss_without_negatives_is_one_line_exit_2(tmp_path):
    cmd = [sys.executable, "-m", "ssl_app.pretrain", "loss=clip", "loss.queue_size=8"]
    proc = subprocess.run([*cmd, f"hydra.run.dir={tmp_path}"], capture_output=True, text=True)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: loss.queue_size=8 makes no sense for loss=clip")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("momentum", [-0.1, 1.5])
def test_ema_momentum_out_of_range_is_one_line(pretrain_config, momentum):
    with pytest.raises(ConfigError, match="model.ema.momentum must be a number in \\[0, 1\\]"):
        build_components(pretrain_config(f"model.ema.momentum={momentum}"))


@pytest.mark.parametrize("momentum", ["high", True])
def test_ema_momentum_of_another_type_fails_at_composition(pretrain_config, momentum):
    with pytest.raises(ConfigCompositionException, match="model.ema.momentum"):
        pretrain_config(f"model.ema.momentum={momentum}")
