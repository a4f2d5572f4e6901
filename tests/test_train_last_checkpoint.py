"""`last.ckpt` by time: after the first epoch, then `every_s` apart, and after the last epoch
(also when max_steps or a stop ends training mid-epoch), so the final weights are on disk."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
import torch
from conftest import TinyRegression
from torch.utils.data import DataLoader, TensorDataset

from ssl_app.train.last_checkpoint import SaveLast

STEPS_PER_EPOCH = 4


class StopAfterStep(pl.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            trainer.should_stop = True


def checkpointing_trainer(**kwargs) -> pl.Trainer:
    """A quiet CPU Trainer with checkpointing on (the run's own)."""
    quiet = dict(logger=False, enable_progress_bar=False, enable_model_summary=False)
    return pl.Trainer(accelerator="cpu", **quiet, **kwargs)


def saved_steps(tmp_path, every_s: float, monkeypatch, **trainer_kwargs) -> list[int]:
    """The global steps at which `last.ckpt` was written in a 5-epoch run."""
    steps = []
    original = pl.Trainer.save_checkpoint

    def spy(trainer, path, *args, **kwargs):
        steps.append(trainer.global_step)
        return original(trainer, path, *args, **kwargs)

    monkeypatch.setattr(pl.Trainer, "save_checkpoint", spy)
    save = SaveLast(tmp_path / "last.ckpt", every_s)
    callbacks = [save, *trainer_kwargs.pop("callbacks", [])]
    trainer = checkpointing_trainer(max_epochs=5, callbacks=callbacks, **trainer_kwargs)
    data = DataLoader(TensorDataset(torch.randn(STEPS_PER_EPOCH, 4)), batch_size=1)
    trainer.fit(TinyRegression(), data)
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["global_step"] == steps[-1]
    return steps


@pytest.mark.parametrize(
    ("every_s", "expected"),
    [(0, [4, 8, 12, 16, 20]), (1e9, [4, 20])],  # every epoch; the first and the last only
)
def test_saves_the_first_epoch_then_by_time_and_the_last(tmp_path, monkeypatch, every_s, expected):
    assert saved_steps(tmp_path, every_s, monkeypatch) == expected


def test_a_run_ended_mid_epoch_saves_where_it_ended(tmp_path, monkeypatch):
    assert saved_steps(tmp_path, 1e9, monkeypatch, max_steps=10) == [4, 10]
    stopped = saved_steps(tmp_path, 1e9, monkeypatch, callbacks=[StopAfterStep(6)])
    assert stopped == [4, 6]


def test_lightning_adds_no_checkpoint_of_its_own(tmp_path):
    trainer = checkpointing_trainer(callbacks=[SaveLast(tmp_path / "last.ckpt", 60)])
    assert [type(c) for c in trainer.checkpoint_callbacks] == [SaveLast]
