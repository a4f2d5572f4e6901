"""Recipe sweep scored on the validation split only: one short pretraining per candidate, then a
table of validation kNN top-1, wall time and images/s (and `--json` for benchmarks/results/).

The test split is never read: the final table is switched off (`eval.final_table=false`), and
the score is the online monitor's last `val/knn_top1` (bank: train minus validation).

    python scripts/sweep_val.py --json benchmarks/results/cpu_digits_sweep.jsonl \\
        "optim=adamw" "optim=sgd optim.base_lr=0.3 loss.temperature=0.2"
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_module
from rich.console import Console
from rich.table import Table

from ssl_app.pretrain import run_pretraining

NO_TEST = ["eval.final_table=false"]


def last_val_knn(run_dir: Path) -> float:
    """The last `val/knn_top1` that the online monitor wrote to metrics.csv."""
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    return float([r["val/knn_top1"] for r in rows if r.get("val/knn_top1")][-1])


def run_candidate(overrides: list[str], base: list[str]) -> dict:
    """Train one candidate; its validation kNN, seconds and the overrides that made it."""
    with initialize_config_module("ssl_app.conf", version_base=None):
        cfg = compose("pretrain", overrides=[*base, *overrides, *NO_TEST])
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run_pretraining(cfg, Path(tmp))
        seconds = time.perf_counter() - start
        return {
            "overrides": " ".join(overrides),
            "val_knn_top1": round(last_val_knn(Path(tmp)), 4),
            "seconds": round(seconds, 1),
            "epochs": cfg.epochs,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", nargs="+", help="one quoted string of overrides each")
    parser.add_argument("--base", default="trainer.enable_progress_bar=false", help="for all")
    parser.add_argument("--json", type=Path, help="append one JSON line per candidate here")
    args = parser.parse_args()
    table = Table(title="validation kNN top-1 (never test)")
    for column in ("overrides", "val kNN (%)", "seconds"):
        table.add_column(column)
    for candidate in args.candidates:
        row = run_candidate(shlex.split(candidate), shlex.split(args.base))
        table.add_row(row["overrides"], f"{100 * row['val_knn_top1']:.1f}", str(row["seconds"]))
        if args.json:
            with args.json.open("a") as out:
                out.write(json.dumps(row) + "\n")
    Console().print(table)


if __name__ == "__main__":
    main()
