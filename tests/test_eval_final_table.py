"""The final table's one-line verdict: said when learned features lose to a baseline on a top-1
(never on the probe's C or the provenance)."""

from ssl_app.eval.final_table import verdict


def test_verdict_names_each_baseline_that_wins():
    rows = {
        "learned": {"split": "test", "knn_top1": 0.883, "linear_top1": 0.961, "linear_C": 0.1},
        "random init": {"split": "test", "knn_top1": 0.247, "linear_top1": 0.294, "linear_C": 1.0},
        "raw pixels": {"split": "test", "knn_top1": 0.953, "linear_top1": 0.969},
    }
    line = verdict(rows)
    assert line == (
        "note: the learned features do not beat raw pixels on knn (95.3 vs 88.3 %); "
        "raw pixels on linear (96.9 vs 96.1 %)"
    )


def test_no_verdict_when_learned_wins_everywhere():
    rows = {"learned": {"knn_top1": 0.97}, "raw pixels": {"knn_top1": 0.95}}
    assert verdict(rows) is None
