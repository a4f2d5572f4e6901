"""The `ssl-eval` protocols on cached features: kNN (+ sweep, per class), linear, low-shot, OOD;
and the SGD linear head on the frozen backbone (augmented images, no feature cache).

Each protocol adds metric columns to the row of the evaluated backbone (or rows of its
own) and detail sections (sweeps, per-class accuracy, OOD scores) for `eval.json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn
from omegaconf import DictConfig, OmegaConf

from ssl_app.errors import ConfigError
from ssl_app.eval.cache import FeatureCache, feature_key, weights_hash
from ssl_app.eval.features import extract_features, raw_pixel_features
from ssl_app.eval.knn import knn_predict, num_classes_of
from ssl_app.eval.linear import linear_probe
from ssl_app.eval.lowshot import lowshot_eval
from ssl_app.eval.metrics import confusion_matrix, per_class_accuracy
from ssl_app.eval.sweep import knn_sweep

Features = tuple[torch.Tensor, torch.Tensor]
PROTOCOLS = ("knn", "linear", "lowshot", "raw", "ood", "linear_sgd", "all")
LOADER_KEYS = {"batch_size", "eval_batch_size", "num_workers", "pin_memory", "persistent_workers"}


@dataclass
class Results:
    """Table rows (metric name → value in 0..1) and detail sections for eval.json."""

    rows: dict[str, dict[str, float]] = field(default_factory=dict)
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    confusion: torch.Tensor | None = None


def protocols_of(protocol: str, has_ood: bool) -> list[str]:
    """The protocols `protocol` stands for (`all`: knn, linear, lowshot, and ood if ood_data)."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol '{protocol}'; choose one of: {', '.join(PROTOCOLS)}")
    if protocol == "all":
        return ["knn", "linear", "lowshot"] + (["ood"] if has_ood else [])
    return ["knn", "linear"] if protocol == "raw" else [protocol]


def split_features(
    backbone: nn.Module | None,
    loader,
    split: str,
    data_cfg: dict[str, Any],
    cache: FeatureCache,
    opts: DictConfig,
) -> Features:
    """Features of one split, from the cache when the (weights, data, split, transform) match."""
    weights = weights_hash(backbone) if backbone is not None else "raw-pixels"
    data = {k: v for k, v in data_cfg.items() if k not in LOADER_KEYS}
    key = feature_key(weights, data, split, repr(getattr(loader.dataset, "transform", None)))
    if backbone is None:
        return cache.features(key, lambda: raw_pixel_features(loader, opts.progress))
    return cache.features(
        key, lambda: extract_features(backbone, loader, opts.device, opts.progress)
    )


def run_knn(label: str, train: Features, test: Features, opts: DictConfig, out: Results) -> None:
    """Weighted kNN top-1/top-5 at (k, τ), the k/τ sweep, per-class accuracy, confusion."""
    hits = knn_predict(*train, *test, opts.knn.k, opts.knn.temperature)
    out.rows[label].update(
        knn_top1=hits["top1"].float().mean().item(), knn_top5=hits["top5"].float().mean().item()
    )
    num_classes = num_classes_of(train[1], test[1])
    out.confusion = confusion_matrix(hits["pred"], test[1], num_classes)
    sweep = knn_sweep(*train, *test, tuple(opts.knn.sweep_k), tuple(opts.knn.sweep_temperature))
    out.details.setdefault("knn_sweep", {})[label] = sweep
    per_class = per_class_accuracy(hits["pred"], test[1], num_classes)
    out.details.setdefault("knn_per_class_top1", {})[label] = per_class


def run_linear(label: str, train: Features, test: Features, opts: DictConfig, out: Results) -> None:
    """Logistic-regression probe: top-1/top-5 and the chosen C."""
    res = linear_probe(*train, *test, seed=opts.seed, c_grid=tuple(opts.linear.c_grid))
    out.rows[label].update(linear_top1=res["top1"], linear_top5=res["top5"], linear_C=res["C"])


def run_lowshot(
    label: str, train: Features, test: Features, opts: DictConfig, out: Results
) -> None:
    """kNN and linear with 1 % / 10 % of the labels: rows '<label>, <p>% labels'."""
    rows = lowshot_eval(
        train,
        test,
        tuple(opts.lowshot.fractions),
        tuple(opts.lowshot.seeds),
        opts.knn.k,
        opts.knn.temperature,
    )
    out.rows.update({f"{label}, {name}": row for name, row in rows.items()})


def run_ood(label: str, bank: Features, in_test: Features, out_test: Features, opts, out) -> None:
    """Out-of-distribution detection scores (AUROC, FPR@95) from `ssl_app.eval.ood`."""
    from ssl_app.eval.ood import ood_report

    report = ood_report(bank[0], in_test[0], out_test[0], temperature=opts.knn.temperature)
    out.details.setdefault("ood", {})[label] = {"ood_data": opts.ood_data, **report}
    for score, values in report.items():
        out.rows[label][f"ood_{score}_auroc"] = values["auroc"]


def run_linear_sgd(
    label: str, backbone: nn.Module, datamodule, opts: DictConfig, out: Results
) -> None:
    """SGD linear head on the frozen backbone with crop + flip augmentation (for GPU runs)."""
    from ssl_app.eval.linear_sgd import augmented_train_loader, train_linear_head

    sgd = opts.linear_sgd
    res = train_linear_head(
        backbone,
        augmented_train_loader(datamodule, sgd.batch_size),
        datamodule.eval_dataloaders()[1],
        datamodule.info.num_classes,
        sgd.epochs,
        sgd.lr,
        opts.device,
        progress=opts.progress,
    )
    out.rows[label].update(linear_sgd_top1=res["top1"], linear_sgd_top5=res["top5"])
    settings = OmegaConf.to_container(sgd, resolve=True)
    out.details.setdefault("linear_sgd", {})[label] = {**settings, "train_loss": res["train_loss"]}


RUNNERS = {"knn": run_knn, "linear": run_linear, "lowshot": run_lowshot}
