"""The validation split: disjoint from the rest of train, stratified, stable; the online monitor
scores on it and never touches test."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import data_config

from ssl_app.data.datamodule import ContrastiveDataModule
from ssl_app.data.splits import validation_indices
from ssl_app.errors import ConfigError
from ssl_app.train.callbacks import OnlineKNN


def digits(**kwargs) -> ContrastiveDataModule:
    dm = ContrastiveDataModule(data_config("digits", 32, **kwargs), batch_size=8)
    dm.setup("fit")
    return dm


def test_validation_is_disjoint_stratified_and_covers_train():
    dm = digits(val_fraction=0.2)
    fit, val = dm._split("fit"), dm._split("val")
    assert not set(fit.indices) & set(val.indices)
    assert sorted(fit.indices + val.indices) == list(range(len(dm._split("train"))))
    assert len(val) == 288  # ceil(0.2 x 1,437), as scikit-learn rounds
    labels = dm._split("train").labels.numpy()
    val_counts = np.bincount(labels[val.indices], minlength=10)
    expected = 0.2 * np.bincount(labels, minlength=10)
    assert np.abs(val_counts - expected).max() <= 1


def test_validation_is_the_same_on_every_run_and_machine():
    labels = np.repeat(np.arange(4), 25)
    first, second = validation_indices(labels, 0.2), validation_indices(labels, 0.2)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    # The digits split is pinned: a change of seed, fraction or method shows up here.
    val = digits(val_fraction=0.2)._split("val").indices
    digest = hashlib.sha256(np.asarray(val, dtype=np.int64).tobytes()).hexdigest()[:16]
    assert digest == DIGITS_VAL_DIGEST


DIGITS_VAL_DIGEST = "9e3a2850623ca1bc"


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_fraction_out_of_range_is_a_config_error(fraction):
    with pytest.raises(ConfigError, match="val_fraction must be in"):
        digits(val_fraction=fraction).monitor_dataloaders()


def test_online_knn_scores_validation_and_never_reads_test(monkeypatch):
    dm = digits(val_fraction=0.2, eval_batch_size=512)
    original = dm._split

    def no_test(split):
        assert split != "test", "the online monitor read the test split"
        return original(split)

    monkeypatch.setattr(dm, "_split", no_test)
    monkeypatch.setattr(dm, "eval_dataloaders", lambda: pytest.fail("monitor used eval loaders"))
    seen = []
    backbone = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Identity())

    def spy(bank, bank_labels, queries, query_labels, k, temperature):
        seen.append((len(bank), len(queries)))
        return 1.0

    monkeypatch.setattr("ssl_app.train.callbacks.knn_top1", spy)
    OnlineKNN().knn_top1(SimpleNamespace(datamodule=dm), SimpleNamespace(backbone=backbone))
    assert seen == [(1437 - 288, 288)]


def test_classes_too_small_to_stratify_still_split():
    labels = np.array([0, 0, 0, 0, 1, 2, 3, 4, 5, 6])
    kept, val = validation_indices(labels, 0.2)
    assert len(val) == 2 and not set(kept) & set(val) and len(kept) + len(val) == 10
