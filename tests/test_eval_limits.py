"""End-of-run evaluation limits on digits: raw pixels skipped, L-BFGS replaced by the SGD head,
the confusion plot dropped and the online kNN capped above their sizes, each said in one line;
at or below the limits nothing changes."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from ssl_app.data.datamodule import ContrastiveDataModule
from ssl_app.errors import ConfigError
from ssl_app.eval.feature_set import FeatureSet
from ssl_app.eval.features import capped_loader, extract_features
from ssl_app.eval.knn import knn_top1
from ssl_app.eval.options import EvalOptions, LinearSGDOptions
from ssl_app.eval.protocols import Results, run_protocols
from ssl_app.eval.sources import cache_dir
from ssl_app.evaluate import skip_large_confusion
from ssl_app.models.checkpoint import BackboneSpec
from ssl_app.train.callbacks import OnlineKNN

DIGITS = 1437 + 360  # train + test


def said(capsys) -> list[str]:
    """The lines printed on stdout, without the phase lines (`✓ knn: ..., 0.3 s`)."""
    return [line for line in capsys.readouterr().out.splitlines() if not line.startswith("✓ ")]


@pytest.fixture(scope="module")
def digits() -> ContrastiveDataModule:
    with initialize_config_module("ssl_app.conf", version_base=None):
        data = compose("evaluate", overrides=["data=digits", "data.num_workers=0"]).data
    datamodule = ContrastiveDataModule(OmegaConf.to_object(data))
    datamodule.setup("validate")
    return datamodule


@pytest.fixture(scope="module")
def backbone() -> torch.nn.Module:
    return BackboneSpec("test_resnet", in_chans=1).random(0)


def test_raw_pixels_skipped_above_the_limit_and_kept_at_it(digits, capsys):
    raw = FeatureSet("raw pixels", None, digits)
    skipped = run_protocols([raw], ["knn"], EvalOptions(max_raw_pixel_images=DIGITS - 1))
    lines = said(capsys)
    assert skipped.rows == {}
    assert lines == [
        "raw pixels: skipped, 1,797 images > max_raw_pixel_images=1,796 "
        "(their features would take 0.0 GB)"
    ]
    kept = run_protocols([raw], ["knn"], EvalOptions(max_raw_pixel_images=DIGITS))
    assert said(capsys) == []
    assert kept.rows["raw pixels"]["knn_top1"] == pytest.approx(0.9528, abs=1e-3)  # README


def test_linear_probe_above_the_limit_is_the_sgd_head(digits, backbone, capsys):
    opts = EvalOptions(max_lbfgs_samples=1436, linear_sgd=LinearSGDOptions(epochs=1))
    learned = FeatureSet("learned", backbone, digits)
    rows = run_protocols([learned, FeatureSet("raw pixels", None, digits)], ["linear"], opts).rows
    assert said(capsys) == [
        "learned: the linear probe has 1,437 training images > max_lbfgs_samples=1,436 "
        "(L-BFGS on the CPU): the SGD linear head (linear_sgd) instead",
        "raw pixels: the linear probe has 1,437 training images > max_lbfgs_samples=1,436 "
        "(L-BFGS on the CPU): skipped",
    ]
    assert set(rows["learned"]) == {"split", "linear_sgd_top1", "linear_sgd_top5"}
    assert 0.1 < rows["learned"]["linear_sgd_top1"] <= 1 and rows["raw pixels"] == {"split": "test"}
    at_limit = run_protocols([learned], ["linear"], EvalOptions(max_lbfgs_samples=1437))
    assert "linear_top1" in at_limit.rows["learned"] and said(capsys) == []


def test_lowshot_linear_only_where_the_subset_fits(digits, capsys):
    opts = EvalOptions(lowshot_fractions=(0.01, 0.1), lowshot_seeds=(0,), max_lbfgs_samples=100)
    rows = run_protocols([FeatureSet("raw pixels", None, digits)], ["lowshot"], opts).rows
    assert "linear_top1" in rows["raw pixels, 1% labels"]  # 14 images
    assert "linear_top1" not in rows["raw pixels, 10% labels"]  # 144 images
    assert "knn_top1" in rows["raw pixels, 10% labels"]
    assert "10% low-shot has 144 training images" in capsys.readouterr().out


@pytest.mark.parametrize("classes,kept", [(10, True), (11, False)])
def test_confusion_plot_only_up_to_max_plot_classes(capsys, classes, kept):
    results = Results(confusion=torch.zeros(classes, classes))
    skip_large_confusion(results, max_classes=10)
    assert (results.confusion is not None) is kept
    out = capsys.readouterr().out
    assert out == (
        ""
        if kept
        else "confusion plot skipped: 11 classes > max_plot_classes=10 "
        "(a 11×11 image); per-class accuracy is in eval.json\n"
    )


def test_feature_cache_beside_the_results(tmp_path):
    assert cache_dir("auto", tmp_path) == tmp_path / "feature_cache"
    assert cache_dir(None, tmp_path) is None
    assert cache_dir("elsewhere", tmp_path) == Path("elsewhere")


def test_online_knn_cap_at_the_data_equals_uncapped(digits, backbone):
    trainer, module = SimpleNamespace(datamodule=digits), SimpleNamespace(backbone=backbone)
    bank, queries = digits.monitor_dataloaders()
    assert (len(bank.dataset), len(queries.dataset)) == (1149, 288)
    at_size = OnlineKNN(k=20, bank_max=1149, query_max=288).knn_top1(trainer, module)
    bank_feats = extract_features(backbone, bank, progress=False)
    query_feats = extract_features(backbone, queries, progress=False)
    assert at_size == knn_top1(*bank_feats, *query_feats, k=20, temperature=0.1)


def test_online_knn_cap_takes_a_seeded_subset_in_order(digits, backbone, capsys):
    bank = digits.monitor_dataloaders()[0]
    capped = capped_loader(bank, 500, seed=0)
    index = torch.tensor(capped.dataset.indices)
    assert len(index) == 500 and (index.diff() > 0).all()
    assert index.tolist() == capped_loader(bank, 500, seed=0).dataset.indices  # the same each time
    full, labels = extract_features(backbone, bank, progress=False)
    sub, sub_labels = extract_features(backbone, capped, progress=False)
    torch.testing.assert_close(sub, full[index])
    assert sub_labels.tolist() == labels[index].tolist()
    knn = OnlineKNN(bank_max=500, query_max=100)
    knn.loaders(digits)
    assert capsys.readouterr().out == (
        "online kNN: bank 500 of 1,149 training images, 100 of 288 validation queries (seeded "
        "subsets; eval.knn_bank_max=500, knn_query_max=100)\n"
    )


@pytest.mark.parametrize("key", ["max_raw_pixel_images", "max_lbfgs_samples"])
@pytest.mark.parametrize("value", [-1, 1.5, "many"])
def test_limits_must_be_counts(key, value):
    with pytest.raises(ConfigError, match=f"{key} must be an integer >= 0"):
        EvalOptions(**{key: value})


def test_online_knn_caps_must_be_positive():
    with pytest.raises(ConfigError, match="eval.knn_bank_max must be > 0"):
        OnlineKNN(bank_max=0)
