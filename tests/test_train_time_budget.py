"""`trainer.max_time`: the run stops when the time is up, and the cosine ends there, at the
pace the run measured (not at the epochs it was planned for)."""

from __future__ import annotations

import csv
import math
from types import SimpleNamespace

import pytest
import pytorch_lightning as pl
import torch
from conftest import QUICK_EVAL, TinyRegression
from torch.utils.data import DataLoader, TensorDataset

from ssl_app.errors import ConfigError
from ssl_app.pretrain import run_pretraining
from ssl_app.train.optim import WarmupCosine, build_scheduler, warmup_cosine
from ssl_app.train.time_budget import TimeBudget, steps_that_fit

START_UP_S = 7.0  # the fake clock's seconds before the first step (data, compilation)


def test_steps_that_fit_hand_computed():
    # 20 steps in the 10 s since step 10: 2 steps/s; 47 s left at step 30 -> 94 more steps
    assert steps_that_fit(30, 13.0, (10, 3.0), 60.0) == 124
    assert steps_that_fit(30, 70.0, (10, 3.0), 60.0) == 30  # over time: ends here
    assert steps_that_fit(10, 3.0, (10, 3.0), 60.0) is None  # no pace yet


def test_warmup_cosine_ends_at_the_earlier_of_its_plan_and_end_step():
    schedule = WarmupCosine(warmup_steps=10, total_steps=1000)
    assert [schedule(s) for s in (0, 505)] == [warmup_cosine(0, 10, 1000), 0.5]
    schedule.end_step = 110
    assert schedule(5) == warmup_cosine(5, 10, 1000)  # warm-up unchanged
    assert schedule(60) == pytest.approx(0.5) and schedule(110) == pytest.approx(0.0, abs=1e-12)
    schedule.end_step = 5000  # past the plan: the plan holds
    assert schedule(505) == pytest.approx(0.5)
    schedule.end_step = 4  # shorter than the warm-up: half warm-up, half cosine, ends at 0
    assert [schedule(s) for s in range(5)] == pytest.approx([0.5, 1, 1, 0.5, 0], abs=1e-12)


def test_a_resumed_scheduler_keeps_the_step_and_plans_from_its_own_config(tmp_path):
    def scheduler(total_steps: int):
        params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
        groups = [{"params": [p]} for p in params]  # two groups, as with weight-decay filtering
        return build_scheduler(torch.optim.SGD(groups, lr=1.0), 0, total_steps)

    saved = scheduler(100)
    saved.schedule.end_step = 50
    for _ in range(25):
        saved.optimizer.step()
        saved.step()
    torch.save(saved.state_dict(), tmp_path / "s.pt")
    resumed = scheduler(200)  # e.g. resumed with more epochs
    resumed.load_state_dict(torch.load(tmp_path / "s.pt", weights_only=True))
    assert resumed.last_epoch == 25
    assert (resumed.schedule.total_steps, resumed.schedule.end_step) == (200, None)


class Scheduled(TinyRegression):
    """TinyRegression with the run's schedule: 1000 planned steps, no warm-up, peak lr 1."""

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=1.0)
        scheduler = build_scheduler(optimizer, 0, 1000)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


class StepClock(TimeBudget):
    """A clock on which every step takes one second, after `START_UP_S` of start-up."""

    def time_elapsed(self, stage: str = "train") -> float:
        return START_UP_S + self.trainer.global_step

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self.trainer = trainer


class RecordLr(pl.Callback):
    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer: pl.Trainer, *args) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_a_run_stops_at_the_time_with_the_cosine_ended_there():
    budget, record = StepClock({"seconds": 50}), RecordLr()
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=100,
        callbacks=[budget, record],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    data = DataLoader(TensorDataset(torch.randn(10, 4)), batch_size=1)  # 1000 planned steps
    trainer.fit(Scheduled(), data)
    end = int(50 - START_UP_S)  # 1 step/s from the first step on: the time is up at step 43
    assert trainer.global_step == end
    # From the first paced step on, the lr follows a cosine over 43 steps, not over 1000.
    cosine = [0.5 * (1 + math.cos(math.pi * s / end)) for s in range(3, end)]
    assert record.lrs[3:end] == pytest.approx(cosine, abs=1e-9)
    assert record.lrs[-1] < 0.01


def test_under_ddp_the_ranks_agree_every_n_steps_only():
    broadcasts = []
    strategy = SimpleNamespace(broadcast=lambda obj, src: broadcasts.append(obj) or obj)
    trainer = SimpleNamespace(world_size=2, strategy=strategy, lr_scheduler_configs=[])
    trainer.should_stop = False
    budget = TimeBudget("00:01:00:00", every_n_steps=20)
    for step in range(1, 41):
        trainer.global_step = step
        budget.on_train_batch_end(trainer)
    assert len(broadcasts) == 2 and not trainer.should_stop


@pytest.mark.parametrize("duration", ["5min", "00:05:00", 300])
def test_a_bad_duration_is_a_config_error(duration):
    with pytest.raises(ConfigError, match="is not a duration; write DD:HH:MM:SS"):
        TimeBudget(duration)


def test_ssl_pretrain_with_max_time_stops_annealed_and_scores_the_last_epoch(
    pretrain_config, tmp_path
):
    cfg = pretrain_config("epochs=1000", "trainer.max_time=00:00:00:03", *QUICK_EVAL)
    run_pretraining(cfg, tmp_path)
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    lrs = [float(r["lr"]) for r in rows if r["lr"]]
    epochs = int(rows[-1]["epoch"]) + 1
    assert epochs < 1000 and lrs[-1] < 0.05 * max(lrs)  # stopped by time, the cosine ended
    scored = [int(r["epoch"]) + 1 for r in rows if r.get("val/knn_top1")]
    assert scored[-1] == epochs  # the stopped epoch was scored on validation


def test_a_resumed_run_gets_the_time_that_is_left(tmp_path):
    """The elapsed training time travels in the checkpoint (Lightning's Timer state)."""
    data = DataLoader(TensorDataset(torch.randn(4, 4)), batch_size=1)

    def fit(budget: TimeBudget, epochs: int, ckpt_path=None) -> pl.Trainer:
        trainer = pl.Trainer(
            accelerator="cpu",
            max_epochs=epochs,
            callbacks=[budget],
            logger=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            enable_checkpointing=False,
        )
        trainer.fit(Scheduled(), data, ckpt_path=ckpt_path)
        return trainer

    first = StepClock({"seconds": 100})
    fit(first, 2).save_checkpoint(tmp_path / "last.ckpt")  # 8 steps: 15 s of the clock used
    resumed = StepClock({"seconds": 100})
    fit(resumed, 3, ckpt_path=tmp_path / "last.ckpt")
    assert resumed._offset == pytest.approx(START_UP_S + 8)  # Timer adds it to its clock
