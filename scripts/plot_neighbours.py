"""A picture of nearest neighbours: test images and their k nearest training images, by the
learned features and by raw pixels.

The features are `ssl-embed`'s (`ssl_app.embed.embed`, run for the train and the test split, so
`embeddings.npy` + `names.txt` of both are written where `ssl-embed` writes them), the raw pixels
are `ssl-eval`'s baseline row (`raw_pixel_features`, the eval transform's input) and the search
is the kNN probe's (`knn_search`, cosine on unit rows). The queries are `--queries` test images
drawn with `--seed` (not picked by hand); each neighbour is framed green when its label is the
query's and red otherwise. The README's pictures (digits: `make run`'s defaults; Fashion-MNIST:
the README's 8-minute CPU run, trained into /tmp/fm/run):

    OMP_NUM_THREADS=1 ssl-pretrain hydra.run.dir=/tmp/nbr_run
    python scripts/plot_neighbours.py run_dir=/tmp/nbr_run --out docs/neighbours_digits.png
    python scripts/plot_neighbours.py run_dir=/tmp/fm/run --embed-dir /tmp/nbr_fm \\
        --out docs/neighbours_fashion_mnist.png

Arguments without `--` are `ssl-embed` overrides (run_dir=, checkpoint=, weights=, data=,
device=); `--embed-dir DIR` writes the embeddings to DIR/train and DIR/test instead of the run's
`embeddings/<data>_<split>` folders.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from hydra import compose, initialize_config_module
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

from ssl_app.embed import embed
from ssl_app.eval.class_plots import short
from ssl_app.eval.features import raw_pixel_features
from ssl_app.eval.knn import check_labels, knn_search
from ssl_app.eval.plots import save_figure
from ssl_app.progress import say

MATCH, MISMATCH, QUERY = "tab:green", "tab:red", "tab:blue"
FORBIDDEN = ("split=", "out=", "query=")  # the script sets these itself
DEFAULTS = ["num_workers=0"]  # in-memory data sets need no workers; num_workers=N overrides


@dataclass(frozen=True)
class Split:
    """One split: learned and raw-pixel unit features, labels and the images, in data-set order."""

    learned: torch.Tensor
    raw: torch.Tensor
    labels: torch.Tensor
    images: Sequence  # `(uint8 image (C, H, W), label)` items: the data set itself


@dataclass(frozen=True)
class Neighbours:
    """The k nearest bank rows of each query, most similar first, and whether labels agree."""

    index: torch.Tensor  # (Q, k) rows of the bank
    sims: torch.Tensor  # (Q, k) cosine similarity
    match: torch.Tensor  # (Q, k) bool: the neighbour's label is the query's

    @property
    def matches(self) -> int:
        return int(self.match.sum())


def choose_queries(num_images: int, count: int, seed: int) -> torch.Tensor:
    """`count` distinct rows of `num_images`, drawn with `seed` and sorted (the same every run)."""
    order = torch.randperm(num_images, generator=torch.Generator().manual_seed(seed))
    return order[: min(count, num_images)].sort().values


def find_neighbours(
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    queries: torch.Tensor,
    query_labels: torch.Tensor,
    k: int,
) -> Neighbours:
    """The k nearest `bank` rows of every `queries` row by inner product (cosine for unit rows)."""
    sims, index = knn_search(bank, queries, k)
    return Neighbours(index, sims, bank_labels[index] == query_labels[:, None])


def frame_colours(match: torch.Tensor) -> list[list[str]]:
    """A frame colour per neighbour: MATCH (green) where its label is the query's, else MISMATCH
    (red)."""
    return [[MATCH if same else MISMATCH for same in row] for row in match.tolist()]


def neighbours_by(train: Split, test: Split, queries: torch.Tensor, k: int) -> dict:
    """{panel title: Neighbours} of the `queries` rows of `test` among `train`, per feature kind."""
    found = {}
    for title, kind in (("learned features", "learned"), ("raw pixels", "raw")):
        bank, asked = getattr(train, kind), getattr(test, kind)[queries]
        found[title] = find_neighbours(bank, train.labels, asked, test.labels[queries], k)
    return found


def share_over_all(train: Split, test: Split, k: int) -> dict[str, float]:
    """{panel title: share of the k neighbours with the query's label}, every test image a query."""
    found = neighbours_by(train, test, torch.arange(len(test.labels)), k)
    return {title: n.matches / n.match.numel() for title, n in found.items()}


def draw_image(ax: Axes, image: torch.Tensor, colour: str, caption: str) -> None:
    """One uint8 (C, H, W) image, not interpolated, framed in `colour`, `caption` below it."""
    pixels = image.permute(1, 2, 0).numpy()
    if pixels.shape[2] == 1:
        ax.imshow(pixels[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(pixels, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set(edgecolor=colour, linewidth=3)
    ax.set_xlabel(caption, fontsize=7, color=colour, labelpad=1)


def draw_row(
    axes: Sequence[Axes], query: tuple, shown: list[tuple], colours: list[str], names: Sequence[str]
) -> None:
    """One row: the query `(image, label)` framed blue, a gap, its neighbours in their colours."""
    draw_image(axes[0], query[0], QUERY, short(names[query[1]]))
    axes[1].axis("off")
    for ax, (image, label), colour in zip(axes[2:], shown, colours, strict=True):
        draw_image(ax, image, colour, short(names[label]))


def draw_panel(
    panel: SubFigure,
    title: str,
    pair: tuple[Split, Split],
    queries: torch.Tensor,
    found: Neighbours,
    names: Sequence[str],
) -> None:
    """Rows of query, gap, k neighbours; the title counts the neighbours with the query's label."""
    train, test = pair
    k = found.index.shape[1]
    axes = panel.subplots(len(queries), k + 2, width_ratios=[1, 0.15, *[1] * k], squeeze=False)
    colours = frame_colours(found.match)
    for row, query in enumerate(queries.tolist()):
        shown = [train.images[i] for i in found.index[row].tolist()]
        draw_row(axes[row], test.images[query], shown, colours[row], names)
    axes[0, 0].set_title("query", fontsize=8)
    for col in range(k):
        axes[0, col + 2].set_title(f"#{col + 1}", fontsize=8)
    share = f"{found.matches} of {found.match.numel()} neighbours share the query's label"
    panel.suptitle(f"{title}: {share}", fontsize=10)


def neighbours_figure(
    pair: tuple[Split, Split], queries: torch.Tensor, found: dict, names: Sequence[str], what: str
) -> Figure:
    """Two panels side by side, one per entry of `found` (learned features, raw pixels)."""
    k = next(iter(found.values())).index.shape[1]
    fig = Figure(figsize=(1.3 * (k + 1.2) + 0.4, 0.8 * len(queries) + 0.9), layout="constrained")
    fig.suptitle(what, fontsize=11)
    panels = fig.subfigures(1, len(found), wspace=0.03)
    for panel, (title, neighbours) in zip(panels, found.items(), strict=True):
        draw_panel(panel, title, pair, queries, neighbours, names)
    return fig


def load_split(overrides: list[str], split: str, embed_dir: Path | None) -> tuple[Split, object]:
    """`ssl-embed split=<split>`'s features (files written as it writes them), the raw pixels and
    labels of the same loader, and the data set's images; with the data module."""
    out = [f"out={embed_dir / split}"] if embed_dir is not None else []
    cfg = compose("embed", [*DEFAULTS, *overrides, f"split={split}", *out])
    embedded, _, datamodule = embed(cfg)
    loader = datamodule.eval_dataloader(split)
    raw, labels = raw_pixel_features(loader)
    check_labels(labels, split)
    return Split(embedded.features, raw, labels, loader.dataset.base), datamodule


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="+", help="ssl-embed overrides, e.g. run_dir=DIR")
    parser.add_argument("--out", type=Path, default=Path("neighbours.png"), help="the PNG")
    parser.add_argument("--queries", type=int, default=8, help="test images, one row each")
    parser.add_argument("--k", type=int, default=6, help="neighbours per query")
    parser.add_argument("--seed", type=int, default=0, help="draws the query images")
    parser.add_argument("--embed-dir", type=Path, help="embeddings to DIR/<split>")
    args = parser.parse_args(argv)
    for override in args.overrides:
        if override.startswith(FORBIDDEN):
            parser.error(f"'{override}': the script sets {', '.join(FORBIDDEN)} itself")
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    """Embed both splits, draw the figure to `--out`, say and return the neighbour counts."""
    args = parse_args(argv)
    with initialize_config_module("ssl_app.conf", version_base=None):
        train, datamodule = load_split(args.overrides, "train", args.embed_dir)
        test, _ = load_split(args.overrides, "test", args.embed_dir)
    queries = choose_queries(len(test.labels), args.queries, args.seed)
    found = neighbours_by(train, test, queries, args.k)
    what = (
        f"{datamodule.name}: {len(queries)} test images (seed {args.seed}) and their {args.k} "
        f"nearest of {len(train.labels):,} training images by cosine similarity\n"
        "frame green: same label as the query (blue), red: another label"
    )
    names = datamodule.info.label_names()
    save_figure(neighbours_figure((train, test), queries, found, names, what), args.out)
    overall = share_over_all(train, test, args.k)
    for title, neighbours in found.items():
        shown = f"{neighbours.matches} of {neighbours.match.numel()} share the query's label"
        say(f"{title}: {shown} (all {len(test.labels):,} test images: {overall[title]:.1%})")
    say(f"wrote {args.out}")
    return found


if __name__ == "__main__":
    main()
