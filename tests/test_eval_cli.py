"""`ssl-eval` end to end on digits with a tiny checkpoint: rows accumulate in eval.json,
features come from the cache (in the run directory) the second time, report.md shows the
figures; every protocol of the registry runs; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import make_checkpoint
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

import ssl_app.eval.feature_set as feature_set
import ssl_app.eval.protocols as protocols
from ssl_app.errors import CheckpointError, ConfigError
from ssl_app.evaluate import evaluate

PROVENANCE = {"split", "checkpoint", "step"}

FAST = [
    "num_workers=0",
    "progress=false",
    "tsne_max_points=0",
    "knn.sweep_k=[10,20]",
    "knn.sweep_temperature=[0.1]",
]


@pytest.fixture(scope="module")
def hydra_conf():
    with initialize_config_module("ssl_app.conf", version_base=None):
        yield


def run(*overrides: str):
    return evaluate(compose("evaluate", overrides=[*FAST, *overrides]))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, hydra_conf) -> Path:
    run_dir = tmp_path_factory.mktemp("run")
    data = compose("evaluate", overrides=["data=digits"]).data
    data = OmegaConf.to_container(data, resolve=True)
    make_checkpoint(run_dir / "checkpoints" / "last.ckpt", seed=1, data=data)
    (run_dir / "metrics.csv").write_text("step,epoch,train/loss,lr\n0,0,5.0,0.1\n1,0,4.0,0.1\n")
    return run_dir


@pytest.mark.slow
def test_rows_accumulate_cache_hits_and_report(run_dir, monkeypatch):
    calls = []
    extract = feature_set.extract_features
    monkeypatch.setattr(feature_set, "extract_features", lambda *a: calls.append(1) or extract(*a))
    learned = run(f"run_dir={run_dir}", "protocol=knn")
    assert len(calls) == 2 and 0.1 < learned["rows"]["learned"]["knn_top1"] <= 1
    assert len(list((run_dir / "feature_cache").glob("*.pt"))) == 2  # cache_dir=auto
    again = run(f"run_dir={run_dir}", "protocol=linear", "linear.c_grid=[1.0]")
    assert len(calls) == 2  # train and test features both came from the cache
    assert set(again["rows"]["learned"]) >= {"knn_top1", "linear_top1", "linear_C"}
    run(f"run_dir={run_dir}", "checkpoint=random", "protocol=knn", "plots=false")
    run(f"run_dir={run_dir}", "checkpoint=raw", "protocol=linear", "cache_dir=null")
    assert len(calls) == 4  # random init: new weights (train + test); raw pixels: no backbone
    stored = json.loads((run_dir / "eval.json").read_text())["digits"]
    assert list(stored["rows"]) == ["learned", "random init", "raw pixels"]
    assert len(stored["knn_sweep"]["learned"]) == 2 + 2
    assert len(stored["knn_per_class_top1"]["learned"]) == 10
    report = (run_dir / "report.md").read_text()
    for png in ("training_curves.png", "embedding.png", "similarity.png", "confusion.png"):
        assert f"]({png})" in report and (run_dir / png).stat().st_size > 10_000


@pytest.mark.slow
def test_lowshot_and_ood_wiring(run_dir, monkeypatch):
    def fake_report(bank, inn, out, temperature):
        return {"knn": {"auroc": float(len(bank) == 1437 and len(inn) == len(out) == 360)}}

    monkeypatch.setattr(protocols, "ood_report", fake_report)
    common = [f"run_dir={run_dir}", "plots=false", "lowshot.seeds=[0,1]"]
    res = run(*common, "protocol=ood", "ood_data=digits")
    assert res["ood"]["learned"]["knn"]["auroc"] == 1.0
    assert res["rows"]["learned"]["ood_knn_auroc"] == 1.0
    res = run(*common, "protocol=lowshot", "linear.c_grid=[1.0]")
    row = res["rows"]["learned, 10% labels"]
    assert set(row) == {"knn_top1", "knn_top1_std", "linear_top1", "linear_top1_std", *PROVENANCE}
    assert row["split"] == "test" and row["step"] == 3
    assert row["checkpoint"] == str(run_dir / "checkpoints" / "last.ckpt")


@pytest.mark.parametrize(
    "overrides,error,match",
    [
        (["run_dir=/nonexistent"], CheckpointError, "has no checkpoints/last.ckpt"),
        (["checkpoint=random"], ConfigError, "checkpoint=random needs the architecture"),
        ([], ConfigError, "nothing to evaluate"),
        (["checkpoint=raw"], ConfigError, "pass data=<name>"),
        (["checkpoint=raw", "data=digits", "protocol=linear_sgd"], ConfigError, "raw pixels have"),
        (["checkpoint=raw", "data=digits", "protocol=ood"], ConfigError, "needs ood_data"),
        (["run_dir=/x", "weights=/y"], ConfigError, "give only one of"),
        (["weights=/nonexistent/model.safetensors"], CheckpointError, "does not exist"),
    ],
)
def test_bad_requests(hydra_conf, overrides, error, match):
    with pytest.raises(error, match=match):
        run(*overrides)


def test_protocol_all_expands_from_the_registry():
    assert protocols.expand("all", has_ood=False) == ["knn", "linear", "lowshot"]
    assert protocols.expand("all", has_ood=True) == ["knn", "linear", "lowshot", "ood"]
    assert all(protocols.expand(name, False) == [name] for name in protocols.PROTOCOLS)


def test_unknown_protocol_and_channel_mismatch(run_dir):
    known = "knn, linear, lowshot, ood, linear_sgd, all"
    with pytest.raises(ConfigError, match=f"unknown protocol 'foo'; choose one of: {known}"):
        run(f"run_dir={run_dir}", "protocol=foo", "cache_dir=null")
    with pytest.raises(ConfigError, match="has 3 channel"):
        run(f"run_dir={run_dir}", "data=synthetic", "cache_dir=null")
