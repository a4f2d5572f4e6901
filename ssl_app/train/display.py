"""What training shows: Lightning's rich bar counting epochs from 1 with the learning rate in
scientific notation, and the model summary as one line of parameter counts."""

from __future__ import annotations

import math
import time
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelSummary, RichProgressBar
from pytorch_lightning.utilities.model_summary import get_human_readable_count

from ssl_app.progress import say


class EpochBar(RichProgressBar):
    """`epoch 1/3` for the first of three epochs (Lightning shows `Epoch 0/2`); `lr: 3.0e-03`.

    The shown metrics are read at most every `METRICS_EVERY_S`: reading them copies the logged
    tensors to the host, which on a GPU makes the CPU wait for every queued step."""

    METRICS_EVERY_S = 1.0

    def __init__(self) -> None:
        super().__init__()
        self._metrics: dict[str, Any] = {}
        self._metrics_read = -math.inf

    def _get_train_description(self, current_epoch: int) -> str:
        total = self.trainer.max_epochs
        return f"epoch {current_epoch + 1}" + (f"/{total}" if total and total > 0 else "")

    def get_metrics(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        if time.monotonic() - self._metrics_read < self.METRICS_EVERY_S:
            return self._metrics
        metrics = super().get_metrics(trainer, pl_module)
        if isinstance(metrics.get("lr"), float):
            metrics["lr"] = f"{metrics['lr']:.1e}"
        self._metrics, self._metrics_read = metrics, time.monotonic()
        return metrics

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._metrics_read = -math.inf  # each epoch ends with its own numbers
        super().on_train_epoch_end(trainer, pl_module)


class ParameterCount(ModelSummary):
    """Lightning's model summary as one line (its FLOPs column is all zeros without an
    `example_input_array`): `model: 380 K parameters (380 K trainable): backbone ResNet 372 K`."""

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        columns = dict(summary_data)
        parts = [
            f"{name} {kind} {params.strip()}"
            for name, kind, params in zip(
                columns["Name"], columns["Type"], columns["Params"], strict=True
            )
            if params.strip() != "0"
        ]
        total, trainable = map(get_human_readable_count, (total_parameters, trainable_parameters))
        say(f"model: {total} parameters ({trainable} trainable): {', '.join(parts)}")


def display_callbacks(trainer_cfg: dict[str, Any]) -> list[pl.Callback]:
    """The bar (with `trainer.enable_progress_bar`) and the one-line summary (unless
    `trainer.enable_model_summary=false`); the Trainer then gets `enable_model_summary=False`,
    so that Lightning adds no summary of its own (nor a line saying it did not)."""
    callbacks: list[pl.Callback] = []
    if trainer_cfg.get("enable_progress_bar", True):
        callbacks.append(EpochBar())
    if trainer_cfg.get("enable_model_summary", True):
        callbacks.append(ParameterCount())
    return callbacks
