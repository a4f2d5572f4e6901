"""`ssl-eval`: kNN, linear (L-BFGS or SGD head), low-shot and OOD evaluation of a backbone,
with a table, `eval.json` next to the checkpoint and (for runs) figures + `report.md`.

Rows accumulate in eval.json per data set, so evaluating the run, `checkpoint=random` and
`protocol=raw` in turn gives the full comparison table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from ssl_app.cli import hydra_entry
from ssl_app.errors import exit_on_user_error
from ssl_app.eval.cache import FeatureCache
from ssl_app.eval.protocols import (
    RUNNERS,
    Results,
    protocols_of,
    run_linear_sgd,
    run_ood,
    split_features,
)
from ssl_app.eval.report import print_results_table
from ssl_app.eval.sources import (
    Source,
    build_datamodule,
    compose_data,
    data_config,
    resolve_source,
    with_workers,
)


def features_of(source: Source, data_cfg: DictConfig, cfg: DictConfig, cache: FeatureCache):
    """(datamodule, train features, test features) of the source on `data_cfg`."""
    datamodule = build_datamodule(data_cfg, source.spec)
    loaders = datamodule.eval_dataloaders()
    data = OmegaConf.to_container(data_cfg, resolve=True)
    return datamodule, *(
        split_features(source.backbone, loader, split, data, cache, cfg)
        for split, loader in zip(("train", "test"), loaders, strict=True)
    )


def ood_features(source: Source, data_cfg: DictConfig, cfg: DictConfig, cache: FeatureCache):
    """Test features of `ood_data`, at the image size of the in-distribution data."""
    ood_cfg = with_workers(compose_data(cfg.ood_data, data_cfg.image_size), cfg.num_workers)
    datamodule = build_datamodule(ood_cfg, source.spec)
    data = OmegaConf.to_container(ood_cfg, resolve=True)
    loader = datamodule.eval_dataloaders()[1]
    return split_features(source.backbone, loader, "test", data, cache, cfg)


def merge_eval_json(
    path: Path, data_name: str, results: Results, provenance: dict[str, Any]
) -> dict[str, Any]:
    """Add this evaluation's rows (each naming its split and the checkpoint behind it) and
    details to eval.json (one section per data set)."""
    stored = json.loads(path.read_text()) if path.is_file() else {}
    section = stored.setdefault(data_name, {"rows": {}})
    for name, row in results.rows.items():
        section["rows"].setdefault(name, {}).update(row, split="test", **provenance)
    for key, value in results.details.items():
        section.setdefault(key, {}).update(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=2) + "\n")
    return section


def feature_protocols(source: Source, data_cfg: DictConfig, cfg: DictConfig, todo: list[str]):
    """Protocols on cached features: (datamodule, test features, results)."""
    cache = FeatureCache(cfg.cache_dir)
    datamodule, train, test = features_of(source, data_cfg, cfg, cache)
    results = Results(rows={source.label: {}})
    for protocol in todo:
        if protocol == "ood":
            ood = ood_features(source, data_cfg, cfg, cache)
            run_ood(source.label, train, test, ood, cfg, results)
        else:
            RUNNERS[protocol](source.label, train, test, cfg, results)
    return datamodule, test, results


def backbone_protocols(source: Source, data_cfg: DictConfig, cfg: DictConfig, todo: list[str]):
    """Protocols that run the backbone on images (linear_sgd): (datamodule, None, results)."""
    datamodule = build_datamodule(data_cfg, source.spec)
    results = Results(rows={source.label: {}})
    run_linear_sgd(source.label, source.backbone, datamodule, cfg, results)
    return datamodule, None, results


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Run the requested protocols; returns eval.json's section of this data set (+ its name)."""
    todo = protocols_of(cfg.protocol, cfg.ood_data is not None)
    torch.manual_seed(cfg.seed)
    resolve_device(cfg)
    source = resolve_source(cfg)
    data_cfg = with_workers(data_config(cfg, source), cfg.num_workers)
    run = backbone_protocols if cfg.protocol == "linear_sgd" else feature_protocols
    datamodule, test, results = run(source, data_cfg, cfg, todo)
    section = merge_eval_json(
        source.out_dir / "eval.json", datamodule.name, results, source.provenance
    )
    if cfg.plots and source.backbone is not None and cfg.protocol in ("knn", "all"):
        from ssl_app.eval.figures import write_figures

        write_figures(source, datamodule, test, results, section, cfg)
    return {"data": datamodule.name, "out_dir": source.out_dir, **section}


def resolve_device(cfg: DictConfig) -> None:
    """`device=auto` becomes cuda when available, else cpu."""
    if cfg.device == "auto":
        with open_dict(cfg):
            cfg.device = "cuda" if torch.cuda.is_available() else "cpu"


@hydra.main(config_path="conf", config_name="evaluate", version_base=None)
@exit_on_user_error
def hydra_main(cfg: DictConfig) -> None:
    section = evaluate(cfg)
    print_results_table(section["rows"], f"ssl-eval on {section['data']}")
    print(f"wrote {section['out_dir'] / 'eval.json'}")


main = hydra_entry("evaluate", hydra_main)

if __name__ == "__main__":
    main()
