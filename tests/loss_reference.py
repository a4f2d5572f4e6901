"""Literal per-row loop references for the contrastive losses (single process, float64).

Rows/columns are [z1; z2] (2N of them), row i's positive is (i + N) mod 2N, its negatives
every other column but itself. Deliberately written as plain loops over Python floats.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def cosine_matrix(z1: torch.Tensor, z2: torch.Tensor) -> list[list[float]]:
    z = F.normalize(torch.cat([z1, z2]).double(), dim=1)
    return (z @ z.T).tolist()


def rows(z1: torch.Tensor, z2: torch.Tensor):
    """Yield (i, s_pos, [s_neg...]) for every row, similarities as floats."""
    sim = cosine_matrix(z1, z2)
    n2 = len(sim)
    for i in range(n2):
        p = (i + n2 // 2) % n2
        yield i, sim[i][p], [sim[i][j] for j in range(n2) if j not in (i, p)]


def infonce(z1, z2, tau: float) -> float:
    total, count = 0.0, 0
    for _, pos, negs in rows(z1, z2):
        denom = math.exp(pos / tau) + sum(math.exp(s / tau) for s in negs)
        total += -math.log(math.exp(pos / tau) / denom)
        count += 1
    return total / count


def debiased(z1, z2, tau: float, tau_plus: float, beta: float = 0.0) -> float:
    total, count = 0.0, 0
    for _, pos, negs in rows(z1, z2):
        m = len(negs)
        imp = [math.exp(beta * s / tau) for s in negs]
        mean_imp = sum(imp) / m
        neg = sum(w * math.exp(s / tau) for w, s in zip(imp, negs, strict=True)) / mean_imp
        n_g = (neg - tau_plus * m * math.exp(pos / tau)) / (1 - tau_plus)
        n_g = max(n_g, m * math.exp(-1 / tau))
        total += -math.log(math.exp(pos / tau) / (math.exp(pos / tau) + n_g))
        count += 1
    return total / count


def decoupled(z1, z2, tau: float, sigma: float | None = None) -> float:
    sim = cosine_matrix(z1, z2)
    n = len(sim) // 2
    pos_per_image = [sim[b][b + n] for b in range(n)]
    norm = sum(math.exp(s / sigma) for s in pos_per_image) if sigma else 0.0
    total = 0.0
    for _, pos, negs in rows(z1, z2):
        w = 2 - n * math.exp(pos / sigma) / norm if sigma else 1.0
        total += -w * pos / tau + math.log(sum(math.exp(s / tau) for s in negs))
    return total / (2 * n)


def soft_target(z1, z2, tau: float, alpha: float, q_rows=None) -> float:
    """q_rows[i][j]: target distribution over columns j ≠ i (uniform when None)."""
    sim = cosine_matrix(z1, z2)
    n2 = len(sim)
    total = 0.0
    for i in range(n2):
        p = (i + n2 // 2) % n2
        cols = [j for j in range(n2) if j != i]
        log_z = math.log(sum(math.exp(sim[i][j] / tau) for j in cols))
        for j in cols:
            q = q_rows[i][j] if q_rows else 1 / len(cols)
            t = alpha * q + (1 - alpha) * (j == p)
            total -= t * (sim[i][j] / tau - log_z)
    return total / n2


def target_q(t1, t2, tau_t: float) -> list[list[float]]:
    """Softmax over columns j ≠ i of a target encoder's similarities / τ_t."""
    sim = cosine_matrix(t1, t2)
    out = []
    for i, row in enumerate(sim):
        z = sum(math.exp(s / tau_t) for j, s in enumerate(row) if j != i)
        out.append([0.0 if j == i else math.exp(s / tau_t) / z for j, s in enumerate(row)])
    return out


def clip(z1, z2, tau: float) -> float:
    a = F.normalize(z1.double(), dim=1)
    b = F.normalize(z2.double(), dim=1)
    n = len(a)
    total = 0.0
    for x, y in ((a, b), (b, a)):
        for i in range(n):
            logits = [float(x[i] @ y[j]) / tau for j in range(n)]
            total += -logits[i] + math.log(sum(math.exp(v) for v in logits))
    return total / (2 * n)


def pair_nce(z1, z2, tau: float, log_z: float) -> float:
    def log_sigmoid(v: float) -> float:
        return -math.log1p(math.exp(-v))

    total, count = 0.0, 0
    for _, pos, negs in rows(z1, z2):
        m = len(negs)
        total -= log_sigmoid(pos / tau - log_z - math.log(m))
        total -= sum(log_sigmoid(-(s / tau - log_z - math.log(m))) for s in negs)
        count += 1
    return total / count
