"""`ssl-pretrain`'s final table: the learned backbone next to the same architecture at random
init and raw pixels on the test split, run by the protocol registry that `ssl-eval` uses."""

from __future__ import annotations

from dataclasses import replace

from ssl_app.eval.feature_set import FeatureSet
from ssl_app.eval.options import EvalConfig
from ssl_app.eval.protocols import Results, run_protocols
from ssl_app.models.checkpoint import BackboneSpec


def final_table(
    learned: FeatureSet, spec: BackboneSpec, eval_cfg: EvalConfig, seed: int
) -> Results:
    """kNN (and with `eval.linear` the linear probe) of `learned`, plus the random-init
    (`eval.baselines`, seeded by `seed` as `ssl-eval checkpoint=random`) and raw-pixel
    (`eval.raw_pixels`) rows on the same data module."""
    sets = [learned]
    if eval_cfg.baselines:
        provenance = {"checkpoint": "random", "seed": seed}
        sets.append(
            replace(learned, label="random init", backbone=spec.random(seed), provenance=provenance)
        )
    if eval_cfg.raw_pixels:
        sets.append(replace(learned, label="raw pixels", backbone=None, provenance={}))
    protocols = ["knn", "linear"] if eval_cfg.linear else ["knn"]
    return run_protocols(sets, protocols, eval_cfg.options(seed))


def top1_rows(rows: dict[str, dict]) -> dict[str, dict]:
    """The rows as the final table prints them: split and top-1 (the rest is in results.json)."""
    return {
        label: {k: v for k, v in row.items() if k == "split" or k.endswith("_top1")}
        for label, row in rows.items()
    }


def verdict(rows: dict[str, dict]) -> str | None:
    """One line when the learned features' top-1 loses to a baseline's, else None."""
    learned = rows.get("learned", {})
    behind = [
        f"{baseline} on {metric[: -len('_top1')]} ({100 * row[metric]:.1f} vs {100 * value:.1f} %)"
        for metric, value in learned.items()
        if metric.endswith("_top1")
        for baseline, row in rows.items()
        if baseline != "learned" and isinstance(row.get(metric), float) and row[metric] > value
    ]
    return f"note: the learned features do not beat {'; '.join(behind)}" if behind else None
