"""FAISS kNN against brute-force references, limiting cases and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ssl_app.errors import DataError
from ssl_app.eval.knn import knn_accuracy, knn_classify, knn_search, knn_top1, search_chunks


def unit(n: int, d: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=1)


def reference_scores(bank, labels, query, num_classes, k, tau, weighted):
    """Literal per-query loop: float64 similarities, sort, each neighbour votes."""
    sims = query.double().numpy() @ bank.double().numpy().T
    out = np.zeros((len(query), num_classes))
    for i, row in enumerate(sims):
        for j in np.argsort(-row, kind="stable")[:k]:
            out[i, labels[j]] += np.exp(row[j] / tau) if weighted else 1.0
    return out


@pytest.mark.parametrize("weighted", [True, False])
@pytest.mark.parametrize("k,tau", [(1, 0.1), (20, 0.07), (50, 0.5)])
def test_knn_equals_numpy_reference(weighted, k, tau):
    bank, query = unit(400, 32, 0), unit(120, 32, 1)
    labels = torch.randint(0, 7, (400,), generator=torch.Generator().manual_seed(2))
    scores = knn_classify(bank, labels, query, 7, k=k, temperature=tau, weighted=weighted)
    expected = reference_scores(bank, labels.numpy(), query, 7, k, tau, weighted)
    assert scores.shape == (120, 7)
    np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-4)
    assert torch.equal(scores.argmax(1), torch.from_numpy(expected.argmax(1)))


def test_faiss_search_equals_torch_matmul_topk():
    bank, query = unit(1000, 48, 3), unit(300, 48, 4)
    sims_f, idx_f = knn_search(bank, query, 25, backend="faiss")
    sims_t, idx_t = knn_search(bank, query, 25, backend="torch")
    assert torch.equal(idx_f, idx_t)
    torch.testing.assert_close(sims_f, sims_t, rtol=1e-5, atol=1e-6)


def test_query_chunks_give_the_same_neighbours():
    bank, query = unit(200, 16, 5), unit(53, 16, 6)
    parts = list(search_chunks(bank, query, 9, chunk_size=7))
    assert [p[0] for p in parts] == list(range(0, 53, 7))
    _, idx = knn_search(bank, query, 9)
    assert torch.equal(torch.cat([p[2] for p in parts]), idx)


def clusters(n_per_class: int, num_classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_classes, 64, generator=torch.Generator().manual_seed(99)) * 5
    labels = torch.arange(num_classes).repeat_interleave(n_per_class)
    x = centres[labels] + torch.randn(len(labels), 64, generator=g)
    return F.normalize(x, dim=1), labels


def test_separated_clusters_are_classified_perfectly():
    bank, bank_y = clusters(50, 10, 0)
    query, query_y = clusters(30, 10, 1)
    assert knn_top1(bank, bank_y, query, query_y, k=20) == 1.0
    acc = knn_accuracy(bank, bank_y, query, query_y, k=20, weighted=False)
    assert acc == {"top1": 1.0, "top5": 1.0}


def test_shuffled_labels_give_chance():
    bank, bank_y = clusters(100, 10, 0)
    query, query_y = clusters(100, 10, 1)
    shuffled = bank_y[torch.randperm(len(bank_y), generator=torch.Generator().manual_seed(0))]
    assert abs(knn_top1(bank, shuffled, query, query_y, k=20) - 0.1) < 0.06


def test_top5_counts_the_true_class_among_five_best():
    bank = torch.eye(6)
    labels = torch.arange(6)
    query = F.normalize(torch.tensor([[1.0, 0.9, 0.8, 0.7, 0.6, 0.5]]), dim=1)
    for true, top5 in [(0, 1.0), (4, 1.0), (5, 0.0)]:
        acc = knn_accuracy(bank, labels, query, torch.tensor([true]), k=6)
        assert acc["top5"] == top5
        assert acc["top1"] == float(true == 0)


def test_k_larger_than_bank_is_clamped_with_warning():
    bank, query = unit(10, 8, 0), unit(5, 8, 1)
    labels = torch.arange(10) % 3
    with pytest.warns(UserWarning, match="k=200 exceeds the memory bank size 10"):
        scores = knn_classify(bank, labels, query, 3, k=200, weighted=False)
    assert torch.equal(scores.sum(1), torch.full((5,), 10.0))


def test_unlabelled_bank_and_empty_query_are_clear_errors():
    bank, query = unit(10, 8, 0), unit(5, 8, 1)
    with pytest.raises(DataError, match="no labels"):
        knn_top1(bank, torch.full((10,), -1), query, torch.zeros(5, dtype=torch.long))
    with pytest.raises(DataError, match="empty"):
        knn_top1(bank, torch.zeros(10, dtype=torch.long), query[:0], torch.zeros(0).long())
