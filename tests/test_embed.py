"""`ssl-embed` on CPU with a tiny checkpoint: rows in data-set order and unit length, names that
line up, a FAISS index that finds a folder image itself first, user errors in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest
import torch
from conftest import make_checkpoint
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf
from PIL import Image

from ssl_app.data import build_dataset, build_eval_transform, dataset_info
from ssl_app.embed import embed, nearest, print_neighbours, query_feature

FAST = ["num_workers=0", "progress=false", "device=cpu"]


@pytest.fixture(scope="module")
def hydra_conf():
    with initialize_config_module("ssl_app.conf", version_base=None):
        yield


def run(*overrides: str):
    return embed(compose("embed", overrides=[*FAST, *overrides]))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, hydra_conf) -> tuple[Path, torch.nn.Module]:
    """A digits run (1 channel, the data set's default size) and its backbone."""
    run_dir = tmp_path_factory.mktemp("run")
    data = compose("embed", overrides=["data=digits"]).data
    data = OmegaConf.to_container(data, resolve=True)
    backbone = make_checkpoint(run_dir / "checkpoints" / "last.ckpt", seed=1, data=data)
    return run_dir, backbone


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """An unlabelled folder (no class folders) of 12 small images of different sizes."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(12):
        pixels = rng.integers(0, 256, (30 + i, 40, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"img_{i:02d}.png")
    return root


def data_size() -> int:
    return compose("embed", overrides=["data=digits"]).data.image_size


def test_digits_rows_are_unit_features_in_data_set_order(run_dir, tmp_path):
    path, backbone = run_dir
    embedded, _, _ = run(f"run_dir={path}", f"out={tmp_path}")
    rows = np.load(tmp_path / "embeddings.npy")
    names = (tmp_path / "names.txt").read_text().splitlines()
    train = build_dataset("digits", "train")
    assert rows.shape == (len(train), backbone.num_features) and rows.dtype == np.float32
    assert names == [str(i) for i in range(len(train))]
    assert np.allclose(np.linalg.norm(rows, axis=1), 1, atol=1e-5)
    transform = build_eval_transform(data_size(), dataset_info("digits"))
    picks = [0, 7, len(train) - 1]
    with torch.no_grad():
        expected = backbone(torch.stack([transform(train[i][0]) for i in picks]))
    expected = torch.nn.functional.normalize(expected, dim=1).numpy()
    assert np.abs(rows[picks] - expected).max() < 1e-5
    assert not (tmp_path / "index.faiss").exists()


def test_unlabelled_folder_index_and_query(run_dir, folder, tmp_path, capsys):
    path, _ = run_dir
    folder_data = ["data=imagefolder", f"data.root={folder}", "data.image_size=32"]
    grey = "data.dataset_kwargs.channels=1"
    query = folder / "img_05.png"
    embedded, source, datamodule = run(
        f"run_dir={path}", *folder_data, grey, f"out={tmp_path}", "index=true"
    )
    names = (tmp_path / "names.txt").read_text().splitlines()
    assert names == [str(folder / f"img_{i:02d}.png") for i in range(12)]
    index = faiss.read_index(str(tmp_path / "index.faiss"))
    assert index.ntotal == 12 and np.load(tmp_path / "embeddings.npy").shape[0] == 12
    neighbours = nearest(embedded, query_feature(str(query), source, datamodule, "cpu"), k=3)
    assert neighbours[0][0] == str(query) and neighbours[0][1] == pytest.approx(1, abs=1e-4)
    assert [sim for _, sim in neighbours] == sorted((sim for _, sim in neighbours), reverse=True)
    sims, rows = index.search(embedded.features[5:6].numpy(), 1)
    assert rows[0][0] == 5
    print_neighbours(str(query), neighbours)
    assert "img_05.png" in capsys.readouterr().out


@pytest.mark.parametrize(
    "override,message",
    [
        ("query=/nowhere/cat.jpg", "query image '/nowhere/cat.jpg' does not exist"),
        ("data.root=/nowhere", "data.root '/nowhere' does not exist"),
    ],
)
def test_bad_paths_answer_in_one_line(run_dir, folder, tmp_path, override, message):
    path, _ = run_dir
    args = [f"run_dir={path}", "data=imagefolder", f"data.root={folder}", f"out={tmp_path}"]
    args += ["data.dataset_kwargs.channels=1", "data.image_size=32", "data.pin_memory=false"]
    args += [*FAST, override]
    cmd = [sys.executable, "-m", "ssl_app.embed", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(err) == 1 and message in err[0], done.stderr


def test_help_describes_the_command_with_examples():
    cmd = [sys.executable, "-m", "ssl_app.embed", "--help"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("ssl-embed: ")
    assert done.stdout.count("  ssl-embed ") >= 3
