"""`ssl-export run_dir=... out=...`: the trained backbone in timm's own format (`model.safetensors`
+ `config.json` with the eval preprocessing), optionally published to the Hugging Face Hub.

Stock architectures load with `timm.create_model("local-dir:DIR", pretrained=True)` (or
`hf-hub:user/name`); `ssl_app.models.load_backbone` loads any export, a patched small-image
stem included.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from ssl_app.errors import ConfigError, exit_on_user_error
from ssl_app.models.checkpoint import BackboneSpec, backbone_from_checkpoint, run_checkpoint
from ssl_app.models.exported import export_backbone, publish_export
from ssl_app.progress import phase
from ssl_app.run_log import start as start_run_log

KEYS = ("run_dir", "checkpoint", "out", "push_to_hub")
USAGE = (
    "usage: ssl-export run_dir=<run directory> | checkpoint=<.ckpt>  [out=<directory>] "
    "[push_to_hub=<user/name>]"
)
HELP = """Write the trained backbone of an ssl-pretrain run in timm's format: model.safetensors +
config.json with the data set's input size, mean/std, interpolation and crop_pct (default out:
<run_dir>/export). Stock timm architectures load with timm.create_model("local-dir:OUT",
pretrained=True); any export loads with ssl_app.models.load_backbone(OUT). push_to_hub=user/name
also publishes the folder to the Hugging Face Hub (log in first: hf auth login).

  ssl-export run_dir=outputs/pretrain/2026-11-27_12-00-00
  ssl-export checkpoint=outputs/pretrain/.../checkpoints/best-knn.ckpt out=my_encoder
  ssl-export run_dir=outputs/pretrain/2026-11-27_12-00-00 push_to_hub=me/simclr-digits"""


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


def export_preprocessing(cfg: dict[str, Any]) -> dict[str, Any]:
    """The run's eval transform (input size, interpolation, crop_pct, mean, std) in timm's terms."""
    from ssl_app.data import dataset_info
    from ssl_app.data.config import DataConfig
    from ssl_app.data.views import eval_preprocessing

    data = DataConfig.from_dict(cfg["data"])
    info = dataset_info(data.name, data.root, **data.dataset_kwargs)
    return eval_preprocessing(data.image_size, info)


def export_meta(cfg: dict[str, Any], checkpoint: Path) -> dict[str, Any]:
    """Provenance of the run, for the export's JSON."""
    return {
        "data": cfg["data"]["name"],
        "config_hash": config_hash(cfg),
        "source_checkpoint": str(checkpoint),
    }


def export_checkpoint(checkpoint: str | Path, out: str | Path) -> Path:
    """Export the backbone of an ssl-pretrain checkpoint to `out`; returns the weights path."""
    backbone, cfg, _ = backbone_from_checkpoint(checkpoint)
    spec = BackboneSpec.from_run_config(cfg["model"])
    meta = export_meta(cfg, Path(checkpoint))
    return export_backbone(backbone, out, spec, export_preprocessing(cfg), meta)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    start_run_log()
    if "run_dir" in args:
        checkpoint, default_out = run_checkpoint(args["run_dir"]), Path(args["run_dir"]) / "export"
    else:
        checkpoint = Path(args["checkpoint"])
        default_out = checkpoint.parent / "export"
    out = Path(args.get("out") or default_out)
    with phase("exported") as details:
        weights = export_checkpoint(checkpoint, out)
        details.append(f"{checkpoint} -> {weights} (+ {weights.parent / 'config.json'})")
    if args.get("push_to_hub"):
        repo = args["push_to_hub"]
        with phase("published") as details:
            details.append(f"{out} -> {publish_export(out, repo)} (timm name: hf-hub:{repo})")


if __name__ == "__main__":
    main()
