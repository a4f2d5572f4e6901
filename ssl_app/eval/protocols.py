"""The evaluation protocols, one registry for `ssl-eval` and `ssl-pretrain`'s final table.

Every runner is `runner(features: FeatureSet, opts: EvalOptions) -> Results`: metric columns
for the set's row (or rows of its own, e.g. low-shot) and detail sections for the results file.
`protocol=all` expands from the registry; raw pixels are a FeatureSet without a backbone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from ssl_app.errors import ConfigError
from ssl_app.eval.feature_set import FeatureSet
from ssl_app.eval.knn import knn_predict, num_classes_of
from ssl_app.eval.linear import linear_probe
from ssl_app.eval.linear_sgd import augmented_train_loader, train_linear_head
from ssl_app.eval.lowshot import lowshot_eval
from ssl_app.eval.metrics import confusion_matrix, per_class_accuracy
from ssl_app.eval.ood import ood_report
from ssl_app.eval.options import EvalOptions
from ssl_app.eval.sweep import knn_sweep
from ssl_app.progress import phase, say


@dataclass
class Results:
    """Table rows (metric name → value in 0..1) and detail sections of the results file."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    confusion: torch.Tensor | None = None  # of the first row that has one, for the plot

    @classmethod
    def row(cls, label: str, **metrics: Any) -> Results:
        return cls(rows={label: metrics})

    def merge(self, other: Results) -> Results:
        """Add `other`'s rows (metrics of a known row join it) and detail sections."""
        for label, metrics in other.rows.items():
            self.rows.setdefault(label, {}).update(metrics)
        for key, value in other.details.items():
            self.details.setdefault(key, {}).update(value)
        if self.confusion is None:
            self.confusion = other.confusion
        return self


def run_knn(fs: FeatureSet, opts: EvalOptions) -> Results:
    """Weighted kNN top-1/top-5 at (k, τ), per-class accuracy, confusion, the k/τ sweep."""
    train, test = fs.train, fs.test
    hits = knn_predict(*train, *test, opts.knn_k, opts.knn_temperature)
    num_classes = num_classes_of(train[1], test[1])
    out = Results.row(
        fs.label,
        knn_top1=hits["top1"].float().mean().item(),
        knn_top5=hits["top5"].float().mean().item(),
    )
    out.confusion = confusion_matrix(hits["pred"], test[1], num_classes)
    per_class = per_class_accuracy(hits["pred"], test[1], num_classes)
    out.details["knn_per_class_top1"] = {fs.label: per_class}
    if opts.sweep_k and opts.sweep_temperature:
        sweep = knn_sweep(*train, *test, opts.sweep_k, opts.sweep_temperature)
        out.details["knn_sweep"] = {fs.label: sweep}
    return out


def fits_lbfgs(fs: FeatureSet, images: int, opts: EvalOptions, what: str) -> bool:
    """Whether `images` training features are few enough for L-BFGS; if not, one line says so."""
    if images <= opts.max_lbfgs_samples:
        return True
    instead = "skipped" if fs.backbone is None else "the SGD linear head (linear_sgd) instead"
    say(
        f"{fs.label}: {what} has {images:,} training images > max_lbfgs_samples="
        f"{opts.max_lbfgs_samples:,} (L-BFGS on the CPU): {instead}"
    )
    return False


def run_linear(fs: FeatureSet, opts: EvalOptions) -> Results:
    """Logistic-regression probe (L-BFGS): top-1/top-5 and the chosen C; above
    `max_lbfgs_samples` the SGD linear head, or nothing for raw pixels."""
    if not fits_lbfgs(fs, fs.num_images("train"), opts, "the linear probe"):
        return Results() if fs.backbone is None else run_linear_sgd(fs, opts)
    res = linear_probe(*fs.train, *fs.test, seed=opts.seed, c_grid=opts.c_grid)
    return Results.row(
        fs.label, linear_top1=res["top1"], linear_top5=res["top5"], linear_C=res["C"]
    )


def run_lowshot(fs: FeatureSet, opts: EvalOptions) -> Results:
    """kNN and linear with 1 % / 10 % of the labels: rows '<label>, <p>% labels'."""
    out, train_images = Results(), fs.num_images("train")
    for fraction in opts.lowshot_fractions:
        linear = fits_lbfgs(fs, round(fraction * train_images), opts, f"{fraction:.0%} low-shot")
        rows = lowshot_eval(
            fs.train,
            fs.test,
            (fraction,),
            opts.lowshot_seeds,
            opts.knn_k,
            opts.knn_temperature,
            linear,
        )
        out.rows.update({f"{fs.label}, {name}": row for name, row in rows.items()})
    return out


