"""The shared diagnostics of every contrastive loss, against a hand-computed similarity matrix."""

import math

import pytest
import torch
import torch.nn.functional as F

from ssl_app.losses.clip import cross_tower
from ssl_app.losses.pairs import contrastive_stats, pair_similarities


def test_stats_match_the_similarity_matrix_by_hand():
    torch.manual_seed(0)
    z1, z2 = torch.randn(3, 5), torch.randn(3, 5)
    pairs = pair_similarities(z1, z2, gather=False)
    rows = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = rows @ rows.T  # 6 x 6; row i's positive is (i + 3) mod 6, itself excluded
    positive = [(i + 3) % 6 for i in range(6)]
    negatives = [sim[i, j] for i in range(6) for j in range(6) if j not in (i, positive[i])]
    top1 = [max((j for j in range(6) if j != i), key=lambda j: sim[i, j]) for i in range(6)]
    loss = torch.tensor(1.25)

    stats = contrastive_stats(pairs, loss, torch.tensor(0.1), bounds_mi=True)

    assert torch.allclose(
        stats["pos_sim"], torch.stack([sim[i, positive[i]] for i in range(6)]).mean()
    )
    assert torch.allclose(stats["neg_sim"], torch.stack(negatives).mean())
    hits = sum(t == p for t, p in zip(top1, positive, strict=True))
    assert stats["pos_acc"].item() == pytest.approx(hits / 6)
    assert stats["num_negatives"].item() == 4  # 2N − 2
    assert math.isclose(stats["mi_bound"].item(), math.log(5) - 1.25, rel_tol=1e-6)


def test_cross_tower_excludes_half_the_columns_without_reading_the_mask():
    pairs = cross_tower(pair_similarities(torch.randn(4, 3), torch.randn(4, 3), gather=False))
    assert pairs.num_candidates == 4 == 8 - int(pairs.self_mask[0].sum())
