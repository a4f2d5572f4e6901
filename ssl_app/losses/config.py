"""The `loss` config group: the loss registered as `name`, its settings and the negative queue
(`conf/loss/<name>.yaml`).

`LossConfig` holds the keys every loss takes; a loss with more keys has its own subclass
(`LOSS_CONFIGS`). Each is registered in Hydra's ConfigStore as `loss/_base` or `loss/_<name>`,
the schema that the loss's YAML starts from; the YAML holds the values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from omegaconf import MISSING


@dataclass
class LossConfig:
    """What every loss of the family takes, and the queue that extends its negatives."""

    name: str = MISSING  # the loss registry's name (ssl_app.losses.LOSSES)
    temperature: float = MISSING
    learnable_temperature: bool = MISSING  # learn log(1/τ) from 1/temperature, capped at 100
    queue_size: int = 0  # K > 0: the last K keys (both views of past batches) as extra negatives

    def loss_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the loss's constructor (all but `name` and `queue_size`)."""
        kwargs = asdict(self)
        del kwargs["name"], kwargs["queue_size"]
        return kwargs


@dataclass
class DebiasedConfig(LossConfig):
    tau_plus: float = MISSING  # class prior of false negatives (Chuang et al. 2020); 0: InfoNCE


@dataclass
class HardNegativeConfig(LossConfig):
    beta: float = MISSING  # weight towards hard negatives (Robinson et al. 2021); 0: debiased
    tau_plus: float = MISSING  # as in the debiased loss


@dataclass
class DecoupledConfig(LossConfig):
    sigma: float | None = MISSING  # DCLW's von Mises-Fisher weight of the positive; null: DCL


@dataclass
class SoftTargetConfig(LossConfig):
    alpha: float = MISSING  # mass spread over the other candidates; 0: InfoNCE
    source: str = MISSING  # uniform | target (the EMA encoder's similarities, model.ema)
    target_temperature: float | None = MISSING  # null: the loss's temperature


LOSS_CONFIGS: dict[str, type[LossConfig]] = {
    "debiased": DebiasedConfig,
    "hard_negative": HardNegativeConfig,
    "decoupled": DecoupledConfig,
    "soft_target": SoftTargetConfig,
}  # the others (infonce, clip, nce) take the common keys only