def run_ood(fs: FeatureSet, opts: EvalOptions) -> Results:
    """Out-of-distribution detection (AUROC per score; FPR@95 in the details), bank = train."""
    if fs.ood is None:
        raise ConfigError(
            "protocol=ood needs ood_data=<data set name>, e.g. ood_data=fashion_mnist"
        )
    ood = fs.ood()
    report = ood_report(fs.train[0], fs.test[0], ood.test[0], temperature=opts.knn_temperature)
    out = Results.row(fs.label, **{f"ood_{s}_auroc": v["auroc"] for s, v in report.items()})
    out.details["ood"] = {fs.label: {"ood_data": ood.datamodule.name, **report}}
    return out


def run_linear_sgd(fs: FeatureSet, opts: EvalOptions) -> Results:
    """SGD linear head on the frozen backbone with crop + flip augmentation (for GPU runs)."""
    if fs.backbone is None:
        raise ConfigError(
            "protocol=linear_sgd trains on a backbone's features; raw pixels have none"
        )
    sgd, datamodule = opts.linear_sgd, fs.datamodule
    res = train_linear_head(
        fs.backbone,
        augmented_train_loader(datamodule, sgd.batch_size),
        fs.loader("test"),
        datamodule.info.num_classes,
        sgd.epochs,
        sgd.lr,
        fs.device,
        progress=fs.progress,
    )
    out = Results.row(fs.label, linear_sgd_top1=res["top1"], linear_sgd_top5=res["top5"])
    out.details["linear_sgd"] = {fs.label: {**asdict(sgd), "train_loss": res["train_loss"]}}
    return out


@dataclass(frozen=True)
class Protocol:
    """A runner and whether `protocol=all` includes it (`needs_ood`: only with ood_data)."""

    run: Callable[[FeatureSet, EvalOptions], Results]
    in_all: bool = True
    needs_ood: bool = False


PROTOCOLS = {
    "knn": Protocol(run_knn),
    "linear": Protocol(run_linear),
    "lowshot": Protocol(run_lowshot),
    "ood": Protocol(run_ood, needs_ood=True),
    "linear_sgd": Protocol(run_linear_sgd, in_all=False),  # backbone passes on images: GPU runs
}


MOVED = {"raw": "raw pixels are now checkpoint=raw"}  # former protocols: where they went


def expand(protocol: str, has_ood: bool) -> list[str]:
    """The protocol names `protocol` stands for (`all`: each registered one marked in_all)."""
    if protocol == "all":
        return [n for n, p in PROTOCOLS.items() if p.in_all and (has_ood or not p.needs_ood)]
    if protocol not in PROTOCOLS:
        known = ", ".join([*PROTOCOLS, "all"])
        moved = f"; {MOVED[protocol]}" if protocol in MOVED else ""
        raise ConfigError(f"unknown protocol '{protocol}'; choose one of: {known}{moved}")
    return [protocol]


def raw_pixels_too_large(fs: FeatureSet, opts: EvalOptions) -> str | None:
    """Why raw pixels of `fs` are skipped (more images than `max_raw_pixel_images`), or None."""
    images = fs.num_images("train") + fs.num_images("test")
    if fs.backbone is not None or images <= opts.max_raw_pixel_images:
        return None
    gigabytes = images * fs.datamodule.info.channels * fs.datamodule.image_size**2 * 4 / 1e9
    return (
        f"{fs.label}: skipped, {images:,} images > max_raw_pixel_images="
        f"{opts.max_raw_pixel_images:,} (their features would take {gigabytes:,.1f} GB)"
    )


def run_protocols(sets: Iterable[FeatureSet], names: Sequence[str], opts: EvalOptions) -> Results:
    """Every protocol of `names` on every set; each row names its split (test) and provenance."""
    out = Results()
    for fs in sets:
        if reason := raw_pixels_too_large(fs, opts):
            say(reason)
            continue
        part = Results(rows={fs.label: {}})
        for name in names:
            with phase(name, fs.label):
                part.merge(PROTOCOLS[name].run(fs, opts))
        part.rows = {k: {"split": "test", **row, **fs.provenance} for k, row in part.rows.items()}
        out.merge(part)
    return out
