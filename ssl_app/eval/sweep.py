"""kNN sweep over k and temperature from one neighbour search at the largest k."""

from __future__ import annotations

import math

import torch

from ssl_app.eval.knn import (
    CHUNK_SIZE,
    check_labels,
    clamp_k,
    num_classes_of,
    search_chunks,
    topk_correct,
    vote,
)
from ssl_app.progress import track

KS = (10, 20, 100, 200)
TEMPERATURES = (0.05, 0.07, 0.1, 0.2)


def _settings(ks, temperatures) -> list[tuple[int, float | None]]:
    """(k, τ) pairs for weighted voting and (k, None) for majority voting."""
    return [(k, t) for k in ks for t in temperatures] + [(k, None) for k in ks]


def knn_sweep(
    bank_feats: torch.Tensor,
    bank_labels: torch.Tensor,
    query_feats: torch.Tensor,
    query_labels: torch.Tensor,
    ks: tuple[int, ...] = KS,
    temperatures: tuple[float, ...] = TEMPERATURES,
) -> list[dict[str, float | int | str]]:
    """Top-1/top-5 (0..1) for every k and τ (weighted) and every k (majority)."""
    check_labels(bank_labels, "memory bank")
    check_labels(query_labels, "query")
    num_classes = num_classes_of(bank_labels, query_labels)
    k_max = clamp_k(max(ks), len(bank_feats))
    settings = _settings(sorted({min(k, k_max) for k in ks}), temperatures)
    hits = torch.zeros(len(settings), 2, dtype=torch.long)
    chunks = search_chunks(bank_feats, query_feats, k_max)
    total = math.ceil(len(query_feats) / CHUNK_SIZE)
    for start, sims, idx in track(chunks, f"kNN sweep ({len(settings)} settings)", total):
        truth, neighbours = query_labels[start : start + len(sims)], bank_labels[idx]
        for i, (k, t) in enumerate(settings):
            scores = vote(sims[:, :k], neighbours[:, :k], num_classes, t or 1.0, t is not None)
            hits[i, 0] += topk_correct(scores, truth, 1).sum()
            hits[i, 1] += topk_correct(scores, truth, 5).sum()
    rates = (hits.double() / len(query_feats)).tolist()
    return [
        {"k": k, "voting": "majority" if t is None else f"weighted τ={t}", "top1": r1, "top5": r5}
        for (k, t), (r1, r5) in zip(settings, rates, strict=True)
    ]
