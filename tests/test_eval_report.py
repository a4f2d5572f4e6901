"""Result tables show accuracies as percentages, one row per feature source."""

from __future__ import annotations

import io

from rich.console import Console

from ssl_app.eval.report import print_results_table, results_markdown

ROWS = {
    "learned": {"knn_top1": 0.9512, "linear_top1": 0.97},
    "raw pixels": {"knn_top1": 0.5},
    "1% labels": {"knn_top1": 0.4, "knn_top1_std": 0.025},
}


def test_terminal_table_has_rows_columns_and_percentages():
    out = io.StringIO()
    print_results_table(ROWS, "digits", Console(file=out, width=120))
    text = out.getvalue()
    for cell in (
        "digits",
        "learned",
        "raw pixels",
        "kNN top-1 (%)",
        "linear top-1 (%)",
        "95.1",
        "97.0",
    ):
        assert cell in text
    assert "—" in text


def test_markdown_table():
    md = results_markdown(ROWS).splitlines()
    assert md[0] == "| features | kNN top-1 (%) | linear top-1 (%) |"
    assert md[2] == "| learned | 95.1 | 97.0 |"
    assert md[3] == "| raw pixels | 50.0 | — |"
    assert md[4] == "| 1% labels | 40.0 ± 2.5 | — |"
