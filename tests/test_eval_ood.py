"""OOD scores: AUROC/FPR95 by hand, chunked scores vs brute force, an easy synthetic pair."""

import pytest
import torch
import torch.nn.functional as F

from ssl_app.eval import ood
from ssl_app.eval.ood import auroc_fpr95, ood_report, similarity_scores


@pytest.fixture(autouse=True)
def _one_thread():
    """Hundreds of tiny MLP steps: on a shared 2-core CPU thread hand-offs cost 5× the maths."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _clusters(centres: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(len(centres), (n,), generator=g)
    return F.normalize(centres[idx] + 0.15 * torch.randn(n, centres.shape[1], generator=g), dim=1)


def test_auroc_and_fpr95_by_hand():
    in_scores = torch.arange(1.0, 21.0)  # 20 in-distribution scores 1..20
    out_scores = torch.tensor([0.0, 1.5, 30.0, -1.0])
    result = auroc_fpr95(in_scores, out_scores)
    # pairs (in > out): 0.0 → 20, 1.5 → 19, 30 → 0, −1 → 20, of 80
    assert result["auroc"] == pytest.approx(59 / 80)
    # 5 % quantile of 1..20 is 1.95: only 30.0 is above it
    assert result["fpr95"] == pytest.approx(1 / 4)


def test_chunked_scores_match_brute_force(monkeypatch):
    monkeypatch.setattr(ood, "MAX_CHUNK_ELEMENTS", 50)
    bank, queries = F.normalize(torch.randn(40, 8), dim=1), F.normalize(torch.randn(13, 8), dim=1)
    top, energy = similarity_scores(bank, queries, 0.1)
    sim = queries @ bank.T
    torch.testing.assert_close(top, sim.max(1).values)
    torch.testing.assert_close(energy, 0.1 * torch.log(torch.exp(sim / 0.1).sum(1)))


def test_easy_synthetic_pair_is_separated_by_every_score():
    g = torch.Generator().manual_seed(0)
    centres = F.normalize(torch.randn(12, 16, generator=g), dim=1)
    in_centres, out_centres = centres[:6], centres[6:]
    bank, in_q = _clusters(in_centres, 1000, 1), _clusters(in_centres, 300, 2)
    out_q = _clusters(out_centres, 300, 3)
    report = ood_report(bank, in_q, out_q, temperature=0.1)
    assert set(report) == {"knn", "energy", "nce_ratio", "nce_density"}
    for name, values in report.items():
        assert values["auroc"] > 0.9, (name, values)
        assert 0 <= values["fpr95"] < 0.5, (name, values)
