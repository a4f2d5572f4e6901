"""Demo: a 100 000-way classifier trained with NCE (unigram noise) vs the full softmax.

Synthetic Zipfian data: class y ~ Zipf(s) over V classes, input x = prototype[y] + noise.
The output layer is a V×d embedding. The softmax scores all V classes per example; NCE
(Gutmann & Hyvärinen; Mnih & Teh 2012) scores the true class and k noise classes drawn
from the unigram distribution q (shared across the batch), with the logit
G(y) = s(x, y) + c − log q(y) − log k, and touches only those rows (sparse updates).
Prints time per step, activation memory per step and top-1 accuracy (also for NCE given
the softmax's wall-clock budget); saves a plot; --json also writes the table's rows (JSON
lines, with the settings and the 1-minute load average: the timings depend on the machine).

    python scripts/nce_vocab.py [--out outputs/demos] [--vocab 100000] [--steps 200] [--json F]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ssl_app.losses.nce import binary_nce


def zipf_unigram(vocab: int, exponent: float) -> torch.Tensor:
    """q(y) ∝ 1 / (y + 1)^s: the class (unigram) distribution and the NCE noise."""
    weights = 1.0 / torch.arange(1, vocab + 1, dtype=torch.float64) ** exponent
    return (weights / weights.sum()).float()


class ZipfData:
    """Samples (x, y): y ~ unigram, x = prototype[y] + σ·ε (a fixed random prototype per class)."""

    def __init__(self, unigram: torch.Tensor, dim: int, noise: float, seed: int) -> None:
        self.gen = torch.Generator().manual_seed(seed)
        self.unigram, self.noise = unigram, noise
        self.prototypes = torch.randn(len(unigram), dim, generator=self.gen)

    def sample(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.multinomial(self.unigram, n, replacement=True, generator=self.gen)
        x = self.prototypes[y] + self.noise * torch.randn(
            n, self.prototypes.shape[1], generator=self.gen
        )
        return x, y


class OutputLayer(nn.Module):
    """s(x, y) = w_y · x + b_y with sparse-gradient embeddings for weights and biases.

    Biases start at log q(y) (Mnih & Teh): classes NCE never samples keep the prior score
    instead of tying with the trained ones (with zero biases NCE collapses on rare classes)."""

    def __init__(self, unigram: torch.Tensor, dim: int) -> None:
        super().__init__()
        self.weight = nn.Embedding(len(unigram), dim, sparse=True)
        self.bias = nn.Embedding(len(unigram), 1, sparse=True)
        nn.init.normal_(self.weight.weight, std=0.01)
        with torch.no_grad():
            self.bias.weight.copy_(unigram.log()[:, None])

    def scores(self, x: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """(B, C) scores of every x against the given classes (C,)."""
        return x @ self.weight(classes).T + self.bias(classes).T

    def all_scores(self, x: torch.Tensor) -> torch.Tensor:
        """(B, V) scores against every class (dense: the softmax path)."""
        return x @ self.weight.weight.T + self.bias.weight.T


def softmax_loss(layer: OutputLayer, x: torch.Tensor, y: torch.Tensor, **_) -> torch.Tensor:
    return F.cross_entropy(layer.all_scores(x), y)


def nce_loss(layer, x, y, unigram, k: int, c: torch.Tensor) -> torch.Tensor:
    """Binary NCE with k unigram noise classes shared by the batch."""
    noise = torch.multinomial(unigram, k, replacement=True)
    log_kq = math.log(k) + unigram.log()
    data_logits = (x * layer.weight(y)).sum(1) + layer.bias(y).squeeze(1) + c - log_kq[y]
    noise_logits = layer.scores(x, noise) + c - log_kq[noise]
    return binary_nce(data_logits, noise_logits, k)


def saved_bytes(fn) -> tuple[torch.Tensor, int]:
    """Run `fn()` and count the bytes autograd saves for backward (the activation memory)."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(storages.values())


