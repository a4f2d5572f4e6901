"""Exact kNN search speed: FAISS vs chunked torch matmul+topk vs scikit-learn brute force.

The bare matrix products (queries × bank, in the same chunks) are the compute limit of
exact search; every method is reported as a multiple of it. `--approx` adds IVF and HNSW
indexes with their recall@k against exact search (for banks too large for exact search).

    python scripts/bench_knn.py                          # 60000 x 10000 x 512, k=200, CPU
    python scripts/bench_knn.py --device cuda --bank 1000000 --queries 100000 --skip-sklearn
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import faiss
import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from ssl_app.eval.knn import build_index, faiss_gpus, knn_classify


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--bank", type=int, default=60_000, help="memory bank size M")
    p.add_argument("--queries", type=int, default=10_000, help="number of queries Q")
    p.add_argument("--dim", type=int, default=512, help="feature width D")
    p.add_argument("--k", type=int, default=200)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--chunk", type=int, default=4096, help="queries per chunk (torch paths)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (torch paths; FAISS uses its GPUs)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    p.add_argument("--repeats", type=int, default=1, help="best of N timings")
    p.add_argument(
        "--skip-sklearn", action="store_true", help="skip scikit-learn (slow on big inputs)"
    )
    p.add_argument("--approx", action="store_true", help="also IVF and HNSW with recall@k")
    return p.parse_args()


def timed(fn: Callable[[], object], device: str, repeats: int) -> tuple[float, object]:
    """Best wall time of `repeats` calls (CUDA synchronised) and the last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, out


def bare_matmul(bank: torch.Tensor, query: torch.Tensor, chunk: int) -> float:
    """The Q x M similarity products alone, chunk by chunk (no selection): the compute limit."""
    total = 0.0
    for start in range(0, len(query), chunk):
        total += float((query[start : start + chunk] @ bank.T)[0, 0])
    return total


