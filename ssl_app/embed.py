"""`ssl-embed`: backbone features of every image of a data set or image folder (labelled or not),
written as `embeddings.npy` + `names.txt` (+ `index.faiss`); `query=IMG` prints its neighbours.

The loader, transform and feature extraction are the ones `ssl-eval` uses, so a row here is
the feature kNN evaluation sees for that image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
import numpy as np
import torch
from omegaconf import DictConfig
from rich.table import Table

from ssl_app.cli import hydra_entry
from ssl_app.config import check_values
from ssl_app.data.images import load_image
from ssl_app.data.views import build_eval_transform
from ssl_app.errors import ConfigError, DataError, exit_on_user_error
from ssl_app.eval.features import extract_features
from ssl_app.eval.knn import build_index, clamp_k, require_faiss
from ssl_app.eval.sources import (
    Subject,
    build_datamodule,
    data_config,
    learned_source,
    with_workers,
)
from ssl_app.evaluate import resolve_device
from ssl_app.progress import phase, say, show, show_bars
from ssl_app.run_log import start as start_run_log

if TYPE_CHECKING:
    import faiss

EMBEDDINGS, NAMES, INDEX = "embeddings.npy", "names.txt", "index.faiss"
NEEDS_SOURCE = "pass run_dir=<ssl-pretrain output>, checkpoint=<.ckpt> or weights=<export>"


@dataclass
class Embedded:
    """The embeddings of one split: unit rows in data-set order, a name per row, where written."""

    features: torch.Tensor
    names: list[str]
    out: Path
    index: faiss.Index


def item_names(dataset) -> list[str]:
    """One name per image: its file for image folders, else its index in the split."""
    files = getattr(dataset, "files", None)
    if files is None:
        return [str(i) for i in range(len(dataset))]
    return [str(path) for path, _ in files]


def out_dir(cfg: DictConfig, source: Subject, data_name: str) -> Path:
    """`out=`, else `<run>/embeddings/<data>_<split>` (exports: `outputs/embed/<data>_<split>`)."""
    if cfg.out:
        return Path(cfg.out)
    exported = "weights" in source.provenance
    base = Path("outputs/embed") if exported else source.out_dir / "embeddings"
    return base / f"{data_name}_{cfg.split}"


def write_embeddings(out: Path, features: torch.Tensor, names: list[str], index) -> None:
    """`embeddings.npy` (float32), `names.txt` (one line each) and, if given, `index.faiss`."""
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / EMBEDDINGS, features.numpy())
    (out / NAMES).write_text("".join(f"{name}\n" for name in names))
    if index is not None:
        require_faiss().write_index(index, str(out / INDEX))


def embed(cfg: DictConfig) -> tuple[Embedded, Subject, object]:
    """Embed `cfg.split` with the requested backbone; returns (embeddings, source, datamodule)."""
    check_values(cfg)
    require_faiss("ssl-embed (its neighbour index)")
    resolve_device(cfg)
    source = learned_source(cfg)
    if source is None:
        raise ConfigError(f"no backbone to embed with; {NEEDS_SOURCE}")
    data = with_workers(data_config(cfg, source), cfg.num_workers)
    datamodule = build_datamodule(data, source.spec)
    loader = datamodule.eval_dataloader(cfg.split)
    with phase("features", f"{datamodule.name} / {cfg.split}") as details:
        features, _ = extract_features(source.backbone, loader, cfg.device, cfg.progress)
        details.append(f"{len(features):,} images")
    names = item_names(loader.dataset.base)
    index = build_index(features, use_gpu=False)
    out = out_dir(cfg, source, datamodule.name)
    write_embeddings(out, features, names, index if cfg.index else None)
    return Embedded(features, names, out, index), source, datamodule


def query_feature(path: str, source: Subject, datamodule, device: str) -> torch.Tensor:
    """The unit feature of one image file, through the same eval transform as the split."""
    try:
        image = load_image(Path(path), datamodule.info.channels)
    except OSError as err:
        raise DataError(f"query image '{path}' cannot be read ({err})") from None
    x = build_eval_transform(datamodule.image_size, datamodule.info)(image)
    return extract_features(source.backbone, [(x[None], [0])], device, progress=False)[0]


def nearest(embedded: Embedded, query: torch.Tensor, k: int) -> list[tuple[str, float]]:
    """The k most similar images of the split: (name, cosine similarity), most similar first."""
    sims, rows = embedded.index.search(query.numpy(), clamp_k(k, len(embedded.names)))
    return [(embedded.names[r], float(s)) for r, s in zip(rows[0], sims[0], strict=True)]


def print_neighbours(query: str, neighbours: list[tuple[str, float]]) -> None:
    """A rich table: rank, image, cosine similarity."""
    table = Table(title=f"nearest images to {query}")
    for column in ("#", "image", "cosine similarity"):
        table.add_column(column, justify="left" if column == "image" else "right")
    for rank, (name, sim) in enumerate(neighbours, 1):
        table.add_row(str(rank), name, f"{sim:.4f}")
    show(table)


@hydra.main(config_path="pkg://ssl_app.conf", config_name="embed", version_base=None)
@exit_on_user_error
def hydra_main(cfg: DictConfig) -> None:
    start_run_log()
    show_bars(cfg.progress)
    if cfg.query and not Path(cfg.query).is_file():  # before the minutes of embedding
        raise DataError(f"query image '{cfg.query}' does not exist; pass query=<image file>")
    embedded, source, datamodule = embed(cfg)
    rows, dim = embedded.features.shape
    say(f"wrote {rows} x {dim} embeddings of {datamodule.name} ({cfg.split}) to {embedded.out}")
    if cfg.query:
        feature = query_feature(cfg.query, source, datamodule, cfg.device)
        print_neighbours(cfg.query, nearest(embedded, feature, cfg.k))


main = hydra_entry("embed", hydra_main)

if __name__ == "__main__":
    main()