def optimisers(method: str, layer: OutputLayer, c: torch.Tensor, lr: float) -> list:
    if method == "softmax":
        return [torch.optim.Adam(layer.parameters(), lr=lr)]
    return [torch.optim.SparseAdam(list(layer.parameters()), lr=lr), torch.optim.Adam([c], lr=lr)]


@torch.no_grad()
def accuracy(layer: OutputLayer, data: ZipfData, n: int = 4000, chunk: int = 500) -> float:
    """Top-1 over all V classes on fresh samples from the data distribution."""
    correct = 0
    for _ in range(n // chunk):
        x, y = data.sample(chunk)
        correct += (layer.all_scores(x).argmax(1) == y).sum().item()
    return correct / (n // chunk * chunk)


def train(method: str, args, unigram: torch.Tensor, steps: int) -> dict[str, float]:
    """Train one output layer with `method` ('softmax' or 'nce'); time, memory, accuracy."""
    torch.manual_seed(0)
    data = ZipfData(unigram, args.dim, args.noise, seed=0)
    layer, c = OutputLayer(unigram, args.dim), nn.Parameter(torch.zeros(()))
    opts = optimisers(method, layer, c, args.lr)
    loss_fn = softmax_loss if method == "softmax" else nce_loss
    times, memory = [], 0
    for _ in range(steps):
        x, y = data.sample(args.batch_size)
        start = time.perf_counter()
        loss, memory = saved_bytes(
            lambda x=x, y=y: loss_fn(layer, x, y, unigram=unigram, k=args.k, c=c)
        )
        for opt in opts:
            opt.zero_grad()
        loss.backward()
        for opt in opts:
            opt.step()
        times.append(time.perf_counter() - start)
    steady = times[len(times) // 5 :]
    return {
        "steps": steps,
        "ms/step": 1000 * sum(steady) / len(steady),
        "activation MB": memory / 2**20,
        "top-1": accuracy(layer, data),
    }


def report(results: dict[str, dict[str, float]], args, out: Path) -> None:
    import matplotlib
    from rich.console import Console
    from rich.table import Table

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    title = f"{args.vocab}-way output, batch {args.batch_size}, {args.steps} steps, NCE k={args.k}"
    table = Table(title=title)
    for col in ("method", *next(iter(results.values()))):
        table.add_column(col, justify="right")
    for method, row in results.items():
        cells = (f"{v:.3f}" if k == "top-1" else f"{v:.4g}" for k, v in row.items())
        table.add_row(method, *cells)
    Console().print(table)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3))
    for ax, key in zip(axes, ("ms/step", "activation MB", "top-1"), strict=True):
        ax.bar(list(results), [row[key] for row in results.values()], color=["C0", "C1", "C2"])
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title(key)
    fig.tight_layout()
    fig.savefig(out / "nce_vocab.png", dpi=120)
    print(f"plot: {out / 'nce_vocab.png'}")
    if args.json:
        with args.json.open("w") as f:
            settings = {**vars(args), "load_avg_1min": os.getloadavg()[0]}
            for method, row in results.items():  # the row's steps win over the --steps setting
                f.write(json.dumps({**settings, "method": method, **row}, default=str) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/demos"))
    parser.add_argument("--vocab", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--k", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--zipf", type=float, default=1.0)
    parser.add_argument("--noise", type=float, default=0.3)
    parser.add_argument("--json", type=Path, help="also write the table's rows here (JSON lines)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    unigram = zipf_unigram(args.vocab, args.zipf)
    results = {method: train(method, args, unigram, args.steps) for method in ("softmax", "nce")}
    speedup = results["softmax"]["ms/step"] / results["nce"]["ms/step"]
    results["nce, same time"] = train("nce", args, unigram, round(args.steps * speedup))
    report(results, args, args.out)


if __name__ == "__main__":
    main()
