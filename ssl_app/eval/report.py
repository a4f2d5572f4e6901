"""Result tables: rich on the terminal, Markdown in `report.md`.

Rows are named runs ("learned", "random init", "raw pixels"); columns are metrics whose
values in 0..1 are shown as percentages.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

LABELS = {
    "knn_top1": "kNN top-1 (%)",
    "knn_top5": "kNN top-5 (%)",
    "linear_top1": "linear top-1 (%)",
    "linear_top5": "linear top-5 (%)",
}

PROVENANCE = {"checkpoint", "step", "weights", "seed"}  # in eval.json, not in the tables


def column_label(key: str) -> str:
    """Header text of a metric key (e.g. knn_top1 -> 'kNN top-1 (%)')."""
    return LABELS.get(key, key.replace("_", " "))


def columns_of(rows: dict[str, dict[str, float]]) -> list[str]:
    """Metric keys in first-seen order over all rows (`<key>_std` shows inside `<key>`'s cell;
    provenance stays out)."""
    seen: dict[str, None] = {}
    for metrics in rows.values():
        seen.update(
            dict.fromkeys(k for k in metrics if not k.endswith("_std") and k not in PROVENANCE)
        )
    return list(seen)


def format_value(value: float | str | None, key: str = "") -> str:
    """Accuracy-like values as percentages with one decimal, other numbers as they are."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if key in LABELS or key.endswith(("top1", "top5", "acc", "auroc", "fpr95")):
        return f"{100 * value:.1f}"
    return f"{value:.4g}"


def cell(metrics: dict[str, float], key: str) -> str:
    """A formatted value, as 'mean ± std' when the row also has `<key>_std`."""
    text = format_value(metrics.get(key), key)
    std = metrics.get(f"{key}_std")
    return text if std is None else f"{text} ± {format_value(std, key)}"


def results_table(rows: dict[str, dict[str, float]], title: str = "Results") -> Table:
    """A rich Table: one row per entry of `rows`, one column per metric."""
    keys = columns_of(rows)
    table = Table(title=title)
    table.add_column("features", style="bold")
    for key in keys:
        table.add_column(column_label(key), justify="right")
    for name, metrics in rows.items():
        table.add_row(name, *(cell(metrics, key) for key in keys))
    return table


def print_results_table(
    rows: dict[str, dict[str, float]], title: str = "Results", console: Console | None = None
) -> None:
    """Print `rows` as a table on the terminal (kNN/linear accuracies in %)."""
    (console or Console()).print(results_table(rows, title))


def results_markdown(rows: dict[str, dict[str, float]]) -> str:
    """The same table as GitHub Markdown, for `report.md` and the README."""
    keys = columns_of(rows)
    lines = [
        "| features | " + " | ".join(column_label(k) for k in keys) + " |",
        "|---|" + "---:|" * len(keys),
    ]
    for name, metrics in rows.items():
        cells = " | ".join(cell(metrics, k) for k in keys)
        lines.append(f"| {name} | {cells} |")
    return "\n".join(lines) + "\n"


def write_report(
    run_dir: str | Path,
    rows: dict[str, dict[str, float]],
    figures: dict[str, str | Path],
    title: str = "Evaluation report",
    notes: str = "",
) -> Path:
    """`<run_dir>/report.md`: the result table, then each figure (paths made run-relative)."""
    run_dir = Path(run_dir)
    parts = [f"# {title}\n", notes, "## Results\n", results_markdown(rows)]
    for caption, path in figures.items():
        rel = Path(path).resolve().relative_to(run_dir.resolve())
        parts.append(f"## {caption}\n\n![{caption}]({rel.as_posix()})\n")
    out = run_dir / "report.md"
    out.write_text("\n".join(p for p in parts if p))
    return out
