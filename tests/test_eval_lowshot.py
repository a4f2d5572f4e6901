"""Low-shot subsets are class-balanced and reproducible; results are mean ± std over draws."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ssl_app.eval.lowshot import balanced_subset, lowshot_eval


def test_subsets_are_balanced_reproducible_and_seed_dependent():
    labels = torch.arange(10).repeat_interleave(200)
    a = balanced_subset(labels, 0.1, seed=0)
    assert torch.equal(a, balanced_subset(labels, 0.1, seed=0))
    assert not torch.equal(a, balanced_subset(labels, 0.1, seed=1))
    assert torch.bincount(labels[a]).tolist() == [20] * 10
    assert torch.bincount(labels[balanced_subset(labels, 0.001, 0)]).tolist() == [1] * 10
    assert len(set(a.tolist())) == len(a)


def test_lowshot_rows_on_separated_clusters():
    centres = torch.randn(5, 16, generator=torch.Generator().manual_seed(0)) * 10

    def split(n, seed):
        y = torch.arange(5).repeat_interleave(n)
        x = centres[y] + torch.randn(len(y), 16, generator=torch.Generator().manual_seed(seed))
        return F.normalize(x, dim=1), y

    rows = lowshot_eval(split(100, 1), split(20, 2), fractions=(0.02, 0.1), k=20)
    assert list(rows) == ["2% labels", "10% labels"]
    for row in rows.values():
        assert row["knn_top1"] == 1.0 and row["knn_top1_std"] == 0.0
        assert row["linear_top1"] > 0.95
