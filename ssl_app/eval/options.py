"""Typed settings of the evaluation protocols, read from `ssl-eval`'s config or from the
`eval:` block of `ssl-pretrain`'s (`EvalConfig`, its schema), so both commands run the protocols
with the same arguments.

The size limits keep the end-of-run defaults finishing at ImageNet scale: above them raw
pixels are skipped and the L-BFGS probe gives way to the SGD linear head (`linear_sgd`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from ssl_app.errors import ConfigError, require_positive
from ssl_app.eval.linear import C_GRID
from ssl_app.eval.lowshot import FRACTIONS, SEEDS

MAX_RAW_PIXEL_IMAGES = 100_000  # train + test; CIFAR (60,000) and Fashion-MNIST (70,000) fit
MAX_LBFGS_SAMPLES = 100_000  # training features of the L-BFGS probe (scikit-learn, CPU)


@dataclass
class LinearSGDOptions:
    """The SGD linear head on the frozen backbone (crop + flip, cosine lr)."""

    epochs: int = 50
    lr: float = 0.1
    batch_size: int = 256


@dataclass
class KnnSettings:
    """`ssl-eval`'s `knn:` block: the protocol's k and τ, and the grid the sweep tries."""

    k: int = MISSING
    temperature: float = MISSING
    sweep_k: list[int] = MISSING
    sweep_temperature: list[float] = MISSING


@dataclass
class LinearSettings:
    """`ssl-eval`'s `linear:` block: the L-BFGS probe's inverse regularisation grid."""

    c_grid: list[float] = MISSING


@dataclass
class LowshotSettings:
    """`ssl-eval`'s `lowshot:` block: labelled fractions of the training split, and seeds."""

    fractions: list[float] = MISSING
    seeds: list[int] = MISSING

    def __post_init__(self) -> None:
        if not all(0 < fraction <= 1 for fraction in self.fractions):
            raise ConfigError(
                f"lowshot.fractions must lie in (0, 1], got {list(self.fractions)}; "
                "e.g. lowshot.fractions=[0.01,0.1]"
            )


@dataclass(frozen=True)
class EvalOptions:
    """What every protocol runner reads; the sweep is off when its lists are empty."""

    knn_k: int = 200
    knn_temperature: float = 0.1
    sweep_k: tuple[int, ...] = ()
    sweep_temperature: tuple[float, ...] = ()
    c_grid: tuple[float, ...] = C_GRID
    lowshot_fractions: tuple[float, ...] = FRACTIONS
    lowshot_seeds: tuple[int, ...] = SEEDS
    linear_sgd: LinearSGDOptions = field(default_factory=LinearSGDOptions)
    seed: int = 0
    max_raw_pixel_images: int = MAX_RAW_PIXEL_IMAGES
    max_lbfgs_samples: int = MAX_LBFGS_SAMPLES

    def __post_init__(self) -> None:
        require_positive("knn.k", self.knn_k)
        require_positive("knn.temperature", self.knn_temperature)
        require_count("max_raw_pixel_images", self.max_raw_pixel_images)
        require_count("max_lbfgs_samples", self.max_lbfgs_samples)


def require_count(name: str, value: Any) -> None:
    """Raise ConfigError unless `value` is an integer >= 0 (0: never)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{name} must be an integer >= 0, got {value!r}; set {name}=<count>")


def linear_sgd_options(settings: Mapping[str, Any]) -> LinearSGDOptions:
    """The `linear_sgd` block as typed options."""
    return LinearSGDOptions(
        epochs=settings["epochs"], lr=settings["lr"], batch_size=settings["batch_size"]
    )


def from_eval_config(cfg: Mapping[str, Any]) -> EvalOptions:
    """Options of an `ssl-eval` config (`conf/evaluate.yaml`)."""
    return EvalOptions(
        knn_k=cfg["knn"]["k"],
        knn_temperature=cfg["knn"]["temperature"],
        sweep_k=tuple(cfg["knn"]["sweep_k"]),
        sweep_temperature=tuple(cfg["knn"]["sweep_temperature"]),
        c_grid=tuple(cfg["linear"]["c_grid"]),
        lowshot_fractions=tuple(cfg["lowshot"]["fractions"]),
        lowshot_seeds=tuple(cfg["lowshot"]["seeds"]),
        linear_sgd=linear_sgd_options(cfg["linear_sgd"]),
        seed=cfg["seed"],
        max_raw_pixel_images=cfg["max_raw_pixel_images"],
        max_lbfgs_samples=cfg["max_lbfgs_samples"],
    )


@dataclass
class EvalConfig:
    """`ssl-pretrain`'s `eval:` block (values in `conf/pretrain.yaml`): the online monitor on the
    validation split while training, and the final table on test after it."""

    every_n_epochs: int = MISSING  # online kNN monitor and linear probe: every N epochs, last
    knn_k: int = MISSING
    knn_temperature: float = MISSING
    online_linear: bool = MISSING  # linear probe on the training step's detached features
    final_table: bool = MISSING  # learned vs baselines on the test split after training
    linear: bool = MISSING  # final linear probe on frozen features
    baselines: bool = MISSING  # also the same architecture at random init
    raw_pixels: bool = MISSING  # ... and raw pixels
    knn_bank_max: int = MISSING  # online kNN: training images in the bank (seeded subset)
    knn_query_max: int = MISSING  # ... and validation queries
    max_raw_pixel_images: int = MISSING  # final table: raw pixels of more images skipped
    max_lbfgs_samples: int = MISSING  # final table: more and the SGD head replaces L-BFGS
    linear_sgd: LinearSGDOptions = MISSING

    def __post_init__(self) -> None:
        require_positive("eval.every_n_epochs", self.every_n_epochs)

    def options(self, seed: int) -> EvalOptions:
        """Options of the final table (no sweep, no low-shot)."""
        return EvalOptions(
            knn_k=self.knn_k,
            knn_temperature=self.knn_temperature,
            linear_sgd=self.linear_sgd,
            seed=seed,
            max_raw_pixel_images=self.max_raw_pixel_images,
            max_lbfgs_samples=self.max_lbfgs_samples,
        )
