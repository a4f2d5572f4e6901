"""`trainer.max_time`: stop when the time is up, with the learning rate annealed by then.

Lightning's own `max_time` stops the run mid-schedule: a 150-s Fashion-MNIST run planned for
48 epochs stopped in its 40th epoch with the learning rate still at a twelfth of its peak (H200, the
README's time-to-accuracy run). Here the cosine ends with the time instead: as the run goes,
the steps that fit in the time left are counted at the run's own pace, and the schedule's end
moves there (or stays at the last epoch, whichever comes first). Under DDP rank 0's count and
stop hold for all ranks, agreed every `every_n_steps` steps (Lightning's timer broadcasts
every step: a host-device sync per step).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Timer
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from ssl_app.errors import ConfigError
from ssl_app.progress import say
from ssl_app.train.callbacks import READ_EVERY_N_STEPS, ranks_agree_now
from ssl_app.train.optim import WarmupCosineLR


def steps_that_fit(
    step: int, elapsed: float, since: tuple[int, float], duration: float
) -> int | None:
    """The step count at which `duration` seconds run out, at the pace since `since` (a step
    and its elapsed seconds; start-up and compilation come before it): None before a pace."""
    steps, seconds = step - since[0], elapsed - since[1]
    if steps <= 0 or seconds <= 0:
        return None
    return step + max(0, round((duration - elapsed) * steps / seconds))


class TimeBudget(Timer):
    """Lightning's `Timer` (its elapsed time travels in checkpoints, so a resumed run gets what
    is left) that also ends the `WarmupCosineLR` schedule when the time runs out."""

    def __init__(self, duration: str | dict | timedelta, every_n_steps: int = READ_EVERY_N_STEPS):
        try:
            super().__init__(duration, interval="step")
        except (MisconfigurationException, AttributeError, TypeError) as err:
            raise ConfigError(
                f"trainer.max_time={duration!r} is not a duration; write DD:HH:MM:SS, "
                "e.g. trainer.max_time=00:00:05:00 for five minutes"
            ) from err
        self.every_n_steps = every_n_steps
        self.since: tuple[int, float] | None = None  # where the pace is measured from

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self.since = None
        left = timedelta(seconds=round(self.time_remaining()))
        say(
            f"training for {left} (trainer.max_time), the lr annealed by then or at epoch "
            f"{trainer.max_epochs}, whichever comes first"
        )

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if not ranks_agree_now(trainer, self.every_n_steps):
            return
        stop, end_step = trainer.strategy.broadcast(self.plan(trainer.global_step), src=0)
        for config in trainer.lr_scheduler_configs:
            if isinstance(config.scheduler, WarmupCosineLR):
                config.scheduler.schedule.end_step = end_step
        trainer.should_stop = trainer.should_stop or stop

    def plan(self, step: int) -> tuple[bool, int | None]:
        """Whether the time is up, and the step it runs out at (None until a pace is known)."""
        elapsed = self.time_elapsed()
        if self.since is None:
            self.since = (step, elapsed)
        return elapsed >= self._duration, steps_that_fit(step, elapsed, self.since, self._duration)
