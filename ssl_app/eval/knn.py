"""Exact cosine kNN classification (InstDisc protocol) over a FAISS inner-product index.

Features are unit rows, so inner product = cosine similarity. Queries run in chunks: a
1M x 512 bank and 1M queries never form a Q x M matrix, only chunk x k neighbour lists.
FAISS comes from one of the extras `cpu` (faiss-cpu) or `gpu` (faiss-gpu); with neither
installed the torch matmul + top-k path does every search.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import torch

from ssl_app.errors import ConfigError, DataError

try:
    import faiss
except ImportError:  # neither the `cpu` nor the `gpu` extra: torch searches instead
    faiss = None

CHUNK_SIZE = 4096
INSTALL_FAISS = "pip install 'ssl_app[cpu]' (or 'ssl_app[gpu]' on a CUDA machine)"


def faiss_build() -> str | None:
    """The importable FAISS: "gpu" (a build with GPU indexes), "cpu", or None (none)."""
    if faiss is None:
        return None
    return "gpu" if hasattr(faiss, "StandardGpuResources") else "cpu"


def require_faiss(what: str = "a FAISS index"):
    """The faiss module, or a one-line ConfigError naming the extra that installs it."""
    if faiss is None:
        raise ConfigError(f"{what} needs faiss, which is not installed; {INSTALL_FAISS}")
    return faiss


def faiss_gpus() -> int:
    """Number of GPUs this FAISS build can use (0 for faiss-cpu or without faiss)."""
    return faiss.get_num_gpus() if faiss_build() == "gpu" else 0


@lru_cache(maxsize=1)
def _gpu_resources():
    return faiss.StandardGpuResources()


def build_index(bank: torch.Tensor, use_gpu: bool | None = None) -> faiss.Index:
    """Exact inner-product index over `bank` (M, D): on the GPU when FAISS has one."""
    require_faiss()
    bank_np = np.ascontiguousarray(bank.detach().cpu().numpy(), dtype=np.float32)
    use_gpu = faiss_gpus() > 0 if use_gpu is None else use_gpu
    dim = bank_np.shape[1]
    index = faiss.GpuIndexFlatIP(_gpu_resources(), dim) if use_gpu else faiss.IndexFlatIP(dim)
    index.add(bank_np)
    return index


def clamp_k(k: int, bank_size: int) -> int:
    """k limited to the memory bank size, with a warning when it had to shrink."""
    if k < 1:
        raise DataError(f"kNN needs k >= 1, got k={k}; set k to a positive integer")
    if k > bank_size:
        warnings.warn(
            f"k={k} exceeds the memory bank size {bank_size}; using k={bank_size}", stacklevel=3
        )
        return bank_size
    return k


def resolve_backend(backend: str) -> str:
    """`auto`: FAISS on its GPUs; else torch on CUDA (a faiss-cpu build on a GPU machine);
    else FAISS on the CPU; torch wherever no FAISS is installed."""
    if backend not in ("auto", "faiss", "torch"):
        raise ValueError(f"unknown kNN backend '{backend}'; use auto, faiss or torch")
    if backend != "auto":
        return backend
    on_cuda_without_faiss_gpus = faiss_gpus() == 0 and torch.cuda.is_available()
    return "torch" if faiss is None or on_cuda_without_faiss_gpus else "faiss"


def _torch_chunk_search(bank: torch.Tensor, query: torch.Tensor, k: int) -> tuple:
    return (query @ bank.T).topk(k, dim=1)


def search_chunks(
    bank: torch.Tensor,
    query: torch.Tensor,
    k: int,
    backend: str = "auto",
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """Yield `(start, sims (q, k), indices (q, k))` for query chunks, most similar first."""
    k = clamp_k(k, len(bank))
    backend = resolve_backend(backend)
    if backend == "faiss":
        index = build_index(bank)
    elif backend == "torch" and torch.cuda.is_available() and bank.device.type == "cpu":
        bank = bank.cuda()
    for start in range(0, len(query), chunk_size):
        chunk = query[start : start + chunk_size]
        if backend == "torch":
            sims, idx = _torch_chunk_search(bank, chunk.to(bank.device), k)
        else:
            chunk_np = np.ascontiguousarray(chunk.detach().cpu().numpy(), dtype=np.float32)
            sims, idx = (torch.from_numpy(a) for a in index.search(chunk_np, k))
        yield start, sims.cpu(), idx.cpu()


def knn_search(bank: torch.Tensor, query: torch.Tensor, k: int, backend: str = "auto") -> tuple:
    """All neighbours at once: `(sims (Q, k), indices (Q, k))`; for moderate Q."""
    parts = list(search_chunks(bank, query, k, backend))
    return torch.cat([p[1] for p in parts]), torch.cat([p[2] for p in parts])


def vote(
    sims: torch.Tensor,
    neighbour_labels: torch.Tensor,
    num_classes: int,
    temperature: float = 0.1,
    weighted: bool = True,
) -> torch.Tensor:
    """Class scores (Q, C): each neighbour adds exp(sim / temperature) (or 1) to its class."""
    weights = (sims / temperature).exp() if weighted else torch.ones_like(sims)
    scores = torch.zeros(len(sims), num_classes, dtype=weights.dtype)
    return scores.scatter_add_(1, neighbour_labels.long(), weights)


def check_labels(labels: torch.Tensor, what: str) -> None:
    """kNN and linear probes need labels (>= 0) for every row."""
    if len(labels) == 0:
        raise DataError(f"the {what} split is empty; check the data set root and split")
    if (labels < 0).any():
        raise DataError(
            f"the {what} split has no labels; kNN and linear probes need a labelled data set"
        )


def iter_scores(
    bank_feats: torch.Tensor,
    bank_labels: torch.Tensor,
    query_feats: torch.Tensor,
    num_classes: int,
    k: int = 200,
    temperature: float = 0.1,
    weighted: bool = True,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield `(start, scores (q, C))` for query chunks without holding all Q x C scores."""
    check_labels(bank_labels, "memory bank")
    for start, sims, idx in search_chunks(bank_feats, query_feats, k):
        yield start, vote(sims, bank_labels[idx], num_classes, temperature, weighted)


