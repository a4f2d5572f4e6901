"""Lightning's cross-rank SIGTERM check every N steps instead of every step.

Under DDP, Lightning (2.6) broadcasts a one-element "SIGTERM received?" tensor from rank 0 and
reads it back with `.item()` before every training step: the CPU waits for the GPU once a step,
which at small images costs as much as the model (Lightning-AI/pytorch-lightning#21487, PR
#21640 proposes the same interval). Checking every `every_n_steps` keeps the behaviour (all
ranks stop together and save) with a delay of at most that many steps.
"""

from __future__ import annotations

from collections.abc import Callable

import pytorch_lightning as pl


class SigtermCheckEveryNSteps(pl.Callback):
    """Wraps the epoch loop's SIGTERM broadcast so it runs on every `every_n_steps`-th step; a
    no-op on a Lightning without that method."""

    def __init__(self, every_n_steps: int = 20) -> None:
        self.every_n_steps = every_n_steps

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        loop = trainer.fit_loop.epoch_loop
        check = getattr(loop, "_broadcast_sigterm_tensor", None)
        if check is not None:
            loop._broadcast_sigterm_tensor = self.throttled(check, lambda: loop.total_batch_idx)

    def throttled(self, check: Callable[[], None], step: Callable[[], int]) -> Callable[[], None]:
        """`check`, called only when `step()` is a multiple of `every_n_steps`."""

        def every_n() -> None:
            if step() % self.every_n_steps == 0:
                check()

        return every_n