def torch_topk(bank: torch.Tensor, query: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    """Exact top-k by chunked matmul + topk."""
    return torch.cat(
        [
            (query[s : s + chunk] @ bank.T).topk(k, dim=1).indices
            for s in range(0, len(query), chunk)
        ]
    )


def faiss_topk(bank: torch.Tensor, query: torch.Tensor, k: int) -> np.ndarray:
    """Exact top-k with a flat inner-product index (GPU when FAISS has one), build included."""
    return build_index(bank).search(np.ascontiguousarray(query.cpu().numpy()), k)[1]


def sklearn_topk(
    bank: torch.Tensor, labels: torch.Tensor, query: torch.Tensor, k: int
) -> np.ndarray:
    """scikit-learn KNeighborsClassifier, brute force (Euclidean on unit rows = cosine order)."""
    from sklearn.neighbors import KNeighborsClassifier

    clf = KNeighborsClassifier(n_neighbors=k, algorithm="brute", n_jobs=-1)
    clf.fit(bank.cpu().numpy(), labels.cpu().numpy())
    return clf.kneighbors(query.cpu().numpy(), return_distance=False)


def recall_at_k(approx: np.ndarray, exact: np.ndarray) -> float:
    """Mean fraction of the exact top-k that the approximate search returns."""
    return float(
        np.mean([len(np.intersect1d(a, e)) / len(e) for a, e in zip(approx, exact, strict=True)])
    )


def approx_rows(bank: np.ndarray, query: np.ndarray, k: int, exact: np.ndarray) -> list[tuple]:
    """(name, build s, search s, recall@k) for IVF-Flat at several nprobe and HNSW at several ef."""
    rows = []
    nlist = max(1, min(int(4 * np.sqrt(len(bank))), len(bank) // 39))  # FAISS: ≥ 39 points each
    ivf = faiss.IndexIVFFlat(
        faiss.IndexFlatIP(bank.shape[1]), bank.shape[1], nlist, faiss.METRIC_INNER_PRODUCT
    )
    build, _ = timed(lambda: (ivf.train(bank), ivf.add(bank)), "cpu", 1)
    for nprobe in (1, 8, 32):
        ivf.nprobe = nprobe
        t, (_, idx) = timed(lambda: ivf.search(query, k), "cpu", 1)
        rows.append((f"IVF{nlist},Flat nprobe={nprobe}", build, t, recall_at_k(idx, exact)))
    hnsw = faiss.IndexHNSWFlat(bank.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    build, _ = timed(lambda: hnsw.add(bank), "cpu", 1)
    for ef in (k, 2 * k):
        hnsw.hnsw.efSearch = ef
        t, (_, idx) = timed(lambda: hnsw.search(query, k), "cpu", 1)
        rows.append((f"HNSW32 efSearch={ef}", build, t, recall_at_k(idx, exact)))
    return rows


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        faiss.omp_set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    bank = F.normalize(torch.randn(args.bank, args.dim, generator=g), dim=1)
    query = F.normalize(torch.randn(args.queries, args.dim, generator=g), dim=1)
    labels = torch.randint(0, args.classes, (args.bank,), generator=g)
    bank_d, query_d = bank.to(args.device), query.to(args.device)
    run = lambda fn: timed(fn, args.device, args.repeats)  # noqa: E731
    results = {
        "bare matmul (compute limit)": run(lambda: bare_matmul(bank_d, query_d, args.chunk))[0]
    }
    results["FAISS exact IndexFlatIP" + (" (GPU)" if faiss_gpus() else "")], exact = run(
        lambda: faiss_topk(bank, query, args.k)
    )
    results["torch chunked matmul + topk"], torch_idx = run(
        lambda: torch_topk(bank_d, query_d, args.k, args.chunk)
    )
    results["ssl_app knn_classify (FAISS + vote)"] = run(
        lambda: knn_classify(bank, labels, query, args.classes, args.k)
    )[0]
    if not args.skip_sklearn:
        results["scikit-learn KNeighborsClassifier brute"] = run(
            lambda: sklearn_topk(bank, labels, query, args.k)
        )[0]
    same = (np.sort(exact, 1) == np.sort(torch_idx.cpu().numpy(), 1)).mean()
    print_table(args, results, same)
    if args.approx:
        print_approx(approx_rows(bank.numpy(), query.numpy(), args.k, exact), results)


def print_table(args: argparse.Namespace, results: dict[str, float], same: float) -> None:
    limit = results["bare matmul (compute limit)"]
    sklearn = results.get("scikit-learn KNeighborsClassifier brute")
    gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") else "none"
    cpu = platform.processor() or platform.machine()
    print(
        f"exact kNN: bank {args.bank} x queries {args.queries} x dim {args.dim}, k={args.k}; "
        f"CPU {cpu}, {torch.get_num_threads()} threads; GPU: {gpu}"
    )
    table = Table()
    for col in ("method", "time (s)", "× compute limit", "speed-up vs scikit-learn"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for name, seconds in results.items():
        vs_sklearn = f"{sklearn / seconds:.1f}×" if sklearn else "—"
        table.add_row(name, f"{seconds:.2f}", f"{seconds / limit:.2f}", vs_sklearn)
    Console(width=120).print(table)
    print(f"FAISS and torch top-{args.k} neighbour sets agree on {100 * same:.2f} % of entries")


def print_approx(rows: list[tuple], results: dict[str, float]) -> None:
    exact = next(v for k, v in results.items() if k.startswith("FAISS"))
    table = Table(title=f"approximate search (exact FAISS search: {exact:.2f} s)")
    for col in ("index", "build (s)", "search (s)", "recall@k"):
        table.add_column(col, justify="left" if col == "index" else "right")
    for name, build, search, recall in rows:
        table.add_row(name, f"{build:.2f}", f"{search:.2f}", f"{recall:.3f}")
    Console(width=120).print(table)
    print("random features have no cluster structure: recall on real embeddings is higher")


if __name__ == "__main__":
    main()
