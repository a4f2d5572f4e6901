"""`ssl-export run_dir=... out=...`: the trained backbone as `model.safetensors` + `config.json`.

The export loads with plain timm for stock architectures and with
`ssl_app.models.load_backbone` always (also with a patched small-image stem).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from ssl_app.errors import ConfigError, exit_on_user_error
from ssl_app.models.checkpoint import BackboneSpec, backbone_from_checkpoint, run_checkpoint
from ssl_app.models.exported import export_backbone

KEYS = ("run_dir", "checkpoint", "out")
USAGE = "usage: ssl-export run_dir=<run directory> | checkpoint=<.ckpt>  [out=<directory>]"
HELP = """Write the trained backbone of an ssl-pretrain run as model.safetensors + config.json
(default out: <run_dir>/export). Stock timm architectures load with plain timm; any export
loads with ssl_app.models.load_backbone(out).

  ssl-export run_dir=outputs/pretrain/2026-11-27_12-00-00
  ssl-export checkpoint=outputs/pretrain/.../checkpoints/best-knn.ckpt out=my_encoder"""


def parse_args(argv: list[str]) -> dict[str, str]:
    """`key=value` arguments restricted to KEYS (a typo is an error, not ignored)."""
    if {"-h", "--help"} & set(argv):
        print(f"{USAGE}\n\n{HELP}")
        raise SystemExit(0)
    args = {}
    for item in argv:
        key, sep, value = item.partition("=")
        if not sep or key not in KEYS:
            raise ConfigError(f"unknown argument '{item}'; {USAGE}")
        args[key] = value
    if ("run_dir" in args) == ("checkpoint" in args):
        raise ConfigError(f"give exactly one of run_dir=... or checkpoint=...; {USAGE}")
    return args


def config_hash(cfg: dict[str, Any]) -> str:
    """Short stable hash of a run config (sorted JSON), to tell exports of runs apart."""
    text = json.dumps(cfg, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def export_meta(cfg: dict[str, Any], checkpoint: Path) -> dict[str, Any]:
    """Normalisation, input size and provenance of the run, for the export's JSON."""
    from ssl_app.data import dataset_info

    data = cfg["data"]
    info = dataset_info(data["name"], data.get("root"), **(data.get("dataset_kwargs") or {}))
    size = int(data["image_size"])
    return {
        "mean": list(info.mean),
        "std": list(info.std),
        "input_size": [int(cfg["model"]["in_chans"]), size, size],
        "data": data["name"],
        "config_hash": config_hash(cfg),
        "source_checkpoint": str(checkpoint),
    }


def export_checkpoint(checkpoint: str | Path, out: str | Path) -> Path:
    """Export the backbone of an ssl-pretrain checkpoint to `out`; returns the weights path."""
    backbone, cfg, _ = backbone_from_checkpoint(checkpoint)
    meta = export_meta(cfg, Path(checkpoint))
    spec = BackboneSpec.from_run_config(cfg["model"])
    return export_backbone(backbone, out, spec.to_dict(), meta)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if "run_dir" in args:
        checkpoint, default_out = run_checkpoint(args["run_dir"]), Path(args["run_dir"]) / "export"
    else:
        checkpoint = Path(args["checkpoint"])
        default_out = checkpoint.parent / "export"
    out = Path(args.get("out") or default_out)
    weights = export_checkpoint(checkpoint, out)
    print(f"exported {checkpoint} -> {weights} (+ {weights.parent / 'config.json'})")


if __name__ == "__main__":
    main()
