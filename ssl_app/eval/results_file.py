"""The results file of both commands (`eval.json` of `ssl-eval`, `results.json` of a run):
one section per data set, `{"rows": {label: {split, metrics..., checkpoint, step}}, details...}`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ssl_app.eval.protocols import Results


def write_results(
    path: Path, data_name: str, results: Results, fresh: bool = False
) -> dict[str, Any]:
    """Merge `results` into the section of `data_name` in `path` (rows of the same label are
    updated, others kept), or start the file anew with `fresh`; returns the section."""
    stored = json.loads(path.read_text()) if path.is_file() and not fresh else {}
    section = stored.setdefault(data_name, {"rows": {}})
    for label, row in results.rows.items():
        section["rows"].setdefault(label, {}).update(row)
    for key, value in results.details.items():
        section.setdefault(key, {}).update(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=2) + "\n")
    return section
