"""`ssl-eval`: kNN, linear (L-BFGS or SGD head), low-shot and OOD evaluation of a backbone,
with a table, `eval.json` next to the checkpoint and (for runs) figures + `report.md`.

Rows accumulate in eval.json per data set, so evaluating the run, `checkpoint=random` and
`checkpoint=raw` in turn gives the full comparison table.
"""

from __future__ import annotations

from typing import Any

import hydra
import torch
from omegaconf import DictConfig, open_dict

from ssl_app.cli import hydra_entry
from ssl_app.config import check_values
from ssl_app.errors import exit_on_user_error
from ssl_app.eval.figures import write_figures
from ssl_app.eval.options import from_eval_config, require_count
from ssl_app.eval.protocols import Results, expand, run_protocols
from ssl_app.eval.report import results_table
from ssl_app.eval.results_file import write_results
from ssl_app.eval.sources import (
    data_config,
    feature_set,
    pair_batch_size,
    resolve_source,
    with_workers,
)
from ssl_app.progress import say, show, show_bars
from ssl_app.run_log import start as start_run_log


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Run the requested protocols; returns eval.json's section of this data set (+ its name).
    The output directory is said first and the lines also go to `evaluate.log` there."""
    check_values(cfg)
    todo = expand(cfg.protocol, cfg.ood_data is not None)
    opts = from_eval_config(cfg)
    require_count("max_plot_classes", cfg.max_plot_classes)
    torch.manual_seed(cfg.seed)
    resolve_device(cfg)
    show_bars(cfg.progress)
    source = resolve_source(cfg)
    start_run_log(source.out_dir / "evaluate.log")
    say(f"output directory: {source.out_dir} (eval.json, evaluate.log)")
    data = with_workers(data_config(cfg, source), cfg.num_workers)
    features = feature_set(source, data, cfg, pair_batch_size(cfg, source))
    results = run_protocols([features], todo, opts)
    name = features.datamodule.name
    section = write_results(source.out_dir / "eval.json", name, results)
    if cfg.plots and source.backbone is not None and results.confusion is not None:
        skip_large_confusion(results, cfg.max_plot_classes)
        write_figures(source, features.datamodule, features.test, results, section, cfg)
    return {"data": name, "out_dir": source.out_dir, **section}


def skip_large_confusion(results: Results, max_classes: int) -> None:
    """No confusion-matrix plot above `max_classes` classes (one line says so)."""
    classes = len(results.confusion)
    if classes > max_classes:
        say(
            f"confusion plot skipped: {classes:,} classes > max_plot_classes={max_classes:,} "
            f"(a {classes}×{classes} image); per-class accuracy is in eval.json"
        )
        results.confusion = None


def resolve_device(cfg: DictConfig) -> None:
    """`device=auto` becomes cuda when available, else cpu."""
    if cfg.device == "auto":
        with open_dict(cfg):
            cfg.device = "cuda" if torch.cuda.is_available() else "cpu"


@hydra.main(config_path="pkg://ssl_app.conf", config_name="evaluate", version_base=None)
@exit_on_user_error
def hydra_main(cfg: DictConfig) -> None:
    section = evaluate(cfg)
    show(results_table(section["rows"], f"ssl-eval on {section['data']}"))
    say(f"wrote {section['out_dir'] / 'eval.json'}")


main = hydra_entry("evaluate", hydra_main)

if __name__ == "__main__":
    main()