def knn_classify(
    bank_feats: torch.Tensor,
    bank_labels: torch.Tensor,
    query_feats: torch.Tensor,
    num_classes: int,
    k: int = 200,
    temperature: float = 0.1,
    weighted: bool = True,
) -> torch.Tensor:
    """Class scores (Q, C) of every query from its k nearest bank features."""
    args = (bank_feats, bank_labels, query_feats, num_classes, k, temperature, weighted)
    return torch.cat([scores for _, scores in iter_scores(*args)])


def num_classes_of(*labels: torch.Tensor) -> int:
    """Class count inferred from the largest label seen."""
    return int(max(int(lab.max()) for lab in labels if len(lab))) + 1


def topk_correct(scores: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """Per-query bool: true label among the k highest scores (ties: lowest class first)."""
    k = min(k, scores.shape[1])
    top = scores.topk(k, dim=1, sorted=True).indices if k > 1 else scores.argmax(1, keepdim=True)
    return (top == labels[:, None]).any(dim=1)


def knn_predict(
    bank_feats: torch.Tensor,
    bank_labels: torch.Tensor,
    query_feats: torch.Tensor,
    query_labels: torch.Tensor,
    k: int = 200,
    temperature: float = 0.1,
    weighted: bool = True,
) -> dict[str, torch.Tensor]:
    """Per-query predictions and top-1/top-5 hits, computed chunk by chunk."""
    check_labels(query_labels, "query")
    num_classes = num_classes_of(bank_labels, query_labels)
    preds, top1, top5 = [], [], []
    args = (bank_feats, bank_labels, query_feats, num_classes, k, temperature, weighted)
    for start, scores in iter_scores(*args):
        truth = query_labels[start : start + len(scores)]
        preds.append(scores.argmax(1))
        top1.append(topk_correct(scores, truth, 1))
        top5.append(topk_correct(scores, truth, 5))
    return {"pred": torch.cat(preds), "top1": torch.cat(top1), "top5": torch.cat(top5)}


def knn_top1(
    bank_feats: torch.Tensor,
    bank_labels: torch.Tensor,
    query_feats: torch.Tensor,
    query_labels: torch.Tensor,
    k: int = 200,
    temperature: float = 0.1,
) -> float:
    """Weighted-kNN top-1 accuracy (0..1) of the queries against the memory bank."""
    hits = knn_predict(bank_feats, bank_labels, query_feats, query_labels, k, temperature)
    return hits["top1"].float().mean().item()


def knn_accuracy(
    bank_feats: torch.Tensor,
    bank_labels: torch.Tensor,
    query_feats: torch.Tensor,
    query_labels: torch.Tensor,
    k: int = 200,
    temperature: float = 0.1,
    weighted: bool = True,
) -> dict[str, float]:
    """Top-1 and top-5 accuracy (0..1) of weighted or majority kNN."""
    args = (bank_feats, bank_labels, query_feats, query_labels, k, temperature, weighted)
    hits = knn_predict(*args)
    return {"top1": hits["top1"].float().mean().item(), "top5": hits["top5"].float().mean().item()}
